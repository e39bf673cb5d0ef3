"""POST /projects/{id}/transitions and GET /projects/{id}/history: the 入库流程."""

import asyncio
import re
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from tests.conftest import Keys
from tests.factories import PROJECTS as BASE
from tests.factories import create_project as create
from tests.factories import in_library, project_in
from tests.factories import move_project as move


async def _transition(
    client: httpx.AsyncClient,
    headers: dict[str, str],
    project: dict[str, Any],
    action: str,
    reason: str | None = None,
    etag: str | None = None,
) -> httpx.Response:
    body: dict[str, Any] = {"action": action}
    if reason is not None:
        body["reason"] = reason
    return await client.post(
        f"{BASE}/{project['id']}/transitions",
        json=body,
        headers={**headers, "If-Match": etag or f'"{project["version"]}"'},
    )


class TestTransitions:
    async def test_full_path_into_the_library_and_out(
        self, client: httpx.AsyncClient, keys: Keys
    ) -> None:
        region, reviewer, admin = (
            await keys.region("440304"),
            await keys.reviewer("44"),
            await keys.admin(),
        )
        project = await create(client, region)
        project = await move(client, region, project, "submit")
        assert project["status"] == "submitted"
        project = await move(client, reviewer, project, "recommend")
        assert project["status"] == "recommended"
        project = await move(client, admin, project, "approve")
        assert project["status"] == "in_library"
        year = datetime.now(UTC).year
        assert project["library_code"] == f"CIF-440304-{year}-00001"
        assert project["approved_at"] is not None
        public = await client.get(f"{BASE}/{project['id']}")
        assert public.status_code == 200 and public.json()["contact"] is None
        project = await move(client, region, project, "exit", reason_code="completed")
        assert project["status"] == "exited" and project["exit_reason"] == "completed"
        # An exited project stays a public record, with its public fields only.
        public = await client.get(f"{BASE}/{project['id']}")
        assert public.status_code == 200
        assert public.json()["status"] == "exited" and public.json()["contact"] is None

    async def test_history_keeps_every_step(self, client: httpx.AsyncClient, keys: Keys) -> None:
        region = await keys.region("440304")
        project = await project_in(client, keys, "returned", region)
        project = await move(client, region, project, "submit")
        history = (await client.get(f"{BASE}/{project['id']}/history", headers=region)).json()[
            "items"
        ]
        assert [(h["action"], h["from_status"], h["to_status"]) for h in history] == [
            ("create", None, "draft"),
            ("submit", "draft", "submitted"),
            ("return", "submitted", "returned"),
            ("submit", "returned", "submitted"),
        ]
        assert history[2]["reason"] == "Because."
        assert history[2]["actor_role"] == "reviewer" and history[2]["actor_scope"] == "44"
        assert all(h["at"] for h in history)

    async def test_reviewer_sees_a_withdrawn_project_only_if_it_was_submitted(
        self, client: httpx.AsyncClient, keys: Keys
    ) -> None:
        region, reviewer = await keys.region("440304"), await keys.reviewer("44")
        never = await move(client, region, await create(client, region), "withdraw")
        once = await project_in(client, keys, "returned", region)
        once = await move(client, region, once, "withdraw")
        assert (await client.get(f"{BASE}/{never['id']}", headers=reviewer)).status_code == 404
        seen = await client.get(f"{BASE}/{once['id']}", headers=reviewer)
        assert seen.status_code == 200 and seen.json()["status"] == "withdrawn"
        listed = await client.get(BASE, params={"status": "withdrawn"}, headers=reviewer)
        assert [p["id"] for p in listed.json()["items"]] == [once["id"]]

    @pytest.mark.parametrize("action", ["return", "reject"])
    async def test_return_and_reject_need_a_reason(
        self, client: httpx.AsyncClient, keys: Keys, action: str
    ) -> None:
        region = await keys.region("440304")
        project = await project_in(client, keys, "submitted", region)
        reviewer = await keys.reviewer("44")
        for reason in (None, "   "):
            response = await _transition(client, reviewer, project, action, reason)
            assert response.status_code == 422
            assert response.json()["code"] == "reason_required"
            assert response.json()["errors"][0]["loc"] == ["body", "reason"]

    async def test_admin_returns_a_recommended_project(
        self, client: httpx.AsyncClient, keys: Keys
    ) -> None:
        project = await project_in(client, keys, "recommended", await keys.region("440304"))
        response = await _transition(client, await keys.admin(), project, "return", "Fix it.")
        assert response.status_code == 200 and response.json()["status"] == "returned"

    async def test_reviewer_cannot_reject_a_recommended_project(
        self, client: httpx.AsyncClient, keys: Keys
    ) -> None:
        project = await project_in(client, keys, "recommended", await keys.region("440304"))
        response = await _transition(client, await keys.reviewer("44"), project, "reject", "No.")
        assert response.status_code == 403
        assert response.json()["code"] == "transition_not_allowed"

    async def test_invalid_action_from_state_names_the_allowed_ones(
        self, client: httpx.AsyncClient, keys: Keys
    ) -> None:
        project = await create(client, await keys.region("440304"))
        response = await _transition(client, await keys.admin(), project, "approve")
        assert response.status_code == 409
        assert response.json()["code"] == "invalid_transition"
        assert response.json()["allowed_actions"] == ["submit", "withdraw"]

    async def test_rejected_is_final(self, client: httpx.AsyncClient, keys: Keys) -> None:
        region = await keys.region("440304")
        project = await project_in(client, keys, "rejected", region)
        response = await _transition(client, region, project, "submit")
        assert response.status_code == 409
        assert response.json()["allowed_actions"] == []

    async def test_unknown_action_is_422(self, client: httpx.AsyncClient, keys: Keys) -> None:
        region = await keys.region("440304")
        project = await create(client, region)
        response = await _transition(client, region, project, "publish")
        assert response.status_code == 422

    async def test_transition_needs_if_match(self, client: httpx.AsyncClient, keys: Keys) -> None:
        region = await keys.region("440304")
        project = await create(client, region)
        response = await client.post(
            f"{BASE}/{project['id']}/transitions", json={"action": "submit"}, headers=region
        )
        assert response.status_code == 428

    async def test_stale_if_match_is_412_and_changes_nothing(
        self, client: httpx.AsyncClient, keys: Keys
    ) -> None:
        region = await keys.region("440304")
        project = await create(client, region)
        response = await _transition(client, region, project, "submit", etag='"7"')
        assert response.status_code == 412
        now = (await client.get(f"{BASE}/{project['id']}", headers=region)).json()
        assert now["status"] == "draft" and now["version"] == 1


class TestLibraryCode:
    async def test_codes_are_sequential_per_region(
        self, client: httpx.AsyncClient, keys: Keys
    ) -> None:
        futian = await keys.region("440304")
        luohu = await keys.region("440303")
        a = await in_library(client, keys, futian)
        b = await in_library(client, keys, luohu, region_code="440303")
        c = await in_library(client, keys, futian)
        year = datetime.now(UTC).year
        assert a["library_code"] == f"CIF-440304-{year}-00001"
        assert b["library_code"] == f"CIF-440303-{year}-00001"
        assert c["library_code"] == f"CIF-440304-{year}-00002"

    async def test_concurrent_approvals_get_distinct_gap_free_codes(
        self, client: httpx.AsyncClient, keys: Keys
    ) -> None:
        region = await keys.region("440304")
        admin = await keys.admin()
        projects = [await project_in(client, keys, "recommended", region) for _ in range(8)]
        answers = await asyncio.gather(
            *(_transition(client, admin, p, "approve") for p in projects)
        )
        assert [a.status_code for a in answers] == [200] * 8
        numbers = sorted(
            int(re.fullmatch(r"CIF-440304-\d{4}-(\d{5})", a.json()["library_code"])[1])  # type: ignore[index]
            for a in answers
        )
        assert numbers == list(range(1, 9))

    async def test_racing_approvals_of_one_project_leave_no_gap(
        self, client: httpx.AsyncClient, keys: Keys
    ) -> None:
        region = await keys.region("440304")
        admin = await keys.admin()
        project = await project_in(client, keys, "recommended", region)
        answers = await asyncio.gather(
            *(_transition(client, admin, project, "approve") for _ in range(5))
        )
        assert sorted(a.status_code for a in answers).count(200) == 1
        assert all(a.status_code in (200, 409, 412) for a in answers)
        other = await in_library(client, keys, region)
        assert other["library_code"].endswith("-00002")

    async def test_an_approved_revision_keeps_the_code(
        self, client: httpx.AsyncClient, keys: Keys
    ) -> None:
        region = await keys.region("440304")
        project = await in_library(client, keys, region)
        code = project["library_code"]
        response = await client.patch(
            f"{BASE}/{project['id']}",
            json={"tenor_months": 60},
            headers={**region, "If-Match": f'"{project["version"]}"'},
        )
        assert response.status_code == 202, response.text
        url = f"{BASE}/{project['id']}/revisions/{response.json()['id']}"
        step = await client.post(f"{url}/recommend", json={}, headers=await keys.reviewer("44"))
        assert step.status_code == 200, step.text
        step = await client.post(f"{url}/approve", json={}, headers=await keys.admin())
        assert step.status_code == 200, step.text
        project = (await client.get(f"{BASE}/{project['id']}", headers=region)).json()
        assert (project["library_code"], project["tenor_months"]) == (code, 60)


class TestHistoryPages:
    async def test_history_pages_in_order_without_gaps(
        self, client: httpx.AsyncClient, keys: Keys
    ) -> None:
        region = await keys.region("440304")
        project = await project_in(client, keys, "returned", region)
        project = await move(client, region, project, "submit")
        url = f"{BASE}/{project['id']}/history"
        whole = (await client.get(url, headers=region)).json()
        assert whole["next_cursor"] is None
        paged, cursor = [], None
        while True:
            params = {"limit": 1} | ({"cursor": cursor} if cursor else {})
            page = (await client.get(url, params=params, headers=region)).json()
            paged += page["items"]
            if not (cursor := page["next_cursor"]):
                break
        assert paged == whole["items"]
        assert len(paged) == 4
