"""Revision 0014 moves pilot history into the audit store: the rows of ``pilot_transitions``
become events of their pilots, in their order, keeping role, key, from, to, why and the codes
before and after; the history answers them in the same shape over HTTP, the sealer chains them,
and the downgrade carries them back. Both databases."""

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
from app.models import Role
from app.services import api_keys, audit_chain
from tests.factories import FUTIAN_PILOT

NOW = datetime(2026, 12, 1, tzinfo=UTC)
KEY = uuid.uuid4()
CODES = {
    "before": [{"code": "440304", "coverage": "full", "valid_from": None, "valid_to": None}],
    "after": [{"code": "440304", "coverage": "partial", "valid_from": None, "valid_to": None}],
}
TRANSITIONS = sa.table(
    "pilot_transitions",
    *(
        sa.column(name, type_)
        for name, type_ in list[tuple[str, Any]](
            [
                ("id", sa.Uuid()),
                ("pilot_id", sa.Uuid()),
                ("action", sa.String()),
                ("from_status", sa.String()),
                ("to_status", sa.String()),
                ("reason", sa.Text()),
                ("changes", sa.JSON()),
                ("actor_role", sa.String()),
                ("actor_key_id", sa.Uuid()),
                ("at", sa.DateTime(timezone=True)),
            ]
        )
    ),
)
# (action, from, to, reason, codes, key), oldest first; inserted newest first below.
STEPS: list[tuple[str, str, str, str | None, Any, uuid.UUID | None]] = [
    ("replace_codes", "approved", "approved", "边界调整", CODES, KEY),
    ("accept", "approved", "accepted", None, None, None),
]


async def _run(url: str, statement: Any) -> list[Any]:
    engine = create_async_engine(async_url(url))
    try:
        async with engine.begin() as conn:
            result = await conn.execute(statement)
            return list(result.mappings()) if result.returns_rows else []
    finally:
        await engine.dispose()


async def _insert(url: str) -> None:
    for n, (action, start, end, reason, codes, key) in reversed(list(enumerate(STEPS))):
        await _run(
            url,
            TRANSITIONS.insert().values(
                id=uuid.uuid4(),
                pilot_id=uuid.UUID(FUTIAN_PILOT),
                action=action,
                from_status=start,
                to_status=end,
                reason=reason,
                changes=codes,
                actor_role="admin",
                actor_key_id=key,
                at=NOW + timedelta(minutes=n),
            ),
        )


async def _read(url: str) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    app = create_app(Settings(database_url=url, log_level="WARNING", audit_seal_interval_s=0))
    async with app.router.lifespan_context(app):
        async with app.state.sessions.begin() as session:
            _, admin = await api_keys.create(session, name="admin", role=Role.admin, scope=None)
        await app.state.audit_sealer.seal()
        async with app.state.sessions() as session:
            verdict = await audit_chain.verify(session)
        assert verdict.ok and verdict.checked >= 2, verdict
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            history = await client.get(f"/api/v1/pilots/{FUTIAN_PILOT}/history")
            events = await client.get(
                "/api/v1/audit",
                params={"object_id": FUTIAN_PILOT},
                headers={"Authorization": f"Bearer {admin}"},
            )
            assert history.status_code == 200 and events.status_code == 200
            return list(history.json()["items"]), list(events.json()["items"])


def test_pilot_history_moves_into_the_audit_store_and_back(database_url: str) -> None:
    config = alembic_config(database_url)
    command.downgrade(config, "0013")
    asyncio.run(_insert(database_url))
    upgrade(database_url)

    history, events = asyncio.run(_read(database_url))
    assert [(h["action"], h["from_status"], h["to_status"], h["reason"]) for h in history] == [
        (action, start, end, reason) for action, start, end, reason, _, _ in STEPS
    ]
    assert history[0]["codes"] == CODES and history[1]["codes"] is None
    assert [(e["action"], e["object_type"], e["actor_key_id"]) for e in events] == [
        ("replace_codes", "pilot", str(KEY)),
        ("accept", "pilot", None),
    ]
    assert all(e["request_id"] is None and e["actor_scope"] is None for e in events)
    assert events[0]["changes"] == {"codes": CODES}

    command.downgrade(config, "0013")
    rows = asyncio.run(_run(database_url, sa.select(TRANSITIONS).order_by(TRANSITIONS.c.at)))
    assert [(r["action"], r["changes"], r["actor_key_id"]) for r in rows] == [
        ("replace_codes", CODES, KEY),
        ("accept", None, None),
    ]
    upgrade(database_url)  # the events stayed in the store: not copied twice
    again, _ = asyncio.run(_read(database_url))
    assert [h["action"] for h in again] == ["replace_codes", "accept"]
