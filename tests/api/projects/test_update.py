"""PATCH /projects/{id}: partial updates, revalidated; ETags and If-Match guard every write."""

import asyncio
from typing import Any

import httpx
import pytest

from tests.conftest import Keys
from tests.factories import PROJECTS as BASE
from tests.factories import create_project as create
from tests.factories import in_library, project_in


async def _patch(
    client: httpx.AsyncClient,
    headers: dict[str, str],
    project: dict[str, Any],
    body: dict[str, Any],
    etag: str | None = None,
) -> httpx.Response:
    extra = {"If-Match": etag if etag is not None else f'"{project["version"]}"'}
    return await client.patch(f"{BASE}/{project['id']}", json=body, headers={**headers, **extra})


class TestUpdateProject:
    async def test_region_changes_fields_and_version_moves(
        self, client: httpx.AsyncClient, keys: Keys
    ) -> None:
        region = await keys.region("440304")
        project = await create(client, region)
        response = await _patch(
            client, region, project, {"name": "Futian solar II", "financing_need": "20000000"}
        )
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["name"] == "Futian solar II"
        assert body["financing_need"] == "20000000.00"
        assert body["summary"] == project["summary"]
        assert body["version"] == 2
        assert response.headers["etag"] == '"2"'
        assert (await client.get(f"{BASE}/{project['id']}", headers=region)).json() == body

    async def test_get_sends_etag_of_version(self, client: httpx.AsyncClient, keys: Keys) -> None:
        region = await keys.region("440304")
        project = await create(client, region)
        response = await client.get(f"{BASE}/{project['id']}", headers=region)
        assert response.headers["etag"] == '"1"'

    async def test_missing_if_match_is_428(self, client: httpx.AsyncClient, keys: Keys) -> None:
        region = await keys.region("440304")
        project = await create(client, region)
        response = await client.patch(f"{BASE}/{project['id']}", json={"name": "x"}, headers=region)
        assert response.status_code == 428
        assert response.json()["code"] == "if_match_required"

    async def test_stale_if_match_is_412_and_changes_nothing(
        self, client: httpx.AsyncClient, keys: Keys
    ) -> None:
        region = await keys.region("440304")
        project = await create(client, region)
        assert (await _patch(client, region, project, {"name": "v2"})).status_code == 200
        stale = await _patch(client, region, project, {"name": "v3"}, etag='"1"')
        assert stale.status_code == 412
        assert stale.json()["code"] == "stale_etag"
        assert stale.headers["etag"] == '"2"'
        now = (await client.get(f"{BASE}/{project['id']}", headers=region)).json()
        assert now["name"] == "v2" and now["version"] == 2

    async def test_weak_etag_and_star_are_accepted(
        self, client: httpx.AsyncClient, keys: Keys
    ) -> None:
        region = await keys.region("440304")
        project = await create(client, region)
        assert (await _patch(client, region, project, {"name": "a"}, 'W/"1"')).status_code == 200
        assert (await _patch(client, region, project, {"name": "b"}, "*")).status_code == 200

    async def test_ten_concurrent_edits_with_one_etag_one_wins(
        self, client: httpx.AsyncClient, keys: Keys
    ) -> None:
        region = await keys.region("440304")
        project = await create(client, region)
        answers = await asyncio.gather(
            *(_patch(client, region, project, {"name": f"edit {i}"}, '"1"') for i in range(10))
        )
        statuses = sorted(a.status_code for a in answers)
        assert statuses == [200] + [412] * 9
        winner = next(a for a in answers if a.status_code == 200).json()
        now = (await client.get(f"{BASE}/{project['id']}", headers=region)).json()
        assert now["name"] == winner["name"] and now["version"] == 2
        assert all(a.json()["code"] == "stale_etag" for a in answers if a.status_code == 412)

    async def test_patch_is_revalidated_as_a_whole(
        self, client: httpx.AsyncClient, keys: Keys
    ) -> None:
        region = await keys.region("440304")
        project = await create(client, region)
        response = await _patch(client, region, project, {"total_investment": "1000.00"})
        assert response.status_code == 422
        assert response.json()["errors"][0]["code"] == "need_exceeds_investment"
        assert response.json()["errors"][0]["loc"] == ["body", "financing_need"]

    async def test_null_for_a_required_field_is_refused(
        self, client: httpx.AsyncClient, keys: Keys
    ) -> None:
        region = await keys.region("440304")
        project = await create(client, region)
        response = await _patch(client, region, project, {"name": None})
        assert response.status_code == 422
        assert response.json()["errors"][0]["loc"] == ["body", "name"]

    async def test_unknown_field_is_refused(self, client: httpx.AsyncClient, keys: Keys) -> None:
        region = await keys.region("440304")
        project = await create(client, region)
        response = await _patch(client, region, project, {"library_code": "CIF-x"})
        assert response.status_code == 422
        assert response.json()["errors"][0]["code"] == "unknown_field"

    async def test_moving_out_of_scope_is_refused(
        self, client: httpx.AsyncClient, keys: Keys
    ) -> None:
        region = await keys.region("440304")
        project = await create(client, region)
        response = await _patch(client, region, project, {"region_code": "440305"})
        assert response.status_code == 422
        assert response.json()["errors"][0]["code"] == "region_out_of_scope"

    @pytest.mark.parametrize("status", ["submitted", "recommended", "rejected", "withdrawn"])
    async def test_projects_under_review_or_closed_are_not_editable(
        self, client: httpx.AsyncClient, keys: Keys, status: str
    ) -> None:
        region = await keys.region("440304")
        project = await project_in(client, keys, status, region)
        response = await _patch(client, region, project, {"name": "x"})
        assert response.status_code == 409
        assert response.json()["code"] == "not_editable"

    async def test_returned_project_is_editable_and_resubmittable(
        self, client: httpx.AsyncClient, keys: Keys
    ) -> None:
        region = await keys.region("440304")
        project = await project_in(client, keys, "returned", region)
        response = await _patch(client, region, project, {"baseline": "Grid factor 0.5703"})
        assert response.status_code == 200
        assert response.json()["status"] == "returned"


class TestUpdateInLibrary:
    async def test_progress_fields_change_in_place(
        self, client: httpx.AsyncClient, keys: Keys
    ) -> None:
        region = await keys.region("440304")
        project = await in_library(client, keys, region)
        response = await _patch(
            client,
            region,
            project,
            {
                "construction_status": "under_construction",
                "financing_secured": "5000000.00",
                "contact": {"name": "Wang Fang", "phone": "13800000000"},
                "end_date": "2028-12-31",
            },
        )
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["status"] == "in_library"
        assert body["library_code"] == project["library_code"]
        assert body["financing_secured"] == "5000000.00"
        assert body["contact"]["name"] == "Wang Fang"

    async def test_screening_change_opens_a_revision_and_stays_in_library(
        self, client: httpx.AsyncClient, keys: Keys
    ) -> None:
        region = await keys.region("440304")
        project = await in_library(client, keys, region)
        response = await _patch(client, region, project, {"financing_need": "20000000.00"})
        assert response.status_code == 202, response.text
        revision = response.json()
        assert revision["status"] == "submitted"
        assert revision["fields"] == {"financing_need": "20000000.00"}
        history = (await client.get(f"{BASE}/{project['id']}/history", headers=region)).json()[
            "items"
        ]
        assert history[-1]["action"] == "revision_open"
        assert history[-1]["from_status"] == history[-1]["to_status"] == "in_library"
        assert "financing_need" in history[-1]["reason"]
        public = await client.get(f"{BASE}/{project['id']}")
        assert public.status_code == 200
        assert public.json()["status"] == "in_library"
        assert public.json()["financing_need"] == project["financing_need"]

    async def test_sending_unchanged_screening_values_keeps_it_in_library(
        self, client: httpx.AsyncClient, keys: Keys
    ) -> None:
        region = await keys.region("440304")
        project = await in_library(client, keys, region)
        response = await _patch(client, region, project, {"name": project["name"]})
        assert response.status_code == 200
        assert response.json()["status"] == "in_library"
        assert response.json()["version"] == project["version"]

    async def test_change_into_two_high_new_build_is_refused(
        self, client: httpx.AsyncClient, keys: Keys
    ) -> None:
        region = await keys.region("440304")
        project = await in_library(client, keys, region)
        # A new coal plant (a new build under M2 in D4411 burning coal): 两高, no transition.
        change = {"industry_code": "D4411", "fuel": "coal"}
        response = await _patch(client, region, project, change)
        assert response.status_code == 422
        assert response.json()["code"] == "two_high_refused"
        assert response.json()["rule_id"] == "two_high.refused_no_transition_category"
        now = (await client.get(f"{BASE}/{project['id']}", headers=region)).json()
        assert now["status"] == "in_library" and now["industry_code"] == "D4416"
