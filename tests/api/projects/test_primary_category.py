"""primary_category: the category the statistics attribute a project to, stated by the region,
the first listed by default, always one of the project's categories."""

from typing import Any

import httpx

from tests.conftest import Keys
from tests.factories import PROJECTS as BASE
from tests.factories import create_project, project_payload

BOTH = {
    "objective": "both",
    "adaptation_beneficiaries": 500,
    "adaptation_benefit": "防洪排涝能力提升。",
}


async def _patch(
    client: httpx.AsyncClient, headers: dict[str, str], project: dict[str, Any], **body: Any
) -> httpx.Response:
    return await client.patch(
        f"{BASE}/{project['id']}",
        json=body,
        headers={**headers, "If-Match": f'"{project["version"]}"'},
    )


class TestPrimaryCategory:
    async def test_defaults_to_the_first_listed(
        self, client: httpx.AsyncClient, keys: Keys
    ) -> None:
        region = await keys.region("440304")
        project = await create_project(client, region, categories=["A1", "M2"], **BOTH)
        assert project["primary_category"] == "A1"  # listed first, though M2 comes first in M…A
        assert project["categories"] == ["M2", "A1"]

    async def test_stated_one_is_kept(self, client: httpx.AsyncClient, keys: Keys) -> None:
        region = await keys.region("440304")
        project = await create_project(
            client, region, categories=["M2", "A1"], primary_category="A1", **BOTH
        )
        assert project["primary_category"] == "A1"
        got = await client.get(f"{BASE}/{project['id']}")
        assert got.status_code == 404  # a draft; the region reads it
        mine = (await client.get(f"{BASE}/{project['id']}", headers=region)).json()
        assert mine["primary_category"] == "A1"

    async def test_one_not_listed_is_422_and_nothing_is_stored(
        self, client: httpx.AsyncClient, keys: Keys
    ) -> None:
        region = await keys.region("440304")
        body = project_payload(categories=["M2"], primary_category="M3", external_ref="P-X")
        response = await client.post(BASE, json=body, headers=region)
        assert response.status_code == 422
        assert response.json()["errors"][0]["code"] == "primary_category_not_listed"
        assert response.json()["errors"][0]["loc"] == ["body", "primary_category"]
        listed = (await client.get(BASE, headers=region)).json()["items"]
        assert listed == []
        unknown = await client.post(
            BASE, json=project_payload(primary_category="M9"), headers=region
        )
        assert unknown.status_code == 422

    async def test_patch_keeps_it_while_listed_and_defaults_again_when_dropped(
        self, client: httpx.AsyncClient, keys: Keys
    ) -> None:
        region = await keys.region("440304")
        project = await create_project(client, region, categories=["M2", "M3"])
        assert project["primary_category"] == "M2"
        kept = await _patch(client, region, project, categories=["M3", "M2"])
        assert kept.status_code == 200 and kept.json()["primary_category"] == "M2"
        dropped = await _patch(client, region, kept.json(), categories=["M3", "M1"])
        assert dropped.status_code == 200 and dropped.json()["primary_category"] == "M3"
        stated = await _patch(client, region, dropped.json(), primary_category="M1")
        assert stated.status_code == 200 and stated.json()["primary_category"] == "M1"
        refused = await _patch(client, region, stated.json(), primary_category="M2")
        assert refused.status_code == 422
        assert refused.json()["errors"][0]["code"] == "primary_category_not_listed"


class TestPrimaryCategoryInBatches:
    async def test_a_full_record_keeps_the_stored_one_unless_it_states_another(
        self, client: httpx.AsyncClient, keys: Keys
    ) -> None:
        region = await keys.region("440304")
        url = f"{BASE}/batch"

        async def send(**fields: Any) -> dict[str, Any]:
            item = project_payload(external_ref="B-1", **fields)
            response = await client.post(url, json={"items": [item]}, headers=region)
            assert response.status_code == 200, response.text
            result: dict[str, Any] = response.json()["results"][0]
            return result

        assert (await send(categories=["M3", "M2"]))["status"] == "created"
        got = (await client.get(BASE, headers=region)).json()["items"][0]
        assert got["primary_category"] == "M3"
        # The same categories in another order, no primary stated: nothing changed.
        assert (await send(categories=["M2", "M3"]))["status"] == "unchanged"
        stated = await send(categories=["M2", "M3"], primary_category="M2")
        assert stated["status"] == "updated"
        got = (await client.get(BASE, headers=region)).json()["items"][0]
        assert got["primary_category"] == "M2"
        dropped = await send(categories=["M1", "M3"])
        assert dropped["status"] == "updated"
        got = (await client.get(BASE, headers=region)).json()["items"][0]
        assert got["primary_category"] == "M1"
        refused = await send(categories=["M1"], primary_category="M3")
        assert refused["status"] == "error"
