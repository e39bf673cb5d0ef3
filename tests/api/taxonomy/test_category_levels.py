"""Second-level categories (docs/architecture.md, *The taxonomy and external classifications*):
whatever /taxonomy serves a project accepts, a second-level code implies its parent in filters and
figures, and a parent beside its own child is refused. Projects carry the taxonomy version they were
classified under."""

import csv
import io
from typing import Any

import httpx
from fastapi import FastAPI

from app.models.project import Objective, ProjectStatus
from app.services.tabular import IMPORT_COLUMNS
from tests.conftest import Keys
from tests.factories import PROJECTS, create_project, library_project
from tests.factories import project_payload as payload

STATS = "/api/v1/stats/overview"
ADAPTS: dict[str, Any] = {"adaptation_beneficiaries": 5000, "adaptation_benefit": "防洪排涝"}


def _codes(response: httpx.Response) -> dict[str, list[str | int]]:
    return {e["code"]: e["loc"] for e in response.json()["errors"]}


def _served_codes(taxonomy: dict[str, Any]) -> list[str]:
    return [
        code
        for entry in taxonomy["categories"]
        for code in (entry["code"], *(c["code"] for c in entry["children"]))
    ]


class TestSecondLevelAccepted:
    async def test_every_served_code_is_accepted_and_answered_as_stated(
        self, client: httpx.AsyncClient, keys: Keys
    ) -> None:
        region = await keys.region("440304")
        taxonomy = (await client.get("/api/v1/taxonomy")).json()
        served = _served_codes(taxonomy)
        assert {"M2.1", "M2.8"} <= set(served)
        checks = 0
        for code in served:
            objective = "mitigation" if code.startswith("M") else "adaptation"
            body = payload(categories=[code], objective=objective)
            if objective == "adaptation":
                body.update(annual_emission_reduction_tco2e=None, **ADAPTS)
            response = await client.post(PROJECTS, json=body, headers=region)
            assert response.status_code == 201, (code, response.text)
            assert response.json()["categories"] == [code]
            assert response.json()["taxonomy_version"] == taxonomy["version"]
            checks += 1
        assert checks == len(served) == 21

    async def test_solar_with_disaster_relief_and_patch_to_wind(
        self, client: httpx.AsyncClient, keys: Keys
    ) -> None:
        region = await keys.region("440304")
        project = await create_project(
            client,
            region,
            objective="both",
            categories=["M2.1", "A6"],
            **ADAPTS,
        )
        assert sorted(project["categories"]) == ["A6", "M2.1"]
        assert project["taxonomy_version"] == "2026.1"
        patched = await client.patch(
            f"{PROJECTS}/{project['id']}",
            json={"categories": ["M2.2", "A6"]},
            headers={**region, "If-Match": f'"{project["version"]}"'},
        )
        assert patched.status_code == 200, patched.text
        assert sorted(patched.json()["categories"]) == ["A6", "M2.2"]
        again = await client.get(f"{PROJECTS}/{project['id']}", headers=region)
        assert sorted(again.json()["categories"]) == ["A6", "M2.2"]
        assert again.json()["taxonomy_version"] == "2026.1"

    async def test_parent_with_its_own_child_is_redundant_and_nothing_is_stored(
        self, client: httpx.AsyncClient, keys: Keys
    ) -> None:
        region = await keys.region("440304")
        response = await client.post(
            PROJECTS, json=payload(categories=["M2", "M2.1"]), headers=region
        )
        assert response.status_code == 422
        assert response.headers["content-type"].startswith("application/problem+json")
        assert _codes(response)["redundant_category"] == ["body", "categories", 1]
        listed = await client.get(PROJECTS, headers=region)
        assert listed.json()["items"] == []
        # two children of one parent are no redundancy
        both = await client.post(
            PROJECTS, json=payload(categories=["M2.1", "M2.7"]), headers=region
        )
        assert both.status_code == 201, both.text

    async def test_second_level_code_serves_its_parents_objective(
        self, client: httpx.AsyncClient, keys: Keys
    ) -> None:
        region = await keys.region("440304")
        response = await client.post(
            PROJECTS,
            json=payload(
                objective="adaptation",
                categories=["M2.1"],
                annual_emission_reduction_tco2e=None,
                **ADAPTS,
            ),
            headers=region,
        )
        assert response.status_code == 422
        assert "category_objective_mismatch" in _codes(response)

    async def test_unknown_code_is_refused(self, client: httpx.AsyncClient, keys: Keys) -> None:
        region = await keys.region("440304")
        response = await client.post(PROJECTS, json=payload(categories=["M2.9"]), headers=region)
        assert response.status_code == 422

    async def test_batch_and_import_accept_second_level_codes(
        self, client: httpx.AsyncClient, keys: Keys
    ) -> None:
        region = await keys.region("440304")
        items = [
            payload(external_ref="B-1", categories=["M2.3"]),
            payload(external_ref="B-2", categories=["M2", "M2.3"]),
        ]
        batch = await client.post(f"{PROJECTS}/batch", json={"items": items}, headers=region)
        assert batch.status_code == 200, batch.text
        first, second = batch.json()["results"]
        assert first["status"] == "created"
        assert second["status"] == "error"
        assert second["problem"]["errors"][0]["code"] == "redundant_category"

        fields = [field for field, _ in IMPORT_COLUMNS]
        cells = {**_flat(payload(external_ref="I-1")), "categories": "M2.4;A6"}
        cells.update(objective="both", adaptation_beneficiaries="30", adaptation_benefit="防灾")
        buffer = io.StringIO()
        writer = csv.writer(buffer)
        writer.writerow(fields)
        writer.writerow([cells.get(f, "") for f in fields])
        response = await client.post(
            f"{PROJECTS}/import",
            headers=region,
            files={"file": ("p.csv", buffer.getvalue().encode(), "text/csv")},
        )
        assert response.status_code == 200, response.text
        assert response.json()["summary"]["created"] == 1, response.text
        listed = await client.get(PROJECTS, params={"category": "M2.4"}, headers=region)
        assert [p["external_ref"] for p in listed.json()["items"]] == ["I-1"]
        assert sorted(listed.json()["items"][0]["categories"]) == ["A6", "M2.4"]


def _flat(body: dict[str, Any]) -> dict[str, str]:
    """A project body as spreadsheet cells (field → text)."""
    out: dict[str, str] = {}
    for key, value in body.items():
        if value is None:
            continue
        if isinstance(value, dict):
            out.update({f"{key}_{k}": str(v) for k, v in value.items() if v is not None})
        elif isinstance(value, list):
            out[key] = ";".join(value)
        else:
            out[key] = str(value)
    return out


class TestParentIncludesChildren:
    async def test_category_filter_on_parent_includes_children_not_the_reverse(
        self, client: httpx.AsyncClient, keys: Keys
    ) -> None:
        region = await keys.region("440304")
        solar = await create_project(client, region, name="solar", categories=["M2.1"])
        plain = await create_project(client, region, name="plain", categories=["M2"])
        await create_project(client, region, name="retrofit", categories=["M3"])

        async def names(category: str) -> set[str]:
            response = await client.get(PROJECTS, params={"category": category}, headers=region)
            assert response.status_code == 200, response.text
            return {p["name"] for p in response.json()["items"]}

        assert await names("M2") == {"solar", "plain"}
        assert await names("M2.1") == {"solar"}
        assert await names("M2.2") == set()
        assert {solar["id"], plain["id"]}
        unknown = await client.get(PROJECTS, params={"category": "M2.9"}, headers=region)
        assert unknown.status_code == 422

    async def test_statistics_count_a_second_level_project_under_its_parent_once(
        self, client: httpx.AsyncClient, app: FastAPI
    ) -> None:
        await library_project(
            app,
            status=ProjectStatus.in_library,
            objective=Objective.mitigation,
            categories=["M2.1"],
            financing_need="1000000.00",
            total_investment="1000000.00",
        )
        await library_project(
            app,
            status=ProjectStatus.in_library,
            objective=Objective.mitigation,
            categories=["M2"],
            financing_need="2000000.00",
            total_investment="2000000.00",
        )
        body = (await client.get(STATS)).json()
        by_category = {g["key"]: g for g in body["by_category"]}
        assert by_category["M2"]["projects"] == 2
        assert by_category["M3"]["projects"] == 0
        assert body["totals"]["projects"] == 2
