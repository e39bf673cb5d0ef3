"""Revision 0012 carries existing rows forward: pilot codes keep their coverage (is_partial →
coverage), 两江新区 gets the 2025 change, and existing projects get a pilot_id only where a pilot's
full code holds them, never by a partial code; read back through HTTP on both databases."""

import asyncio
import uuid
from datetime import UTC, datetime
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
from tests.factories import FUTIAN_PILOT, LIANGJIANG_PILOT, project_row

NOW = datetime(2026, 12, 1, tzinfo=UTC)
BAODING_PILOT = "850536eb-8208-5a68-b688-ae5c3db44bbe"  # 河北省保定市, 130600
OWN_PILOT = uuid.uuid4()  # a second-batch pilot stored before 0012

# project name → (region code, the pilot it belongs to after the upgrade)
PROJECTS: dict[str, tuple[str, str | None]] = {
    "liangjiang": ("500157", LIANGJIANG_PILOT),  # 两江新区's own code: full
    "beibei": ("500109", None),  # 北碚区: 两江 covers it only in part
    "jiangbei_old": ("500105", None),  # 江北区 (abolished): partial
    "futian": ("440304", FUTIAN_PILOT),
    "baoding_county": ("130602", BAODING_PILOT),  # below the city's full code
    "nanshan": ("440305", None),  # in no pilot
    "own_full": ("440306", str(OWN_PILOT)),
    "own_partial": ("440307", None),
}


def _previous_revision(url: str) -> str:
    down = ScriptDirectory.from_config(alembic_config(url)).get_revision("0012").down_revision
    assert isinstance(down, str)
    return down


# pilot_transitions as the models typed it before revision 0014 moved it into the audit store.
_OLD_TRANSITIONS = sa.Table(
    "pilot_transitions",
    sa.MetaData(),
    sa.Column("id", sa.Uuid()),
    sa.Column("pilot_id", sa.Uuid()),
    sa.Column("actor_key_id", sa.Uuid()),
    sa.Column("at", sa.DateTime(timezone=True)),
    sa.Column("changes", sa.JSON()),
)


def _table(sync: sa.Connection, name: str) -> sa.TableClause:
    """The table as it is now, typed as the models type its columns; a column the models no
    longer have is the old flag is_partial (or a column of the old pilot_transitions)."""
    model = Base.metadata.tables[name].c if name in Base.metadata.tables else _OLD_TRANSITIONS.c
    columns = [
        sa.column(
            c["name"],
            model[c["name"]].type
            if c["name"] in model
            else (c["type"] if name == "pilot_transitions" else sa.Boolean()),
        )
        for c in sa.inspect(sync).get_columns(name)
    ]
    return sa.table(name, *columns)


def _old_project(name: str, code: str) -> dict[str, Any]:
    values = project_row(region_code=code, status="draft", name=name)
    # Columns of the revisions before this one that a raw insert must fill itself.
    values.update(id=uuid.uuid4(), version=1, created_at=NOW, updated_at=NOW, primary_category="M2")
    return values


async def _insert(url: str) -> None:
    engine = create_async_engine(async_url(url))
    try:
        async with engine.begin() as conn:

            def write(sync: sa.Connection) -> None:
                pilots, regions, transitions, projects = (
                    _table(sync, name)
                    for name in ("pilots", "pilot_regions", "pilot_transitions", "projects")
                )
                assert "is_partial" in {c.name for c in regions.c}
                sync.execute(
                    pilots.insert(),
                    {
                        "id": OWN_PILOT,
                        "name": "某新区",
                        "kind": "national_new_area",
                        "province_code": "44",
                        "batch": 2,
                        "status": "provincial_review",
                        "created_at": NOW,
                        "updated_at": NOW,
                    },
                )
                sync.execute(
                    regions.insert(),
                    [
                        {"pilot_id": OWN_PILOT, "region_code": "440306", "is_partial": False},
                        {"pilot_id": OWN_PILOT, "region_code": "440307", "is_partial": True},
                    ],
                )
                sync.execute(
                    transitions.insert(),
                    {
                        "id": uuid.uuid4(),
                        "pilot_id": OWN_PILOT,
                        "action": "submit",
                        "from_status": "applying",
                        "to_status": "provincial_review",
                        "reason": None,
                        "actor_role": "admin",
                        "actor_key_id": None,
                        "at": NOW,
                    },
                )
                for name, (code, _) in PROJECTS.items():
                    sync.execute(projects.insert(), _old_project(name, code))

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
            listed = await client.get("/api/v1/projects", headers=headers, params={"limit": 50})
            assert listed.status_code == 200, listed.text
            pilot_of = {p["name"]: p["pilot_id"] for p in listed.json()["items"]}
            assert pilot_of == {name: pilot for name, (_, pilot) in PROJECTS.items()}

            own = (await client.get(f"/api/v1/pilots/{OWN_PILOT}")).json()
            assert [(r["code"], r["coverage"], r["valid_to"]) for r in own["regions"]] == [
                ("440306", "full", None),
                ("440307", "partial", None),
            ]
            history = (await client.get(f"/api/v1/pilots/{OWN_PILOT}/history")).json()["items"]
            assert [(h["action"], h["codes"]) for h in history] == [("submit", None)]

            liangjiang = (await client.get(f"/api/v1/pilots/{LIANGJIANG_PILOT}")).json()
            assert [
                (r["code"], r["coverage"], r["valid_from"], r["valid_to"])
                for r in liangjiang["regions"]
            ] == [
                ("500157", "full", "2025-11-06", None),
                ("500105", "partial", None, "2025-11-05"),
                ("500109", "partial", None, None),
                ("500112", "partial", None, "2025-11-05"),
            ]
            evaluation = await client.get(
                f"/api/v1/pilots/{LIANGJIANG_PILOT}/evaluation", headers=headers
            )
            assert evaluation.json()["totals"]["projects"] == 1
            by_filter = await client.get(
                "/api/v1/projects", headers=headers, params={"pilot_id": LIANGJIANG_PILOT}
            )
            assert [p["name"] for p in by_filter.json()["items"]] == ["liangjiang"]


def test_existing_rows_are_carried_forward(database_url: str) -> None:
    config = alembic_config(database_url)
    command.downgrade(config, _previous_revision(database_url))
    asyncio.run(_insert(database_url))
    upgrade(database_url)
    asyncio.run(_read(database_url))


def test_downgrade_keeps_coverage_as_is_partial(database_url: str) -> None:
    """Down again: codes are plain is_partial flags, membership and code edits are gone."""
    config = alembic_config(database_url)
    command.downgrade(config, _previous_revision(database_url))

    async def flags() -> dict[str, bool]:
        engine = create_async_engine(async_url(database_url))
        try:
            async with engine.connect() as conn:

                def read(sync: sa.Connection) -> dict[str, bool]:
                    regions = _table(sync, "pilot_regions")
                    assert "coverage" not in {c.name for c in regions.c}
                    rows = sync.execute(
                        sa.select(regions.c.region_code, regions.c.is_partial).where(
                            regions.c.pilot_id == uuid.UUID(LIANGJIANG_PILOT)
                        )
                    )
                    return {code: bool(partial) for code, partial in rows}

                return await conn.run_sync(read)
        finally:
            await engine.dispose()

    assert asyncio.run(flags()) == {
        "500157": False,
        "500105": True,
        "500109": True,
        "500112": True,
    }
    upgrade(database_url)
