"""External classifications: gfc-2025 shipped with its source, projects classified
under it, the suggested crosswalk, and products that target catalogue codes (``gfc_codes``)."""

from typing import Any

import httpx
from fastapi import FastAPI

from app.models.project import ProjectStatus
from tests.conftest import Keys
from tests.factories import PROJECTS, create_project, institution, library_project, product
from tests.factories import project_payload as payload

GFC = "gfc-2025"


def _codes(response: httpx.Response) -> dict[str, list[str | int]]:
    return {e["code"]: e["loc"] for e in response.json()["errors"]}


def _gfc(*codes: str) -> list[dict[str, str]]:
    return [{"scheme": GFC, "code": code} for code in codes]


class TestTaxonomyDocuments:
    async def test_taxonomy_states_its_version_sources_and_schemes(
        self, client: httpx.AsyncClient
    ) -> None:
        body = (await client.get("/api/v1/taxonomy")).json()
        assert body["version"] == "2026.1"
        assert any("环办气候〔2021〕27号" in s["title"] for s in body["sources"])
        assert body["classification_schemes"] == [GFC]
        m2 = next(c for c in body["categories"] if c["code"] == "M2")
        assert [c["code"] for c in m2["children"]][:2] == ["M2.1", "M2.2"]

    async def test_gfc_2025_is_listed_with_its_source_and_the_levels_shipped(
        self, client: httpx.AsyncClient
    ) -> None:
        response = await client.get("/api/v1/taxonomy/classifications")
        assert response.status_code == 200
        (scheme,) = response.json()["items"]
        assert scheme["scheme"] == GFC
        assert scheme["name_zh"] == "绿色金融支持项目目录（2025年版）"
        assert scheme["in_force"] == "2025-10-01"
        assert len(scheme["issued_by"]) == 3
        assert "38" in scheme["source"]["structure"] and "271" in scheme["source"]["structure"]
        assert scheme["levels"]["shipped"] == [1]
        assert scheme["levels"]["not_shipped"] == [2, 3]
        names = [e["name_zh"] for e in scheme["entries"]]
        assert names == [
            "节能降碳产业",
            "环境保护产业",
            "资源循环利用产业",
            "能源绿色低碳转型",
            "生态保护修复和利用",
            "基础设施绿色升级",
            "绿色服务",
            "绿色贸易",
            "绿色消费",
        ]
        assert [e["code"] for e in scheme["entries"]] == [str(n) for n in range(1, 10)]

    async def test_crosswalk_suggests_catalogue_entries_for_every_code(
        self, client: httpx.AsyncClient
    ) -> None:
        response = await client.get("/api/v1/taxonomy/crosswalk", params={"to": GFC})
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["to"] == GFC and body["from_taxonomy_version"] == "2026.1"
        assert "suggestion" in body["note"]
        by_code = {i["category"]: [t["code"] for t in i["suggested"]] for i in body["items"]}
        assert len(by_code) == 21
        assert by_code["M2"] == ["4"]
        assert by_code["M2.1"] == ["4"]  # a child takes its parent's suggestion
        assert by_code["M6"] == ["5"]
        assert all(by_code.values())

    async def test_crosswalk_to_an_unknown_scheme_is_422(self, client: httpx.AsyncClient) -> None:
        response = await client.get("/api/v1/taxonomy/crosswalk", params={"to": "eu-taxonomy"})
        assert response.status_code == 422
        assert response.json()["code"] == "unknown_classification_scheme"
        assert "eu-taxonomy" in response.json()["detail"]
        missing = await client.get("/api/v1/taxonomy/crosswalk")
        assert missing.status_code == 422


class TestProjectClassifications:
    async def test_classifications_are_stored_and_answered(
        self, client: httpx.AsyncClient, keys: Keys
    ) -> None:
        region = await keys.region("440304")
        project = await create_project(client, region, classifications=_gfc("4"))
        assert project["classifications"] == _gfc("4")
        again = await client.get(f"{PROJECTS}/{project['id']}", headers=region)
        assert again.json()["classifications"] == _gfc("4")
        patched = await client.patch(
            f"{PROJECTS}/{project['id']}",
            json={"classifications": _gfc("4", "1")},
            headers={**region, "If-Match": f'"{project["version"]}"'},
        )
        assert patched.status_code == 200, patched.text
        assert patched.json()["classifications"] == _gfc("4", "1")
        plain = await create_project(client, region)
        assert plain["classifications"] == []

    async def test_unknown_scheme_or_code_is_422_naming_it_and_nothing_is_stored(
        self, client: httpx.AsyncClient, keys: Keys
    ) -> None:
        region = await keys.region("440304")
        cases: list[tuple[list[dict[str, str]], str, list[str | int], str]] = [
            (
                [{"scheme": "eu-taxonomy", "code": "4"}],
                "unknown_classification_scheme",
                ["body", "classifications", 0, "scheme"],
                "eu-taxonomy",
            ),
            (
                _gfc("10"),
                "unknown_classification_code",
                ["body", "classifications", 0, "code"],
                "10",
            ),
            (
                _gfc("4", "4.1"),
                "unknown_classification_code",
                ["body", "classifications", 1, "code"],
                "4.1",
            ),
            (_gfc("4", "4"), "duplicate_classification", ["body", "classifications", 1], "4"),
        ]
        for items, code, loc, named in cases:
            response = await client.post(
                PROJECTS, json=payload(classifications=items), headers=region
            )
            assert response.status_code == 422, items
            errors = {e["code"]: e for e in response.json()["errors"]}
            assert errors[code]["loc"] == loc
            assert named in errors[code]["message"]
        malformed = await client.post(
            PROJECTS, json=payload(classifications=[{"scheme": GFC}]), headers=region
        )
        assert malformed.status_code == 422
        assert (await client.get(PROJECTS, headers=region)).json()["items"] == []


async def _gfc_library(app: FastAPI) -> dict[str, str]:
    """Library projects: solar classified under 4, a forest sink under 5, one unclassified."""
    common: dict[str, Any] = {"status": ProjectStatus.in_library}
    return {
        "solar": await library_project(
            app, name="solar", categories=["M2.1"], classifications=_gfc("4"), **common
        ),
        "forest": await library_project(
            app, name="forest", categories=["M6"], classifications=_gfc("5"), **common
        ),
        "none": await library_project(app, name="none", categories=["M2"], **common),
    }


def _failed(body: dict[str, Any]) -> list[str]:
    return [i["criterion"] for i in body["explanation"] if not i["passed"]]


class TestProductsTargetingTheCatalogue:
    async def test_gfc_codes_match_explain_and_preview(
        self, client: httpx.AsyncClient, keys: Keys, app: FastAPI
    ) -> None:
        p = await _gfc_library(app)
        _, bank = await institution(client, keys)
        prod = await product(client, bank, gfc_codes=["4"])
        assert prod["gfc_codes"] == ["4"]
        listed = await client.get(f"/api/v1/products/{prod['id']}/matches", headers=bank)
        assert [i["project_id"] for i in listed.json()["items"]] == [p["solar"]]
        passed = await client.get(
            "/api/v1/matches/explain",
            params={"project_id": p["solar"], "product_id": prod["id"]},
            headers=bank,
        )
        item = next(i for i in passed.json()["explanation"] if i["criterion"] == "gfc_codes")
        assert item["passed"] is True and "['4']" in item["detail"]
        for name in ("forest", "none"):
            failed = await client.get(
                "/api/v1/matches/explain",
                params={"project_id": p[name], "product_id": prod["id"]},
                headers=bank,
            )
            assert failed.json()["eligible"] is False
            assert _failed(failed.json()) == ["gfc_codes"], name
        preview = await client.post(
            "/api/v1/matching/preview",
            json={"type": "green_loan", "gfc_codes": ["4", "5"]},
            headers=bank,
        )
        assert preview.status_code == 200, preview.text
        assert preview.json()["count"] == 2
        assert {i["project_id"] for i in preview.json()["items"]} == {p["solar"], p["forest"]}
        # the matcher's precomputed eligibility follows an edit of the product
        edited = await client.patch(
            f"/api/v1/products/{prod['id']}",
            json={"gfc_codes": ["5"]},
            headers={**bank, "If-Match": f'"{prod["version"]}"'},
        )
        assert edited.status_code == 200, edited.text
        listed = await client.get(f"/api/v1/products/{prod['id']}/matches", headers=bank)
        assert [i["project_id"] for i in listed.json()["items"]] == [p["forest"]]

    async def test_unknown_gfc_code_and_redundant_categories_are_refused(
        self, client: httpx.AsyncClient, keys: Keys
    ) -> None:
        _, bank = await institution(client, keys)
        body = {"name": "x", "type": "green_loan"}
        unknown = await client.post(
            "/api/v1/products", json={**body, "gfc_codes": ["4.1"]}, headers=bank
        )
        assert unknown.status_code == 422
        assert _codes(unknown) == {"unknown_classification_code": ["body", "gfc_codes", 0]}
        malformed = await client.post(
            "/api/v1/products", json={**body, "gfc_codes": ["M2"]}, headers=bank
        )
        assert malformed.status_code == 422
        redundant = await client.post(
            "/api/v1/products", json={**body, "categories": ["M2", "M2.1"]}, headers=bank
        )
        assert redundant.status_code == 422
        assert "redundant_category" in _codes(redundant)
        listed = await client.get("/api/v1/products", headers=bank)
        assert listed.json()["items"] == []


class TestSecondLevelProductCategories:
    async def test_parent_accepts_children_and_a_child_not_the_parent(
        self, client: httpx.AsyncClient, keys: Keys, app: FastAPI
    ) -> None:
        p = await _gfc_library(app)
        _, bank = await institution(client, keys)
        parent = await product(client, bank, categories=["M2"])
        child = await product(client, bank, categories=["M2.1"])
        wind = await product(client, bank, categories=["M2.2"])

        async def matched(prod: dict[str, Any]) -> dict[str, float]:
            response = await client.get(f"/api/v1/products/{prod['id']}/matches", headers=bank)
            assert response.status_code == 200, response.text
            return {
                i["project_id"]: next(
                    e["points"] for e in i["explanation"] if e["criterion"] == "category_targeted"
                )
                for i in response.json()["items"]
            }

        # the M2 product accepts the M2.1 project with full category points
        assert await matched(parent) == {p["solar"]: 10.0, p["none"]: 10.0}
        assert await matched(child) == {p["solar"]: 10.0}
        assert await matched(wind) == {}
        explained = await client.get(
            "/api/v1/matches/explain",
            params={"project_id": p["none"], "product_id": child["id"]},
            headers=bank,
        )
        assert _failed(explained.json()) == ["categories"]


class TestSpreadsheets:
    async def test_export_writes_scheme_code_and_the_import_reads_it_back(
        self, client: httpx.AsyncClient, keys: Keys
    ) -> None:
        region = await keys.region("440304")
        await create_project(
            client,
            region,
            external_ref="X-1",
            categories=["M2.1"],
            classifications=_gfc("4", "1"),
        )
        exported = await client.get(
            "/api/v1/projects/export", params={"format": "csv"}, headers=region
        )
        assert exported.status_code == 200, exported.text
        text = exported.content.decode("utf-8-sig")
        assert "gfc-2025:4;gfc-2025:1" in text
        # the same file, with the row's reference changed, imports as a new project
        again = text.replace("X-1", "X-2")
        response = await client.post(
            f"{PROJECTS}/import",
            headers=region,
            files={"file": ("p.csv", again.encode("utf-8-sig"), "text/csv")},
        )
        assert response.status_code == 200, response.text
        assert response.json()["summary"]["created"] == 1, response.text
        listed = await client.get(PROJECTS, params={"category": "M2.1"}, headers=region)
        by_ref = {p["external_ref"]: p for p in listed.json()["items"]}
        assert by_ref["X-2"]["classifications"] == _gfc("4", "1")
        assert by_ref["X-2"]["categories"] == ["M2.1"]
