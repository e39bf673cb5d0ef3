"""GET /stats/overview: figures per dimension over exactly the projects the caller may read."""

from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from app.models.project import Objective, ProjectStatus
from tests.conftest import Keys
from tests.factories import FUTIAN_PILOT, MIYUN_PILOT, library_project

URL = "/api/v1/stats/overview"


def by_key(groups: list[dict[str, Any]]) -> dict[object, dict[str, Any]]:
    return {g["key"]: g for g in groups}


async def sample(app: FastAPI) -> None:
    await library_project(
        app,
        region_code="440304",
        status=ProjectStatus.in_library,
        approved_at=datetime(2026, 3, 31, 23, 59, tzinfo=UTC),
        objective=Objective.both,
        categories=("M2", "A1"),
        total_investment="5000000.00",
        financing_need="4000000.00",
        financing_secured="1000000.00",
        annual_emission_reduction_tco2e=800.0,
        name="福田光伏项目",
    )
    await library_project(
        app,
        region_code="110118",
        status=ProjectStatus.in_library,
        approved_at=datetime(2026, 4, 1, tzinfo=UTC),
        objective=Objective.adaptation,
        categories=("A2",),
        total_investment="3000000.00",
        financing_need="3000000.00",
        financing_secured="0.00",
        annual_emission_reduction_tco2e=None,
    )
    await library_project(
        app,
        region_code="440305",
        status=ProjectStatus.submitted,
        categories=("M3",),
        total_investment="700000.00",
        financing_need="700000.00",
        financing_secured="0.00",
    )
    await library_project(
        app,
        region_code="440304",
        status=ProjectStatus.draft,
        name="福田秘密草稿",
        total_investment="100000.00",
        financing_need="100000.00",
        financing_secured="0.00",
    )


class TestStatsOverview:
    async def test_public_sees_library_figures_without_personal_data(
        self, client: httpx.AsyncClient, app: FastAPI
    ) -> None:
        await sample(app)
        response = await client.get(URL)
        assert response.status_code == 200
        body = response.json()
        assert body["coverage"] == "library"
        assert body["totals"]["projects"] == 2
        assert body["totals"]["total_investment"] == "8000000.00"
        assert [g["key"] for g in body["by_status"]] == ["in_library"]
        for secret in (
            "张三",
            "13800000000",
            "zhang@example.com",
            "某某新能源",
            "福田秘密草稿",
            "福田光伏项目",
        ):
            assert secret not in response.text

    async def test_admin_sees_every_dimension(
        self, client: httpx.AsyncClient, keys: Keys, app: FastAPI
    ) -> None:
        await sample(app)
        body = (await client.get(URL, headers=await keys.admin())).json()
        assert body["coverage"] == "all"
        assert body["period"] == "year"
        assert body["totals"]["projects"] == 4
        assert body["totals"]["total_investment"] == "8800000.00"
        assert body["totals"]["financing_secured"] == "1000000.00"
        assert body["totals"]["annual_emission_reduction_tco2e"] == "2800.000"
        assert {k: g["projects"] for k, g in by_key(body["by_status"]).items()} == {
            "draft": 1,
            "in_library": 2,
            "submitted": 1,
        }
        assert {k: g["projects"] for k, g in by_key(body["by_objective"]).items()} == {
            "adaptation": 1,
            "both": 1,
            "mitigation": 2,
        }
        categories = by_key(body["by_category"])
        assert list(categories) == [
            "M1", "M2", "M3", "M4", "M5", "M6", "A1", "A2", "A3", "A4", "A5", "A6", "A7",
        ]  # fmt: skip
        # Each project once, under its primary category (stored rows: the first in taxonomy order).
        assert categories["M2"]["projects"] == 2  # the library project and the draft
        assert categories["M2"]["total_investment"] == "5100000.00"
        assert categories["A1"]["projects"] == 0  # the M2+A1 project's primary category is M2
        assert sum(g["projects"] for g in categories.values()) == 4
        mentions = by_key(body["category_mentions"])
        assert mentions["A1"]["projects"] == 1  # ...and it is mentioned under each category
        assert mentions["A1"]["financing_need"] == "4000000.00"
        assert mentions["M2"]["projects"] == 2
        assert categories["A2"]["projects"] == 1
        assert categories["M3"]["projects"] == 1
        assert categories["A7"]["projects"] == 0
        assert categories["A7"]["total_investment"] == "0.00"
        assert categories["M2"]["label"] == "优化能源结构，发展非化石能源"
        provinces = by_key(body["by_province"])
        assert {k: (g["label"], g["projects"]) for k, g in provinces.items()} == {
            "11": ("北京市", 1),
            "44": ("广东省", 3),
        }
        pilots = by_key(body["by_pilot"])
        assert len(pilots) == 23
        assert pilots[FUTIAN_PILOT]["label"] == "广东省深圳市福田区"
        assert pilots[FUTIAN_PILOT]["projects"] == 2  # 南山区 (440305) is not in the pilot
        assert pilots[MIYUN_PILOT]["projects"] == 1
        assert sum(g["projects"] for g in pilots.values()) == 3
        assert [(g["key"], g["projects"]) for g in body["by_period"]] == [("2026", 2)]
        assert body["offers"] == {
            "offers": 0,
            "accepted": 0,
            "declined": 0,
            "financed": 0,
            "offered_amount": "0.00",
            "signed_amount": "0.00",
            "financed_amount": "0.00",
            "disbursed_amount": "0.00",
            "repaid_amount": "0.00",
            "outstanding_amount": "0.00",
            "not_financed_by_reason": {},
        }

    async def test_quarters_split_on_utc_boundaries(
        self, client: httpx.AsyncClient, keys: Keys, app: FastAPI
    ) -> None:
        await sample(app)
        body = (
            await client.get(URL, params={"period": "quarter"}, headers=await keys.admin())
        ).json()
        assert [(g["key"], g["projects"]) for g in body["by_period"]] == [
            ("2026-Q1", 1),
            ("2026-Q2", 1),
        ]
        monthly = (await client.get(URL, params={"period": "month"})).json()
        assert [g["key"] for g in monthly["by_period"]] == ["2026-03", "2026-04"]

    async def test_reviewer_adds_its_province_from_submission_on(
        self, client: httpx.AsyncClient, keys: Keys, app: FastAPI
    ) -> None:
        await sample(app)
        body = (await client.get(URL, headers=await keys.reviewer("44"))).json()
        assert body["coverage"] == "library_and_province"
        assert {k: g["projects"] for k, g in by_key(body["by_status"]).items()} == {
            "in_library": 2,
            "submitted": 1,
        }

    async def test_region_adds_its_own_projects_in_every_status(
        self, client: httpx.AsyncClient, keys: Keys, app: FastAPI
    ) -> None:
        await sample(app)
        futian = (await client.get(URL, headers=await keys.region("440304"))).json()
        assert {k: g["projects"] for k, g in by_key(futian["by_status"]).items()} == {
            "draft": 1,
            "in_library": 2,
        }
        nanshan = (await client.get(URL, headers=await keys.region("440305"))).json()
        assert {k: g["projects"] for k, g in by_key(nanshan["by_status"]).items()} == {
            "in_library": 2,
            "submitted": 1,
        }

    async def test_money_sums_stay_exact_to_the_cent(
        self, client: httpx.AsyncClient, keys: Keys, app: FastAPI
    ) -> None:
        for _ in range(3):
            await library_project(
                app,
                region_code="440304",
                status=ProjectStatus.in_library,
                total_investment="333333333333.33",
                financing_need="0.10",
                financing_secured="0.10",
            )
        totals = (await client.get(URL)).json()["totals"]
        assert totals["total_investment"] == "999999999999.99"
        assert totals["financing_need"] == "0.30"
        assert totals["financing_secured"] == "0.30"

    async def test_empty_library_answers_zeros(self, client: httpx.AsyncClient) -> None:
        body = (await client.get(URL)).json()
        assert body["totals"]["projects"] == 0
        assert body["totals"]["total_investment"] == "0.00"
        assert body["by_status"] == []
        assert len(body["by_category"]) == 13
        assert len(body["by_pilot"]) == 23

    @pytest.mark.parametrize("period", ["week", ""])
    async def test_bad_period_is_422(self, client: httpx.AsyncClient, period: str) -> None:
        response = await client.get(URL, params={"period": period})
        assert response.status_code == 422
        assert response.headers["content-type"] == "application/problem+json"

    async def test_unknown_key_is_401(self, client: httpx.AsyncClient) -> None:
        response = await client.get(URL, headers={"Authorization": "Bearer clk_nonsense"})
        assert response.status_code == 401
