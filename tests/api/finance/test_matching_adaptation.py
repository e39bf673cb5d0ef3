"""The climate component through HTTP: adaptation projects are scored on their beneficiaries per
10,000 CNY of remaining need among the eligible adaptation projects, mitigation projects on
their tonnes among the eligible mitigation projects, and `both` on the better of the two; the
explanation names the figure and the group, and every view of a pair gives the same points."""

from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from tests.conftest import Keys
from tests.factories import institution, library_project, product, set_project

# Every project asks 10,000,000 CNY (1,000 × 10,000 CNY), is approved and unverified, and the
# product sets no amount range or categories: each scores climate + 20 (amount) + 10 (readiness).
BASE = 30.0


async def _library(app: FastAPI) -> dict[str, str]:
    def mitigation(tonnes: float) -> dict[str, Any]:
        return {
            "objective": "mitigation",
            "categories": ["M2"],
            "annual_emission_reduction_tco2e": tonnes,
        }

    def adaptation(people: int, tonnes: float | None = None) -> dict[str, Any]:
        return {
            "objective": "adaptation",
            "categories": ["A2"],
            "adaptation_beneficiaries": people,
            "annual_emission_reduction_tco2e": tonnes,
        }

    def both(tonnes: float, people: int) -> dict[str, Any]:
        return {
            "objective": "both",
            "categories": ["M6", "A3"],
            "annual_carbon_sink_tco2e": tonnes,
            "annual_emission_reduction_tco2e": None,
            "adaptation_beneficiaries": people,
        }

    projects = {
        # 10 tCO2e per 10,000 CNY: the best mitigation figure
        "mit_strong": mitigation(10_000.0),
        # 1 tCO2e per 10,000 CNY
        "mit_weak": mitigation(1_000.0),
        # 50 people per 10,000 CNY: the best adaptation figure
        "ada_many": adaptation(50_000),
        # 12.5 people per 10,000 CNY; its stated tonnes (100 per 10,000 CNY) are not its benefit
        # and must not become the mitigation group's best either
        "ada_few": adaptation(12_500, tonnes=100_000.0),
        # 2.5 t (0.25 of the best) and 37.5 people (0.75 of the best) per 10,000 CNY
        "both_people": both(2_500.0, 37_500),
        # 8 t (0.8 of the best) and 5 people (0.1 of the best) per 10,000 CNY
        "both_tonnes": both(8_000.0, 5_000),
    }
    return {
        key: await library_project(app, name=key, financing_need="10000000.00", **values)
        for key, values in projects.items()
    }


EXPECTED_CLIMATE = {
    "mit_strong": 40.0,
    "ada_many": 40.0,
    "both_tonnes": 32.0,
    "both_people": 30.0,
    "ada_few": 10.0,
    "mit_weak": 4.0,
}


def _climate(item: dict[str, Any]) -> dict[str, Any]:
    return next(i for i in item["explanation"] if i["criterion"] == "climate_benefit")


async def _ranked(
    client: httpx.AsyncClient, headers: dict[str, str], product_id: str
) -> list[dict[str, Any]]:
    response = await client.get(f"/api/v1/products/{product_id}/matches", headers=headers)
    assert response.status_code == 200, response.text
    return list(response.json()["items"])


class TestClimateComponent:
    async def test_adaptation_with_many_beneficiaries_ranks_above_weak_mitigation(
        self, client: httpx.AsyncClient, keys: Keys, app: FastAPI
    ) -> None:
        p = await _library(app)
        name = {v: k for k, v in p.items()}
        _, bank = await institution(client, keys)
        prod = await product(client, bank, objectives=["mitigation", "adaptation"])
        items = await _ranked(client, bank, prod["id"])
        got = [(name[i["project_id"]], i["score"]) for i in items]
        expected = sorted(
            ((k, BASE + v) for k, v in EXPECTED_CLIMATE.items()),
            key=lambda kv: (-kv[1], p[kv[0]]),
        )
        assert got == expected
        ranks = [k for k, _ in got]
        assert ranks.index("ada_many") < ranks.index("mit_weak")
        assert ranks.index("ada_few") < ranks.index("mit_weak")
        for item in items:
            points = sum(i["points"] for i in item["explanation"] if i["points"] is not None)
            assert points == pytest.approx(item["score"], abs=0.02)

    async def test_adaptation_points_come_from_beneficiaries_among_adaptation_projects(
        self, client: httpx.AsyncClient, keys: Keys, app: FastAPI
    ) -> None:
        p = await _library(app)
        _, bank = await institution(client, keys)
        prod = await product(client, bank)
        items = {i["project_id"]: i for i in await _ranked(client, bank, prod["id"])}
        few = _climate(items[p["ada_few"]])
        assert few["points"] == 10.0 > 0
        assert few["detail"].startswith(
            "adaptation_beneficiaries (stated) per 10,000 CNY of remaining need: 12.5 against "
            "the best 50 among the product's eligible adaptation projects"
        )
        assert "tco2e" not in few["detail"]
        # the mitigation group is unaffected by an adaptation project's stated tonnes
        strong = _climate(items[p["mit_strong"]])
        assert strong["points"] == 40.0
        assert strong["detail"].startswith(
            "annual_emission_reduction_tco2e + annual_carbon_sink_tco2e (stated) per 10,000 CNY "
            "of remaining need: 10 against the best 10 among the product's eligible mitigation "
            "projects"
        )
        # a far better mitigation project changes nothing for the adaptation projects
        await set_project(app, p["mit_strong"], annual_emission_reduction_tco2e=1_000_000.0)
        items = {i["project_id"]: i for i in await _ranked(client, bank, prod["id"])}
        assert _climate(items[p["ada_few"]])["points"] == 10.0
        assert _climate(items[p["ada_many"]])["points"] == 40.0
        assert _climate(items[p["mit_weak"]])["points"] == 0.04
        # without the best adaptation project, the next best in the group sets the scale:
        # both_people's 37.5 people per 10,000 CNY
        await set_project(app, p["ada_many"], status="withdrawn")
        items = {i["project_id"]: i for i in await _ranked(client, bank, prod["id"])}
        assert _climate(items[p["ada_few"]])["points"] == pytest.approx(40 * 12.5 / 37.5, abs=0.01)
        assert _climate(items[p["both_people"]])["points"] == 40.0

    async def test_both_takes_the_better_of_its_two_and_says_which(
        self, client: httpx.AsyncClient, keys: Keys, app: FastAPI
    ) -> None:
        p = await _library(app)
        _, bank = await institution(client, keys)
        prod = await product(client, bank)
        items = {i["project_id"]: i for i in await _ranked(client, bank, prod["id"])}
        people = _climate(items[p["both_people"]])
        assert people["points"] == 30.0
        assert people["detail"].startswith(
            "the better of the project's two benefits: adaptation_beneficiaries (stated) per "
            "10,000 CNY of remaining need: 37.5 against the best 50"
        )
        assert "; not used: annual_emission_reduction_tco2e" in people["detail"]
        tonnes = _climate(items[p["both_tonnes"]])
        assert tonnes["points"] == 32.0
        assert tonnes["detail"].startswith(
            "the better of the project's two benefits: annual_emission_reduction_tco2e + "
            "annual_carbon_sink_tco2e (stated) per 10,000 CNY of remaining need: 8 against the "
            "best 10"
        )
        assert "; not used: adaptation_beneficiaries" in tonnes["detail"]

    async def test_an_adaptation_project_without_a_stated_count_scores_no_climate_points(
        self, client: httpx.AsyncClient, keys: Keys, app: FastAPI
    ) -> None:
        p = await _library(app)
        silent = await library_project(
            app, objective="adaptation", categories=["A2"], annual_emission_reduction_tco2e=None
        )
        _, bank = await institution(client, keys)
        prod = await product(client, bank)
        items = {i["project_id"]: i for i in await _ranked(client, bank, prod["id"])}
        assert _climate(items[silent])["points"] == 0.0
        assert _climate(items[p["ada_few"]])["points"] == 10.0

    async def test_explanation_preview_and_project_view_agree_with_the_ranking(
        self, client: httpx.AsyncClient, keys: Keys, app: FastAPI
    ) -> None:
        p = await _library(app)
        _, bank = await institution(client, keys)
        criteria = {"objectives": ["mitigation", "adaptation"]}
        prod = await product(client, bank, **criteria)
        admin = await keys.admin()
        items = await _ranked(client, bank, prod["id"])
        preview = await client.post(
            "/api/v1/matching/preview",
            json={"type": "green_loan", **criteria, "limit": 50},
            headers=bank,
        )
        assert preview.status_code == 200, preview.text
        previewed = preview.json()["items"]
        assert [(i["project_id"], i["score"]) for i in previewed] == [
            (i["project_id"], i["score"]) for i in items
        ]
        for item, shown in zip(items, previewed, strict=True):
            assert shown["explanation"] == item["explanation"]
            explained = await client.get(
                "/api/v1/matches/explain",
                params={"project_id": item["project_id"], "product_id": prod["id"]},
                headers=bank,
            )
            assert explained.status_code == 200
            assert explained.json()["score"] == item["score"]
            assert explained.json()["explanation"] == item["explanation"]
            own = await client.get(f"/api/v1/projects/{item['project_id']}/matches", headers=admin)
            assert own.status_code == 200
            (match,) = [m for m in own.json()["items"] if m["product_id"] == prod["id"]]
            assert match["score"] == item["score"]
            assert match["explanation"] == item["explanation"]
        assert p
