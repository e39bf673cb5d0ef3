"""Revision 0011 carries project history forward: the rows of ``project_transitions`` become
events of the audit store, in their order, and the history answers them over HTTP; the downgrade
carries the lifecycle steps back. Both databases."""

import asyncio
import uuid
from datetime import UTC, datetime, timedelta
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

NOW = datetime(2026, 11, 30, tzinfo=UTC)
KEY = uuid.uuid4()
# (action, from, to, reason, actor role, actor scope), oldest first.
STEPS: list[tuple[str, str | None, str, str | None, str, str | None]] = [
    ("create", None, "draft", None, "region", "440304"),
    ("submit", "draft", "submitted", None, "region", "440304"),
    ("return", "submitted", "returned", "Baseline missing.", "reviewer", "44"),
    ("submit", "returned", "submitted", None, "region", "440304"),
    ("recommend", "submitted", "recommended", None, "reviewer", "44"),
    ("approve", "recommended", "in_library", None, "admin", None),
]


def _projects(sync: sa.Connection) -> sa.TableClause:
    """The projects table as revision 0008 has it, typed as the models type its columns."""
    stored = {c["name"] for c in sa.inspect(sync).get_columns("projects")}
    model = Base.metadata.tables["projects"].c
    return sa.table("projects", *(sa.column(c.name, c.type) for c in model if c.name in stored))


def _project() -> dict[str, Any]:
    values = project_row()
    values.update(id=uuid.uuid4(), version=1, created_at=NOW, updated_at=NOW)
    return values


async def _insert(url: str, project: dict[str, Any]) -> None:
    engine = create_async_engine(async_url(url))
    try:
        async with engine.begin() as conn:

            def write(sync: sa.Connection) -> None:
                projects = _projects(sync)
                kept = {c.name for c in projects.columns}
                sync.execute(projects.insert(), {k: v for k, v in project.items() if k in kept})
                transitions = sa.table(
                    "project_transitions",
                    *(
                        sa.column(name, type_)
                        for name, type_ in list[tuple[str, Any]](
                            [
                                ("id", sa.Uuid()),
                                ("project_id", sa.Uuid()),
                                ("action", sa.String()),
                                ("from_status", sa.String()),
                                ("to_status", sa.String()),
                                ("reason", sa.Text()),
                                ("actor_role", sa.String()),
                                ("actor_scope", sa.String()),
                                ("actor_key_id", sa.Uuid()),
                                ("at", sa.DateTime(timezone=True)),
                                ("screening", sa.JSON()),
                            ]
                        )
                    ),
                )
                # Inserted newest first: the order comes from the time, not the insertion.
                for n, (action, start, end, reason, role, scope) in reversed(
                    list(enumerate(STEPS))
                ):
                    sync.execute(
                        transitions.insert(),
                        {
                            "id": uuid.uuid4(),
                            "project_id": project["id"],
                            "action": action,
                            "from_status": start,
                            "to_status": end,
                            "reason": reason,
                            "actor_role": role,
                            "actor_scope": scope,
                            "actor_key_id": KEY,
                            "at": NOW + timedelta(minutes=n),
                            "screening": project["screening"] if n == 0 else None,
                        },
                    )

            await conn.run_sync(write)
    finally:
        await engine.dispose()


async def _history(url: str, project_id: uuid.UUID) -> list[dict[str, Any]]:
    app = create_app(Settings(database_url=url, log_level="WARNING", rate_limits=False))
    async with app.router.lifespan_context(app):
        async with app.state.sessions.begin() as session:
            _, admin = await api_keys.create(session, name="admin", role=Role.admin, scope=None)
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            answer = await client.get(
                f"/api/v1/projects/{project_id}/history",
                headers={"Authorization": f"Bearer {admin}"},
            )
            assert answer.status_code == 200, answer.text
            return list(answer.json()["items"])


async def _old_steps(url: str) -> list[tuple[Any, ...]]:
    engine = create_async_engine(async_url(url))
    try:
        async with engine.connect() as conn:
            rows = await conn.execute(
                sa.text(
                    "SELECT action, from_status, to_status, reason, actor_role, actor_scope"
                    " FROM project_transitions ORDER BY at"
                )
            )
            return [tuple(row) for row in rows]
    finally:
        await engine.dispose()


def test_transitions_become_audit_events_and_come_back(database_url: str) -> None:
    config = alembic_config(database_url)
    command.downgrade(config, "0008")
    project = _project()
    asyncio.run(_insert(database_url, project))
    upgrade(database_url)
    history = asyncio.run(_history(database_url, project["id"]))
    assert [
        (h["action"], h["from_status"], h["to_status"], h["reason"], h["actor_role"])
        for h in history
    ] == [step[:5] for step in STEPS]
    assert [h["actor_scope"] for h in history] == [step[5] for step in STEPS]
    assert all(h["actor_key_id"] == str(KEY) for h in history)
    assert history[0]["screening"]["rule_id"] == project["screening"]["rule_id"]
    assert all(h["screening"] is None for h in history[1:])
    ids = [h["id"] for h in history]
    assert ids == sorted(ids)
    assert history[1]["at"].startswith("2026-11-30T00:01:00")
    command.downgrade(config, "0008")
    assert asyncio.run(_old_steps(database_url)) == list(STEPS)
    upgrade(database_url)
