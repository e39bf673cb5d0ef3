"""Matching through HTTP: eligibility on every criterion, documented scores, explanations,
deterministic order, freshness across processes, and who may read what."""

from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from app.config import Settings
from app.main import create_app
from tests.conftest import Keys
from tests.factories import institution, library_project, product, set_project

CRITERIA = {
    "region_prefixes": ["44"],
    "categories": ["M2", "M3"],
    "amount_min": "1000000.00",
    "amount_max": "50000000.00",
    "construction_statuses": ["approved", "under_construction", "operational"],
    "min_emission_reduction_tco2e": 100,
}


async def _library(app: FastAPI) -> dict[str, str]:
    """Two eligible projects and one failing each criterion (or not in the library)."""
    return {
        "a": await library_project(app, name="A", third_party_verified=True),
        "b": await library_project(
            app,
            name="B",
            region_code="440106",
            categories=["M3"],
            financing_need="20000000.00",
            annual_emission_reduction_tco2e=5000.0,
            construction_status="under_construction",
        ),
        "region": await library_project(app, name="C", region_code="330102"),
        "type": await library_project(app, name="D", financing_types=["insurance"]),
        "draft": await library_project(app, name="E", status="submitted"),
        "amount": await library_project(
            app, name="F", total_investment="200000000.00", financing_need="100000000.00"
        ),
        "status": await library_project(app, name="G", construction_status="planning"),
        "category": await library_project(app, name="H", categories=["M6"]),
        "emission": await library_project(app, name="I", annual_emission_reduction_tco2e=50.0),
    }


def _failed(body: dict[str, Any]) -> list[str]:
    return [i["criterion"] for i in body["explanation"] if not i["passed"]]


class TestProductMatches:
    async def test_owner_gets_eligible_projects_ranked_by_documented_score(
        self, client: httpx.AsyncClient, keys: Keys, app: FastAPI
    ) -> None:
        p = await _library(app)
        _, bank = await institution(client, keys)
        prod = await product(client, bank, **CRITERIA)
        response = await client.get(f"/api/v1/products/{prod['id']}/matches", headers=bank)
        assert response.status_code == 200
        items = response.json()["items"]
        assert [i["project_id"] for i in items] == [p["b"], p["a"]]
        # B: climate 40 (best intensity) + amount 20·(1 − 5.5/49) + readiness 15 + 0 + category 10
        # A: climate 40·(1/2.5) + amount 20·(1 − 15.5/49) + readiness 10 + verified 10 + 10
        assert [i["score"] for i in items] == [82.76, 59.67]
        for item in items:
            assert item["eligible"] is True and item["product_id"] == prod["id"]
            assert _failed(item) == []
            points = sum(i["points"] for i in item["explanation"] if i["points"] is not None)
            assert points == pytest.approx(item["score"], abs=0.02)
        assert items[0]["project"]["name"] == "B"
        assert items[0]["project"]["remaining_need"] == "20000000.00"
        assert "contact_name" not in items[0]["project"]

    async def test_explain_names_each_failing_criterion(
        self, client: httpx.AsyncClient, keys: Keys, app: FastAPI
    ) -> None:
        p = await _library(app)
        _, bank = await institution(client, keys)
        prod = await product(client, bank, **CRITERIA)
        expected = {
            "region": ["region"],
            "type": ["financing_type"],
            "amount": ["amount"],
            "status": ["construction_status"],
            "category": ["categories"],
            "emission": ["emission_reduction"],
        }
        for key, failed in expected.items():
            response = await client.get(
                "/api/v1/matches/explain",
                params={"project_id": p[key], "product_id": prod["id"]},
                headers=bank,
            )
            assert response.status_code == 200, key
            body = response.json()
            assert body["eligible"] is False and body["score"] is None
            assert _failed(body) == failed, key
        admin = await keys.admin()
        outside = await client.get(
            "/api/v1/matches/explain",
            params={"project_id": p["draft"], "product_id": prod["id"]},
            headers=admin,
        )
        assert outside.status_code == 200
        assert _failed(outside.json()) == ["project_in_library"]
        # the institution does not see a project outside the library at all
        hidden = await client.get(
            "/api/v1/matches/explain",
            params={"project_id": p["draft"], "product_id": prod["id"]},
            headers=bank,
        )
        assert hidden.status_code == 404

    async def test_explain_agrees_with_the_list(
        self, client: httpx.AsyncClient, keys: Keys, app: FastAPI
    ) -> None:
        p = await _library(app)
        _, bank = await institution(client, keys)
        prod = await product(client, bank, **CRITERIA)
        listed = await client.get(f"/api/v1/products/{prod['id']}/matches", headers=bank)
        for item in listed.json()["items"]:
            explained = await client.get(
                "/api/v1/matches/explain",
                params={"project_id": item["project_id"], "product_id": prod["id"]},
                headers=bank,
            )
            assert explained.json()["score"] == item["score"]
            assert explained.json()["explanation"] == item["explanation"]
        assert p

    async def test_pages_cover_the_ranking_once(
        self, client: httpx.AsyncClient, keys: Keys, app: FastAPI
    ) -> None:
        for i in range(7):
            await library_project(
                app, name=f"P{i}", annual_emission_reduction_tco2e=100.0 * (i % 3 + 1)
            )
        _, bank = await institution(client, keys)
        prod = await product(client, bank)
        url = f"/api/v1/products/{prod['id']}/matches"
        everything = (await client.get(url, headers=bank)).json()
        assert len(everything["items"]) == 7 and everything["next_cursor"] is None
        scores = [(-i["score"], i["project_id"]) for i in everything["items"]]
        assert scores == sorted(scores)
        seen: list[str] = []
        cursor = None
        while True:
            params: dict[str, Any] = {"limit": 3, "explain": False}
            if cursor:
                params["cursor"] = cursor
            page = (await client.get(url, params=params, headers=bank)).json()
            seen += [i["project_id"] for i in page["items"]]
            cursor = page["next_cursor"]
            if cursor is None:
                break
        assert seen == [i["project_id"] for i in everything["items"]]
        bad = await client.get(url, params={"cursor": "garbage"}, headers=bank)
        assert bad.status_code == 400 and bad.json()["code"] == "invalid_cursor"

    async def test_filters_narrow_the_list(
        self, client: httpx.AsyncClient, keys: Keys, app: FastAPI
    ) -> None:
        p = await _library(app)
        _, bank = await institution(client, keys)
        prod = await product(client, bank, **CRITERIA)
        url = f"/api/v1/products/{prod['id']}/matches"
        by_region = await client.get(url, params={"region_code": "4401"}, headers=bank)
        assert [i["project_id"] for i in by_region.json()["items"]] == [p["b"]]
        by_status = await client.get(url, params={"construction_status": "approved"}, headers=bank)
        assert [i["project_id"] for i in by_status.json()["items"]] == [p["a"]]
        by_score = await client.get(url, params={"min_score": 70}, headers=bank)
        assert [i["project_id"] for i in by_score.json()["items"]] == [p["b"]]

    async def test_weights_re_weight_the_score(
        self, client: httpx.AsyncClient, keys: Keys, app: FastAPI
    ) -> None:
        p = await _library(app)
        _, bank = await institution(client, keys)
        weights = dict.fromkeys(
            ("climate_benefit", "amount_fit", "readiness", "category_targeted"), 0
        )
        prod = await product(client, bank, **CRITERIA, weights={**weights, "verification": 5})
        items = (await client.get(f"/api/v1/products/{prod['id']}/matches", headers=bank)).json()
        assert [(i["project_id"], i["score"]) for i in items["items"]] == [
            (p["a"], 100.0),
            (p["b"], 0.0),
        ]

    async def test_only_the_owner_and_admin_read_a_products_matches(
        self, client: httpx.AsyncClient, keys: Keys, app: FastAPI
    ) -> None:
        await _library(app)
        _, bank = await institution(client, keys)
        _, other = await institution(client, keys, name="别家银行")
        prod = await product(client, bank, **CRITERIA)
        draft = await product(client, bank, status="draft")
        url = f"/api/v1/products/{prod['id']}/matches"
        assert (await client.get(url, headers=await keys.admin())).status_code == 200
        assert (await client.get(url)).status_code == 401
        for headers in (other, await keys.region("440304")):
            response = await client.get(url, headers=headers)
            assert response.status_code == 403
        hidden = await client.get(f"/api/v1/products/{draft['id']}/matches", headers=other)
        assert hidden.status_code == 404


class TestFreshness:
    async def test_library_and_product_changes_show_on_the_next_request(
        self, client: httpx.AsyncClient, keys: Keys, app: FastAPI
    ) -> None:
        p = await _library(app)
        _, bank = await institution(client, keys)
        prod = await product(client, bank, **CRITERIA)
        url = f"/api/v1/products/{prod['id']}/matches"

        async def ids() -> list[str]:
            return [i["project_id"] for i in (await client.get(url, headers=bank)).json()["items"]]

        assert await ids() == [p["b"], p["a"]]
        entering = await library_project(app, name="J", status="recommended")
        assert entering not in await ids()
        await set_project(app, entering, status="in_library")
        assert entering in await ids()
        await set_project(app, p["b"], status="exited")
        assert p["b"] not in await ids()
        await set_project(app, p["a"], financing_secured="9500000.00")  # remaining 0.5M < min
        assert p["a"] not in await ids()
        edit = await client.patch(
            f"/api/v1/products/{prod['id']}", json={"amount_min": None}, headers=bank
        )
        assert edit.status_code == 200
        assert p["a"] in await ids()
        await client.patch(
            f"/api/v1/products/{prod['id']}", json={"status": "paused"}, headers=bank
        )
        assert await ids() == []

    async def test_another_process_sees_changes_without_any_manual_step(
        self, client: httpx.AsyncClient, keys: Keys, app: FastAPI, settings: Settings
    ) -> None:
        p = await _library(app)
        _, bank = await institution(client, keys)
        prod = await product(client, bank, **CRITERIA)
        url = f"/api/v1/products/{prod['id']}/matches"
        second = create_app(settings)
        async with second.router.lifespan_context(second):
            transport = httpx.ASGITransport(app=second)
            async with httpx.AsyncClient(transport=transport, base_url="http://test") as other:
                before = (await other.get(url, headers=bank)).json()["items"]
                assert [i["project_id"] for i in before] == [p["b"], p["a"]]
                # the change is made by the first process; the second one's cache must notice
                await set_project(app, p["a"], status="exited")
                after = (await other.get(url, headers=bank)).json()["items"]
                assert [i["project_id"] for i in after] == [p["b"]]


class TestProjectMatches:
    async def test_owner_region_sees_products_ranked_with_rate_as_tie_breaker(
        self, client: httpx.AsyncClient, keys: Keys, app: FastAPI
    ) -> None:
        p = await _library(app)
        _, bank = await institution(client, keys)
        _, other = await institution(client, keys, name="别家银行")
        dear = await product(client, bank, **CRITERIA, rate_min="4.000")
        cheap = await product(client, other, **CRITERIA, rate_min="3.100")
        await product(client, other, **{**CRITERIA, "region_prefixes": ["33"]})  # not 44
        await product(client, bank, **CRITERIA, status="draft")
        url = f"/api/v1/projects/{p['a']}/matches"
        response = await client.get(url, headers=await keys.region("440304"))
        assert response.status_code == 200
        items = response.json()["items"]
        assert [i["product_id"] for i in items] == [cheap["id"], dear["id"]]
        assert items[0]["score"] == items[1]["score"] == 59.67
        assert items[0]["product"]["rate_min"] == "3.100"
        for headers in (await keys.reviewer("44"), await keys.admin(), await keys.region("440300")):
            assert (await client.get(url, headers=headers)).status_code == 200
        admin = await keys.admin()
        first = (await client.get(url, params={"limit": 1}, headers=admin)).json()
        assert [i["product_id"] for i in first["items"]] == [cheap["id"]]
        rest = await client.get(
            url, params={"limit": 1, "cursor": first["next_cursor"]}, headers=admin
        )
        assert [i["product_id"] for i in rest.json()["items"]] == [dear["id"]]
        assert rest.json()["next_cursor"] is None

    async def test_others_get_403_and_the_public_401(
        self, client: httpx.AsyncClient, keys: Keys, app: FastAPI
    ) -> None:
        p = await _library(app)
        _, bank = await institution(client, keys)
        url = f"/api/v1/projects/{p['a']}/matches"
        assert (await client.get(url)).status_code == 401
        # The library project is visible to them all, its matches are not theirs.
        for headers in (bank, await keys.region("440106"), await keys.reviewer("33")):
            response = await client.get(url, headers=headers)
            assert response.status_code == 403
            assert response.json()["code"] == "not_owner"

    async def test_a_draft_outside_the_callers_scope_is_404(
        self, client: httpx.AsyncClient, keys: Keys, app: FastAPI
    ) -> None:
        draft = await library_project(app, status="draft", library_code=None, approved_at=None)
        url = f"/api/v1/projects/{draft}/matches"
        for headers in (await keys.region("440106"), await keys.reviewer("44")):
            response = await client.get(url, headers=headers)
            assert response.status_code == 404
            assert response.json()["code"] == "project_not_found"
        owner = await client.get(url, headers=await keys.region("440304"))
        assert owner.status_code == 200
        assert owner.json()["items"] == []

    async def test_project_outside_the_library_has_no_matches(
        self, client: httpx.AsyncClient, keys: Keys, app: FastAPI
    ) -> None:
        p = await _library(app)
        _, bank = await institution(client, keys)
        await product(client, bank)
        response = await client.get(
            f"/api/v1/projects/{p['draft']}/matches", headers=await keys.region("440304")
        )
        assert response.status_code == 200 and response.json()["items"] == []


class TestPreview:
    async def test_unsaved_criteria_give_count_and_top_projects(
        self, client: httpx.AsyncClient, keys: Keys, app: FastAPI
    ) -> None:
        p = await _library(app)
        _, bank = await institution(client, keys)
        response = await client.post(
            "/api/v1/matching/preview",
            json={"type": "green_loan", **CRITERIA, "limit": 1},
            headers=bank,
        )
        assert response.status_code == 200
        body = response.json()
        assert body["count"] == 2
        assert [(i["project_id"], i["score"]) for i in body["items"]] == [(p["b"], 82.76)]
        wide = await client.post(
            "/api/v1/matching/preview", json={"type": "green_loan"}, headers=bank
        )
        # everything in the library that asks for a loan
        assert wide.json()["count"] == 7

    async def test_invalid_criteria_and_wrong_roles_are_refused(
        self, client: httpx.AsyncClient, keys: Keys
    ) -> None:
        _, bank = await institution(client, keys)
        bad = await client.post(
            "/api/v1/matching/preview",
            json={"type": "green_loan", "amount_min": "9", "amount_max": "1"},
            headers=bank,
        )
        assert bad.status_code == 422 and bad.json()["code"] == "amount_range_order"
        body = {"type": "green_loan"}
        assert (await client.post("/api/v1/matching/preview", json=body)).status_code == 401
        region = await keys.region("440304")
        assert (
            await client.post("/api/v1/matching/preview", json=body, headers=region)
        ).status_code == 403
