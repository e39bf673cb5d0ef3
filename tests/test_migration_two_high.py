"""Revision 0008 carries existing rows forward: projects screened by the old rules get the new
outcomes (4411/4412 plants taken as coal-fired, as the old rule took them), products keep their
flag under its new name, and the service answers them through HTTP on both databases."""

import asyncio
import uuid
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import httpx
import sqlalchemy as sa
from alembic import command
from alembic.script import ScriptDirectory
from sqlalchemy.ext.asyncio import create_async_engine

from app.config import Settings
from app.db import async_url
from app.main import create_app
from app.migrate import alembic_config, upgrade
from app.models import Base, Role
from app.services import api_keys
from tests.factories import make_uscc, project_row

NOW = datetime(2026, 11, 30, tzinfo=UTC)


def _old_project(status: str, **overrides: Any) -> dict[str, Any]:
    """A project as the old rules stored it: its reasons as a bare list and the retrofit flag."""
    code = overrides.pop("old_code")
    values = project_row(status=status, **overrides)
    for new in ("two_high_outcome", "fuel", "capacity_replacement"):
        values.pop(new, None)
    values.update(
        id=uuid.uuid4(),
        version=1,
        created_at=NOW,
        updated_at=NOW,
        is_two_high=code != "not_two_high",
        is_two_high_retrofit=code == "two_high_retrofit",
        screening=[{"code": code, "message": "old rule", "sector": None}],
    )
    return values


# name → (old row, expected outcome, rule, fuel)
CASES: dict[str, tuple[dict[str, Any], str, str, str | None]] = {
    # refused before (retrofit outside M3); CCUS is a transition project now
    "ccus_coal": (
        _old_project(
            "draft",
            industry_code="D4411",
            nature="retrofit",
            categories=["M4"],
            old_code="two_high_project",
        ),
        "two_high_transition",
        "two_high.transition_in_place",
        "coal",
    ),
    "cement_m3": (
        _old_project(
            "in_library",
            industry_code="C3011",
            nature="retrofit",
            categories=["M3"],
            old_code="two_high_retrofit",
        ),
        "two_high_transition",
        "two_high.transition_in_place",
        None,
    ),
    "solar": (
        _old_project("in_library", old_code="not_two_high"),
        "not_two_high",
        "two_high.not_listed",
        None,
    ),
    "new_steel": (
        _old_project(
            "draft",
            industry_code="C3110",
            nature="new_build",
            categories=["M3"],
            old_code="two_high_project",
        ),
        "two_high_refused",
        "two_high.refused_new_capacity",
        None,
    ),
    # flagged (not refused) before; without M3/M4/M5 the new rules refuse it
    "chp_operation": (
        _old_project(
            "submitted",
            industry_code="D4412",
            nature="operation",
            categories=["M2"],
            old_code="two_high_industry",
        ),
        "two_high_refused",
        "two_high.refused_no_transition_category",
        "coal",
    ),
}


def _previous_revision(url: str) -> str:
    down = ScriptDirectory.from_config(alembic_config(url)).get_revision("0008").down_revision
    assert isinstance(down, str)
    return down


def _table(sync: sa.Connection, name: str) -> sa.TableClause:
    """The table as it is now, typed as the models type its columns (SQLite reflects a UUID as
    CHAR); the columns the models no longer have are the old flags."""
    model = Base.metadata.tables[name].c
    columns = [
        sa.column(c["name"], model[c["name"]].type if c["name"] in model else sa.Boolean())
        for c in sa.inspect(sync).get_columns(name)
    ]
    return sa.table(name, *columns)


async def _insert(url: str, products: dict[str, bool]) -> str:
    """The old rows; returns the institution's id."""
    engine = create_async_engine(async_url(url))
    institution_id = uuid.uuid4()
    try:
        async with engine.begin() as conn:

            def write(sync: sa.Connection) -> None:
                tables = {
                    name: _table(sync, name) for name in ("projects", "institutions", "products")
                }
                sync.execute(
                    tables["institutions"].insert(),
                    {
                        "id": institution_id,
                        "name": "某银行",
                        "uscc": make_uscc(),
                        "type": "bank",
                        "created_at": NOW,
                    },
                )
                for name, (row, *_) in CASES.items():
                    sync.execute(tables["projects"].insert(), {**row, "name": name})
                for name, accepts in products.items():
                    sync.execute(
                        tables["products"].insert(),
                        {
                            "id": uuid.uuid4(),
                            "institution_id": institution_id,
                            "name": name,
                            "description": "",
                            "type": "green_loan",
                            "status": "active",
                            "quota_used": Decimal("0.00"),
                            "requires_verification": False,
                            "accepts_two_high_retrofit": accepts,
                            "version": 1,
                            "created_at": NOW,
                            "updated_at": NOW,
                        },
                    )

            await conn.run_sync(write)
    finally:
        await engine.dispose()
    return str(institution_id)


async def _read(url: str, institution_id: str) -> None:
    app = create_app(Settings(database_url=url, log_level="WARNING", rate_limits=False))
    async with app.router.lifespan_context(app):
        async with app.state.sessions.begin() as session:
            _, admin = await api_keys.create(session, name="admin", role=Role.admin, scope=None)
            _, region = await api_keys.create(
                session, name="futian", role=Role.region, scope="440304"
            )
            _, bank = await api_keys.create(
                session, name="bank", role=Role.institution, scope=institution_id
            )
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            headers = {"Authorization": f"Bearer {admin}"}
            listed = await client.get("/api/v1/projects", headers=headers)
            assert listed.status_code == 200, listed.text
            by_name = {p["name"]: p for p in listed.json()["items"]}
            assert set(by_name) == set(CASES)
            for name, (_, outcome, rule, fuel) in CASES.items():
                screening = by_name[name]["screening"]
                assert (screening["outcome"], screening["rule_id"]) == (outcome, rule), name
                assert screening["rule_version"] == "2026.12", name
                assert screening["flagged_for_review"] == (outcome == "two_high_transition")
                assert by_name[name]["fuel"] == fuel, name
                assert by_name[name]["capacity_replacement"] is False
            # The refused CCUS draft of before now goes through.
            ccus = by_name["ccus_coal"]
            submitted = await client.post(
                f"/api/v1/projects/{ccus['id']}/transitions",
                json={"action": "submit"},
                headers={"Authorization": f"Bearer {region}", "If-Match": '"1"'},
            )
            assert submitted.status_code == 200, submitted.text
            assert submitted.json()["screening"]["outcome"] == "two_high_transition"
            products = await client.get(
                "/api/v1/products", headers={"Authorization": f"Bearer {bank}"}
            )
            flags = {p["name"]: p["accepts_two_high_transition"] for p in products.json()["items"]}
            assert flags == {"refuses": False, "accepts": True}
            for product in products.json()["items"]:
                matches = await client.get(
                    f"/api/v1/products/{product['id']}/matches",
                    headers={"Authorization": f"Bearer {bank}"},
                )
                names = {
                    by_id["name"]
                    for item in matches.json()["items"]
                    for by_id in [_by_id(by_name, item["project_id"])]
                }
                expected = {"solar"} if product["name"] == "refuses" else {"solar", "cement_m3"}
                assert names == expected, product["name"]


def _by_id(by_name: dict[str, dict[str, Any]], project_id: str) -> dict[str, Any]:
    return next(p for p in by_name.values() if p["id"] == project_id)


def test_existing_rows_are_carried_forward(database_url: str) -> None:
    config = alembic_config(database_url)
    command.downgrade(config, _previous_revision(database_url))
    institution_id = asyncio.run(_insert(database_url, {"refuses": False, "accepts": True}))
    upgrade(database_url)
    asyncio.run(_read(database_url, institution_id))
