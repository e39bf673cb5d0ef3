"""exit (出库) states why; a region cannot find a project non-compliant; a project with open
offers stays; an exited project stays a public record with its public fields only."""

from typing import Any

import httpx
import pytest

from tests.conftest import Keys
from tests.factories import PROJECTS as BASE
from tests.factories import in_library, institution, product, project_payload


async def _exit(
    client: httpx.AsyncClient, headers: dict[str, str], project: dict[str, Any], **body: Any
) -> httpx.Response:
    current = await client.get(f"{BASE}/{project['id']}", headers=headers)
    return await client.post(
        f"{BASE}/{project['id']}/transitions",
        json={"action": "exit", **body},
        headers={**headers, "If-Match": current.headers["etag"]},
    )


async def _status(client: httpx.AsyncClient, keys: Keys, project: dict[str, Any]) -> str:
    got = await client.get(f"{BASE}/{project['id']}", headers=await keys.admin())
    return str(got.json()["status"])


class TestExitReasons:
    async def test_without_reason_code_is_422_and_nothing_changes(
        self, client: httpx.AsyncClient, keys: Keys
    ) -> None:
        region = await keys.region("440304")
        project = await in_library(client, keys, region)
        response = await _exit(client, region, project, reason="建成投产")
        assert response.status_code == 422
        assert response.headers["content-type"] == "application/problem+json"
        assert response.json()["code"] == "reason_code_required"
        assert response.json()["errors"][0]["loc"] == ["body", "reason_code"]
        unknown = await _exit(client, region, project, reason_code="finished")
        assert unknown.status_code == 422
        assert await _status(client, keys, project) == "in_library"

    @pytest.mark.parametrize("code", ["completed", "financing_fulfilled", "cancelled"])
    async def test_the_region_exits_with_a_reason(
        self, client: httpx.AsyncClient, keys: Keys, code: str
    ) -> None:
        region = await keys.region("440304")
        project = await in_library(client, keys, region)
        response = await _exit(client, region, project, reason_code=code)
        assert response.status_code == 200, response.text
        assert response.json()["status"] == "exited"
        assert response.json()["exit_reason"] == code
        history = (await client.get(f"{BASE}/{project['id']}/history", headers=region)).json()
        last = history["items"][-1]
        assert (last["action"], last["from_status"], last["to_status"]) == (
            "exit",
            "in_library",
            "exited",
        )
        assert last["reason"] == code  # no words given: the code says why

    async def test_non_compliant_is_the_administrators_call(
        self, client: httpx.AsyncClient, keys: Keys
    ) -> None:
        region = await keys.region("440304")
        project = await in_library(client, keys, region)
        refused = await _exit(client, region, project, reason_code="non_compliant")
        assert refused.status_code == 403
        assert refused.json()["code"] == "exit_reason_admin_only"
        assert await _status(client, keys, project) == "in_library"
        admin = await keys.admin()
        done = await _exit(client, admin, project, reason_code="non_compliant", reason="虚报减排量")
        assert done.status_code == 200, done.text
        assert done.json()["exit_reason"] == "non_compliant"

    async def test_open_offers_keep_the_project_in_the_library(
        self, client: httpx.AsyncClient, keys: Keys
    ) -> None:
        region = await keys.region("440304")
        project = await in_library(client, keys, region)
        _, bank = await institution(client, keys)
        loan = await product(client, bank)
        offer = await client.post(
            "/api/v1/engagements",
            json={
                "project_id": project["id"],
                "product_id": loan["id"],
                "amount": "1000000.00",
                "annual_rate": "3.2",
                "tenor_months": 24,
            },
            headers=bank,
        )
        assert offer.status_code == 201, offer.text
        steps = f"/api/v1/engagements/{offer.json()['id']}/transitions"
        assert (await client.post(steps, json={"action": "accept"}, headers=region)).is_success

        refused = await _exit(client, region, project, reason_code="completed")
        assert refused.status_code == 409
        assert refused.json()["code"] == "open_offers"
        assert await _status(client, keys, project) == "in_library"

        declined = await client.post(steps, json={"action": "decline"}, headers=region)
        assert declined.status_code == 200
        assert (await _exit(client, region, project, reason_code="completed")).status_code == 200

    async def test_reason_code_belongs_to_exit_only(
        self, client: httpx.AsyncClient, keys: Keys
    ) -> None:
        region = await keys.region("440304")
        draft = (await client.post(BASE, json=project_payload(), headers=region)).json()
        response = await client.post(
            f"{BASE}/{draft['id']}/transitions",
            json={"action": "submit", "reason_code": "completed"},
            headers={**region, "If-Match": f'"{draft["version"]}"'},
        )
        assert response.status_code == 422
        assert response.json()["code"] == "reason_code_not_applicable"


class TestExitedProjectsArePublic:
    async def test_public_reads_an_exited_project_without_private_fields(
        self, client: httpx.AsyncClient, keys: Keys
    ) -> None:
        region = await keys.region("440304")
        project = await in_library(client, keys, region, name="出库项目")
        staying = await in_library(client, keys, region, name="在库项目")
        assert (await _exit(client, region, project, reason_code="completed")).status_code == 200

        for headers in ({}, await keys.region("330100"), await _bank(client, keys)):
            got = await client.get(f"{BASE}/{project['id']}", headers=headers)
            assert got.status_code == 200, got.text
            body = got.json()
            assert body["status"] == "exited" and body["exit_reason"] == "completed"
            assert body["contact"] is None
            assert body["library_code"] == project["library_code"]

        exited = (await client.get(BASE, params={"status": "exited"})).json()["items"]
        assert [p["id"] for p in exited] == [project["id"]]
        assert exited[0]["contact"] is None
        # The public list shows every public record, the exited one with its final status.
        listed = {p["id"]: p["status"] for p in (await client.get(BASE)).json()["items"]}
        assert listed == {project["id"]: "exited", staying["id"]: "in_library"}
        library = (await client.get(BASE, params={"status": "in_library"})).json()["items"]
        assert [p["id"] for p in library] == [staying["id"]]

    async def test_an_exited_project_takes_no_offer(
        self, client: httpx.AsyncClient, keys: Keys
    ) -> None:
        region = await keys.region("440304")
        project = await in_library(client, keys, region)
        assert (await _exit(client, region, project, reason_code="completed")).status_code == 200
        _, bank = await institution(client, keys)
        loan = await product(client, bank)
        offer = await client.post(
            "/api/v1/engagements",
            json={
                "project_id": project["id"],
                "product_id": loan["id"],
                "amount": "1000000.00",
                "annual_rate": "3.2",
                "tenor_months": 24,
            },
            headers=bank,
        )
        assert offer.status_code == 404


async def _bank(client: httpx.AsyncClient, keys: Keys) -> dict[str, str]:
    return (await institution(client, keys, name="观察银行"))[1]
