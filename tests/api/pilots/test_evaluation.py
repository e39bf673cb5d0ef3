"""Pilot evaluation figures (定期评估) come from the library and respect who may read what."""

import uuid
from datetime import UTC, datetime

import httpx
import pytest
from fastapi import FastAPI

from app.models.project import ProjectStatus
from tests.conftest import Keys
from tests.factories import FUTIAN_PILOT, LIANGJIANG_PILOT, MIYUN_PILOT, library_project

BASE = "/api/v1/pilots"


def at(year: int, month: int, day: int = 15) -> datetime:
    return datetime(year, month, day, 8, 30, tzinfo=UTC)


async def futian_library(app: FastAPI) -> None:
    """Two library projects and a draft in 福田区, and one library project next door in 南山区."""
    await library_project(
        app,
        region_code="440304",
        status=ProjectStatus.in_library,
        approved_at=at(2026, 2),
        total_investment="10000000.10",
        financing_need="8000000.05",
        financing_secured="1000000.00",
        annual_emission_reduction_tco2e=1200.5,
    )
    await library_project(
        app,
        region_code="440304",
        status=ProjectStatus.in_library,
        approved_at=at(2026, 5),
        total_investment="2500000.20",
        financing_need="2000000.00",
        financing_secured="0.00",
        annual_emission_reduction_tco2e=None,
        annual_carbon_sink_tco2e=300.0,
    )
    await library_project(
        app,
        region_code="440304",
        status=ProjectStatus.draft,
        total_investment="900000.00",
        financing_need="900000.00",
        financing_secured="0.00",
        annual_emission_reduction_tco2e=50.0,
    )
    await library_project(
        app, region_code="440305", status=ProjectStatus.in_library, approved_at=at(2026, 2)
    )


def by_key(groups: list[dict[str, object]]) -> dict[object, dict[str, object]]:
    return {g["key"]: g for g in groups}


class TestPilotEvaluation:
    async def test_admin_gets_every_status_and_exact_sums(
        self, client: httpx.AsyncClient, keys: Keys, app: FastAPI
    ) -> None:
        await futian_library(app)
        response = await client.get(f"{BASE}/{FUTIAN_PILOT}/evaluation", headers=await keys.admin())
        assert response.status_code == 200
        body = response.json()
        assert body["pilot_name"] == "广东省深圳市福田区"
        assert body["pilot_status"] == "approved"
        assert body["coverage"] == "all"
        assert body["period"] == "quarter"
        assert body["totals"] == {
            "projects": 3,
            "total_investment": "13400000.30",
            "financing_need": "10900000.05",
            "financing_secured": "1000000.00",
            "benefit_projects": 3,
            "annual_emission_reduction_tco2e": "1250.500",
            "annual_carbon_sink_tco2e": "300.000",
            "annual_energy_saving_tce": "0.000",
            # stated and verified side by side: no monitoring report verified here
            "verified_projects": 0,
            "verified_emission_reduction_tco2e": "0.000",
            "verified_carbon_sink_tco2e": "0.000",
            "verified_energy_saving_tce": "0.000",
            "verified_credited_tco2e": "0.000",
        }
        statuses = by_key(body["by_status"])
        assert set(statuses) == {"draft", "in_library"}
        assert statuses["in_library"]["projects"] == 2
        assert statuses["in_library"]["total_investment"] == "12500000.30"
        assert statuses["draft"]["financing_need"] == "900000.00"
        assert [(g["key"], g["projects"]) for g in body["by_period"]] == [
            ("2026-Q1", 1),
            ("2026-Q2", 1),
        ]
        assert body["by_period"][0]["financing_need"] == "8000000.05"
        assert body["offers"]["offers"] == 0

    @pytest.mark.parametrize(
        ("period", "keys_expected"),
        [
            ("month", ["2026-02", "2026-05"]),
            ("year", ["2026"]),
            ("quarter", ["2026-Q1", "2026-Q2"]),
        ],
    )
    async def test_per_period_granularity(
        self,
        client: httpx.AsyncClient,
        keys: Keys,
        app: FastAPI,
        period: str,
        keys_expected: list[str],
    ) -> None:
        await futian_library(app)
        response = await client.get(
            f"{BASE}/{FUTIAN_PILOT}/evaluation",
            params={"period": period},
            headers=await keys.admin(),
        )
        assert response.status_code == 200
        assert [g["key"] for g in response.json()["by_period"]] == keys_expected
        assert sum(g["projects"] for g in response.json()["by_period"]) == 2

    async def test_public_figures_count_library_projects_only(
        self, client: httpx.AsyncClient, app: FastAPI
    ) -> None:
        await futian_library(app)
        body = (await client.get(f"{BASE}/{FUTIAN_PILOT}/evaluation")).json()
        assert body["coverage"] == "library"
        assert body["totals"]["projects"] == 2
        assert body["totals"]["total_investment"] == "12500000.30"
        assert [g["key"] for g in body["by_status"]] == ["in_library"]

    async def test_new_area_counts_its_projects_never_a_partial_codes_others(
        self, client: httpx.AsyncClient, keys: Keys, app: FastAPI
    ) -> None:
        """500157 is 两江's full code; 500109 北碚区 and the retired 500105 are partial: their
        projects count only when they belong to the pilot; 500103 渝中区 lies outside."""
        pilot = uuid.UUID(LIANGJIANG_PILOT)
        for code, pilot_id in (
            ("500157", pilot),
            ("500105", pilot),
            ("500109", pilot),
            ("500109", None),
            ("500105", None),
            ("500103", None),
        ):
            await library_project(
                app,
                region_code=code,
                pilot_id=pilot_id,
                status=ProjectStatus.in_library,
                approved_at=at(2025, 3),
            )
        body = (
            await client.get(f"{BASE}/{LIANGJIANG_PILOT}/evaluation", params={"period": "year"})
        ).json()
        assert body["totals"]["projects"] == 3
        assert body["by_period"] == [{**body["totals"], "key": "2025", "label": None}]

    async def test_city_pilot_counts_every_district_below_its_code(
        self, client: httpx.AsyncClient, app: FastAPI
    ) -> None:
        baoding = "850536eb-8208-5a68-b688-ae5c3db44bbe"  # 河北省保定市, 130600
        await library_project(
            app, region_code="130602", status=ProjectStatus.in_library, approved_at=at(2026, 1)
        )
        await library_project(
            app, region_code="130600", status=ProjectStatus.in_library, approved_at=at(2026, 1)
        )
        await library_project(
            app, region_code="130100", status=ProjectStatus.in_library, approved_at=at(2026, 1)
        )
        body = (await client.get(f"{BASE}/{baoding}/evaluation")).json()
        assert body["totals"]["projects"] == 2

    async def test_unknown_pilot_is_404_and_bad_period_422(self, client: httpx.AsyncClient) -> None:
        missing = await client.get(f"{BASE}/00000000-0000-0000-0000-000000000000/evaluation")
        assert missing.status_code == 404
        bad = await client.get(f"{BASE}/{FUTIAN_PILOT}/evaluation", params={"period": "week"})
        assert bad.status_code == 422
        assert bad.json()["errors"][0]["loc"] == ["query", "period"]


class TestPilotScopedKeys:
    async def test_two_pilots_sharing_no_code_never_see_each_others_drafts(
        self, client: httpx.AsyncClient, keys: Keys, app: FastAPI
    ) -> None:
        await library_project(
            app,
            region_code="440304",
            status=ProjectStatus.draft,
            total_investment="3000000.00",
            financing_need="1000000.00",
        )
        await library_project(
            app,
            region_code="110118",
            status=ProjectStatus.draft,
            total_investment="7000000.00",
            financing_need="1000000.00",
        )
        await library_project(
            app, region_code="110118", status=ProjectStatus.in_library, approved_at=at(2026, 3)
        )
        futian_key = await keys.region(f"pilot:{FUTIAN_PILOT}")
        miyun_key = await keys.region(f"pilot:{MIYUN_PILOT}")

        own = (await client.get(f"{BASE}/{FUTIAN_PILOT}/evaluation", headers=futian_key)).json()
        assert own["coverage"] == "library_and_own"
        assert by_key(own["by_status"])["draft"]["total_investment"] == "3000000.00"
        other = (await client.get(f"{BASE}/{MIYUN_PILOT}/evaluation", headers=futian_key)).json()
        assert [g["key"] for g in other["by_status"]] == ["in_library"]
        assert other["totals"]["projects"] == 1

        own = (await client.get(f"{BASE}/{MIYUN_PILOT}/evaluation", headers=miyun_key)).json()
        assert by_key(own["by_status"])["draft"]["total_investment"] == "7000000.00"
        other = (await client.get(f"{BASE}/{FUTIAN_PILOT}/evaluation", headers=miyun_key)).json()
        assert other["by_status"] == []
        assert other["totals"]["projects"] == 0

        for headers, own_draft in ((futian_key, "3000000.00"), (miyun_key, "7000000.00")):
            overview = (await client.get("/api/v1/stats/overview", headers=headers)).json()
            drafts = by_key(overview["by_status"])["draft"]
            assert drafts["projects"] == 1
            assert drafts["total_investment"] == own_draft
