"""Revision 0010 carries existing rows forward: every project gets its primary category (its
first category in taxonomy order: the stored mask keeps no order of listing), exited projects
keep a null exit reason (nobody stated one), and the figures count them through HTTP on both
databases."""

import asyncio
import uuid
from datetime import UTC, datetime
from typing import Any

import httpx
import sqlalchemy as sa
from alembic import command
from sqlalchemy.ext.asyncio import create_async_engine

from app.config import Settings
from app.db import async_url
from app.main import create_app
from app.migrate import alembic_config, upgrade
from app.models import Base, Role
from app.services import api_keys
from tests.factories import project_row

NOW = datetime(2026, 12, 1, tzinfo=UTC)

# name → (status, categories, objective, primary category expected)
CASES: dict[str, tuple[str, list[str], str, str]] = {
    "adaptation_first_listed": ("in_library", ["A1", "M3"], "both", "M3"),
    "single": ("in_library", ["A2"], "adaptation", "A2"),
    "exited_solar": ("exited", ["M2", "M6"], "mitigation", "M2"),
    "draft": ("draft", ["M4"], "mitigation", "M4"),
}


def _row(name: str, status: str, categories: list[str], objective: str) -> dict[str, Any]:
    values = project_row(
        status=status,
        categories=categories,
        objective=objective,
        name=name,
        total_investment="1000000.00",
        financing_need="1000000.00",
        annual_emission_reduction_tco2e=0.1,
        adaptation_benefit="防洪" if objective != "mitigation" else None,
    )
    if status == "exited":
        values.update(library_code="CIF-440304-2026-99999", approved_at=NOW)
    values.update(id=uuid.uuid4(), version=1, created_at=NOW, updated_at=NOW)
    return values


async def _insert(url: str) -> None:
    engine = create_async_engine(async_url(url))
    try:
        async with engine.begin() as conn:

            def write(sync: sa.Connection) -> None:
                model = Base.metadata.tables["projects"].c
                names = [c["name"] for c in sa.inspect(sync).get_columns("projects")]
                assert "primary_category" not in names and "exit_reason" not in names
                projects = sa.table("projects", *(sa.column(n, model[n].type) for n in names))
                for name, (status, categories, objective, _) in CASES.items():
                    row = _row(name, status, categories, objective)
                    sync.execute(projects.insert(), {k: v for k, v in row.items() if k in names})

            await conn.run_sync(write)
    finally:
        await engine.dispose()


async def _read(url: str) -> None:
    app = create_app(Settings(database_url=url, log_level="WARNING", rate_limits=False))
    async with app.router.lifespan_context(app):
        async with app.state.sessions.begin() as session:
            _, admin = await api_keys.create(session, name="admin", role=Role.admin, scope=None)
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            headers = {"Authorization": f"Bearer {admin}"}
            listed = await client.get("/api/v1/projects", headers=headers)
            assert listed.status_code == 200, listed.text
            by_name = {p["name"]: p for p in listed.json()["items"]}
            for name, (status, _, _, primary) in CASES.items():
                assert by_name[name]["primary_category"] == primary, name
                assert by_name[name]["exit_reason"] is None, name
                assert by_name[name]["status"] == status
            # The exited project is a public record now, and counts in the public figures.
            exited = by_name["exited_solar"]
            assert (await client.get(f"/api/v1/projects/{exited['id']}")).status_code == 200
            stats = (await client.get("/api/v1/stats/overview")).json()
            assert stats["totals"]["projects"] == 3
            assert stats["totals"]["annual_emission_reduction_tco2e"] == "0.300"
            assert {g["key"]: g["projects"] for g in stats["by_status"]} == {
                "exited": 1,
                "in_library": 2,
            }
            assert [(g["key"], g["projects"]) for g in stats["by_exit_reason"]] == [
                ("unspecified", 1)
            ]
            counted = {g["key"]: g["projects"] for g in stats["by_category"] if g["projects"]}
            assert counted == {"M2": 1, "M3": 1, "A2": 1}


def test_existing_rows_are_carried_forward(database_url: str) -> None:
    command.downgrade(alembic_config(database_url), "0008")
    asyncio.run(_insert(database_url))
    upgrade(database_url)
    asyncio.run(_read(database_url))
