"""Revision 0009 carries existing rows forward: stored category masks keep their meaning, every
project is stated to be classified under taxonomy 2026.1 with no external classifications, and
products target no catalogue code; a downgrade folds a second-level code into its parent. On
both databases, through HTTP."""

import asyncio
import uuid
from datetime import UTC, datetime
from decimal import Decimal
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
from tests.factories import make_uscc, project_payload, project_row

NOW = datetime(2026, 12, 1, tzinfo=UTC)
# name → categories as the old service stored them (first-level bits only)
OLD: dict[str, list[str]] = {
    "solar": ["M2"],
    "resilient_solar": ["M2", "A6"],
    "forest": ["M6", "A3"],
}


def _table(sync: sa.Connection, name: str) -> sa.TableClause:
    """The table as it is now, typed as the models type its columns."""
    model = Base.metadata.tables[name].c
    return sa.table(
        name,
        *(sa.column(c["name"], model[c["name"]].type) for c in sa.inspect(sync).get_columns(name)),
    )


async def _run(url: str, work: Any) -> Any:
    engine = create_async_engine(async_url(url))
    try:
        async with engine.begin() as conn:
            return await conn.run_sync(work)
    finally:
        await engine.dispose()


def _insert_old(sync: sa.Connection) -> str:
    columns = {c["name"] for c in sa.inspect(sync).get_columns("projects")}
    assert "taxonomy_version" not in columns and "classifications" not in columns
    projects = _table(sync, "projects")
    for name, categories in OLD.items():
        row = project_row(status="in_library", categories=categories, name=name)
        row.update(id=uuid.uuid4(), version=1, created_at=NOW, updated_at=NOW)
        row["objective"] = "both" if len(categories) > 1 else "mitigation"
        sync.execute(projects.insert(), row)
    institution_id = uuid.uuid4()
    sync.execute(
        _table(sync, "institutions").insert(),
        {
            "id": institution_id,
            "name": "某银行",
            "uscc": make_uscc(),
            "type": "bank",
            "created_at": NOW,
        },
    )
    sync.execute(
        _table(sync, "products").insert(),
        {
            "id": uuid.uuid4(),
            "institution_id": institution_id,
            "name": "old loan",
            "description": "",
            "type": "green_loan",
            "status": "active",
            "categories": ["M2"],
            "quota_used": Decimal("0.00"),
            "requires_verification": False,
            "accepts_two_high_transition": True,
            "version": 1,
            "created_at": NOW,
            "updated_at": NOW,
        },
    )
    return str(institution_id)


def _masks(sync: sa.Connection) -> dict[str, int]:
    rows = sync.execute(sa.text("SELECT name, categories_mask FROM projects")).all()
    return {str(name): int(mask) for name, mask in rows}


async def _check_upgraded(url: str, institution_id: str) -> None:
    """Reads the carried rows through HTTP and adds an M2.2 project."""
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
            listed = (await client.get("/api/v1/projects", headers=headers)).json()["items"]
            by_name = {p["name"]: p for p in listed}
            assert set(by_name) == set(OLD)
            for name, categories in OLD.items():
                assert sorted(by_name[name]["categories"]) == sorted(categories), name
                assert by_name[name]["taxonomy_version"] == "2026.1"
                assert by_name[name]["classifications"] == []
            m2 = await client.get("/api/v1/projects", params={"category": "M2"}, headers=headers)
            assert {p["name"] for p in m2.json()["items"]} == {"solar", "resilient_solar"}
            products = await client.get(
                "/api/v1/products", headers={"Authorization": f"Bearer {bank}"}
            )
            (old,) = products.json()["items"]
            assert old["categories"] == ["M2"] and old["gfc_codes"] is None
            matches = await client.get(
                f"/api/v1/products/{old['id']}/matches",
                headers={"Authorization": f"Bearer {bank}"},
            )
            assert len(matches.json()["items"]) == 2
            created = await client.post(
                "/api/v1/projects",
                json=project_payload(name="wind", categories=["M2.2"]),
                headers={"Authorization": f"Bearer {region}"},
            )
            assert created.status_code == 201, created.text


def test_existing_rows_are_carried_forward(database_url: str) -> None:
    config = alembic_config(database_url)
    command.downgrade(config, "0008")
    institution_id = asyncio.run(_run(database_url, _insert_old))
    before = asyncio.run(_run(database_url, _masks))
    upgrade(database_url)
    assert asyncio.run(_run(database_url, _masks)) == before
    asyncio.run(_check_upgraded(database_url, institution_id))
    # Down again: the wind project's M2.2 folds into the M2 bit its mask already holds.
    command.downgrade(config, "0008")
    masks = asyncio.run(_run(database_url, _masks))
    assert masks["wind"] == 1 << 1
    assert {k: v for k, v in masks.items() if k != "wind"} == before
    upgrade(database_url)
    assert asyncio.run(_run(database_url, _masks))["wind"] == 1 << 1
