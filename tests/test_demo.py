"""`climatelib demo`: a small sample on a fresh database, checked through the API."""

import contextlib
from collections.abc import AsyncIterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest
import pytest_asyncio

from app.config import Settings
from app.demo import DemoResult, run_demo
from app.main import create_app
from tests.factories import run_cli

PROJECT_STATUSES = [
    "draft",
    "submitted",
    "recommended",
    "in_library",
    "returned",
    "rejected",
    "withdrawn",
    "exited",
]
FUNNEL_STATUSES = [
    "offered",
    "accepted",
    "declined",
    "contacted",
    "due_diligence",
    "financed",
    "not_financed",
]
PROJECTS = 40


def _quiet(database_url: str, store: Path) -> Settings:
    # The checks read every product's matches from one address, faster than a caller may.
    return Settings(
        database_url=database_url, log_level="WARNING", rate_limits=False, storage_dir=str(store)
    )


@contextlib.asynccontextmanager
async def _client(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            yield client


# TestDemo only reads: one demo per database kind serves the whole class.
@pytest.fixture(scope="class")
def demo_settings(class_database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Settings:
    return _quiet(class_database_url, tmp_path_factory.mktemp("demo") / "store")


@pytest_asyncio.fixture(scope="class", loop_scope="class")
async def demo(demo_settings: Settings) -> DemoResult:
    return await run_demo(demo_settings, projects=PROJECTS)


@pytest_asyncio.fixture(scope="class", loop_scope="class")
async def demo_http(demo_settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    async with _client(demo_settings) as client:
        yield client


@pytest.fixture
async def http(database_url: str, tmp_path: Path) -> AsyncIterator[httpx.AsyncClient]:
    async with _client(_quiet(database_url, tmp_path / "store")) as client:
        yield client


async def _all(http: httpx.AsyncClient, url: str, key: str, **params: Any) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    cursor = None
    while True:
        query = {**params, "limit": 200} | ({"cursor": cursor} if cursor else {})
        response = await http.get(url, params=query, headers={"Authorization": f"Bearer {key}"})
        assert response.status_code == 200, response.text
        page = response.json()
        items.extend(page["items"])
        cursor = page["next_cursor"]
        if cursor is None:
            return items


@pytest.mark.asyncio(loop_scope="class")
class TestDemo:
    async def test_projects_reach_every_lifecycle_status(
        self, demo: DemoResult, demo_http: httpx.AsyncClient
    ) -> None:
        projects = await _all(demo_http, "/api/v1/projects", demo.admin_key)
        assert len(projects) == PROJECTS
        by_status = {s: [p for p in projects if p["status"] == s] for s in PROJECT_STATUSES}
        assert all(by_status.values()), {s: len(v) for s, v in by_status.items()}
        assert len(by_status["in_library"]) == max(len(v) for v in by_status.values())
        assert {s: len(v) for s, v in by_status.items()} == dict(demo.projects)
        assert all(p["library_code"].startswith("CIF-") for p in by_status["in_library"])
        categories = {c for p in projects for c in p["categories"]}
        first_level = {c.split(".")[0] for c in categories}
        assert first_level == {f"M{i}" for i in range(1, 7)} | {f"A{i}" for i in range(1, 8)}
        assert {"M2.1", "M2.2"} <= categories
        assert any(p["classifications"] for p in projects)
        transition = [p for p in projects if p["screening"]["outcome"] == "two_high_transition"]
        assert any(p["screening"]["is_two_high"] for p in projects)
        # CCUS at a coal plant: the transition the policy asks for, in the library.
        assert any(
            p["industry_code"] in ("D4411", "D4412")
            and p["fuel"] == "coal"
            and "M4" in p["categories"]
            for p in transition
        )

    async def test_offers_reach_every_funnel_status(
        self, demo: DemoResult, demo_http: httpx.AsyncClient
    ) -> None:
        offers = await _all(demo_http, "/api/v1/engagements", demo.admin_key)
        statuses = {o["status"] for o in offers}
        assert statuses == set(FUNNEL_STATUSES)
        assert len(offers) == sum(demo.offers.values())
        financed = [o for o in offers if o["status"] == "financed"]
        assert all(o["financed_amount"] == o["amount"] for o in financed)

    async def test_stats_overview_counts_the_sample(
        self, demo: DemoResult, demo_http: httpx.AsyncClient
    ) -> None:
        admin = {"Authorization": f"Bearer {demo.admin_key}"}
        overview = (await demo_http.get("/api/v1/stats/overview", headers=admin)).json()
        assert overview["totals"]["projects"] == PROJECTS
        counted = {g["key"]: g["projects"] for g in overview["by_status"]}
        assert counted == dict(demo.projects)
        funnel = overview["offers"]
        assert funnel["offers"] == sum(demo.offers.values())
        assert funnel["financed"] == demo.offers["financed"] >= 1
        assert funnel["declined"] == demo.offers["declined"] >= 1
        assert sum(funnel["not_financed_by_reason"].values()) == demo.offers["not_financed"]
        public = (await demo_http.get("/api/v1/stats/overview")).json()
        # Every project that entered the library counts, exited ones with their reasons.
        assert public["totals"]["projects"] == demo.projects["in_library"] + demo.projects["exited"]
        exits = {g["key"]: g["projects"] for g in public["by_exit_reason"]}
        assert sum(exits.values()) == demo.projects["exited"]
        assert "financing_fulfilled" in exits  # the financed project that left the library
        money = public["offers"]
        assert demo.payments["disbursement"] == demo.offers["financed"]
        signed, disbursed = Decimal(money["signed_amount"]), Decimal(money["disbursed_amount"])
        repaid, outstanding = Decimal(money["repaid_amount"]), Decimal(money["outstanding_amount"])
        assert signed >= disbursed > 0 and outstanding == disbursed - repaid
        assert len(overview["by_pilot"]) == demo.pilots == 23
        assert any(g["projects"] > 0 for g in overview["by_pilot"])

    async def test_part_of_the_library_has_documents_and_verified_results(
        self, demo: DemoResult, demo_http: httpx.AsyncClient
    ) -> None:
        assert demo.documents >= 2 and demo.reports["verified"] >= 1
        projects = await _all(demo_http, "/api/v1/projects", demo.admin_key, status="in_library")
        verified = [p for p in projects if p["verified"]["reports"] > 0]
        assert len(verified) == demo.reports["verified"]
        totals = (await demo_http.get("/api/v1/stats/overview")).json()["totals"]
        assert totals["verified_projects"] == len(verified)
        documents = await demo_http.get(f"/api/v1/projects/{verified[0]['id']}/documents")
        # The public sees the feasibility study, not the restricted verification report.
        assert [d["type"] for d in documents.json()["items"]] == ["feasibility_study"]

    async def test_products_have_ranked_matches(
        self, demo: DemoResult, demo_http: httpx.AsyncClient
    ) -> None:
        admin = {"Authorization": f"Bearer {demo.admin_key}"}
        products = await _all(demo_http, "/api/v1/products", demo.admin_key)
        assert len(products) == demo.products
        green = next(p for p in products if p["name"] == "绿色低碳贷")
        response = await demo_http.get(f"/api/v1/products/{green['id']}/matches", headers=admin)
        matches = response.json()["items"]
        assert matches, "the broad nationwide green loan matches some library project"
        assert all(m["eligible"] and m["score"] is not None for m in matches)
        # Every demo adaptation project states its beneficiaries, so each scores climate points
        # against the other adaptation projects, for every product that takes it.
        adapting = []
        for each in products:
            ranked = await _all(demo_http, f"/api/v1/products/{each['id']}/matches", demo.admin_key)
            adapting += [m for m in ranked if m["project"]["objective"] == "adaptation"]
        assert adapting
        for match in adapting:
            (climate,) = [i for i in match["explanation"] if i["criterion"] == "climate_benefit"]
            assert climate["points"] > 0
            # verified results (MRV) stand in for the stated figure where a project has them
            assert climate["detail"].startswith(
                (
                    "adaptation_beneficiaries (stated)",
                    "verified adaptation_beneficiaries (verified)",
                )
            )
        institutions = await _all(demo_http, "/api/v1/institutions", demo.admin_key)
        assert {i["type"] for i in institutions} >= {"bank", "insurer", "fund", "guarantee"}


async def test_cli_prints_a_working_admin_key_then_refuses_a_second_run(
    database_url: str, http: httpx.AsyncClient, tmp_path: Path
) -> None:
    store = {"CLIMATELIB_STORAGE_DIR": str(tmp_path / "store")}
    first = run_cli("demo", "--projects", "8", database_url=database_url, env=store)
    assert first.returncode == 0, first.stderr
    assert "projects      8" in first.stdout
    key_line = next(line for line in first.stdout.splitlines() if "export ADMIN=" in line)
    key = key_line.split("=", 1)[1]  # the line a shell takes as it is
    response = await http.get("/api/v1/api-keys", headers={"Authorization": f"Bearer {key}"})
    assert response.status_code == 200
    assert "demo admin" in {k["name"] for k in response.json()["items"]}

    second = run_cli("demo", database_url=database_url, env=store)
    assert second.returncode == 1
    assert second.stdout == ""
    assert "already holds the demo" in second.stderr
