"""Writing and reading the audit store and its chain: appends only (the database refuses the
rest). The rules of sealing and verifying are in app/services/audit_chain.py."""

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import RowMapping, Table, func, insert, select, text, true
from sqlalchemy.ext.asyncio import AsyncSession

from app.auth import Principal
from app.models import AuditEvent, AuditSeal, Role
from app.models.project import Project
from app.repositories.pagination import SortKey, next_cursor, paginate
from app.repositories.reach import reach_clause


def _table(model: type[AuditEvent] | type[AuditSeal]) -> Table:
    table = model.__table__
    assert isinstance(table, Table)  # noqa: S101 - narrows the type for Core statements
    return table


_EVENTS = _table(AuditEvent)
_SEALS = _table(AuditSeal)
# The sealer's advisory lock on PostgreSQL (one sealer at a time across processes).
_SEALER_LOCK = 0x61756469745F6368  # "audit_ch"


async def append(session: AsyncSession, events: Sequence[dict[str, Any]]) -> None:
    """Append events in the order given: their ids follow it."""
    if events:
        await session.execute(insert(_EVENTS), list(events))


_BY_ID = [SortKey(AuditEvent.id, kind=int)]


async def of_object(
    session: AsyncSession,
    object_type: str,
    object_id: uuid.UUID,
    *,
    cursor: str | None,
    limit: int,
    actions: Sequence[str] | None = None,
) -> tuple[list[AuditEvent], str | None]:
    """A page of one object's events (of ``actions`` only, if given), oldest first."""
    stmt = select(AuditEvent).where(
        AuditEvent.object_id == object_id, AuditEvent.object_type == object_type
    )
    if actions is not None:
        stmt = stmt.where(AuditEvent.action.in_(actions))
    rows = list((await session.scalars(paginate(stmt, _BY_ID, cursor, limit, "id"))).all())
    return rows[:limit], next_cursor(rows, _BY_ID, limit, "id", lambda e: (e.id,))


async def page(
    session: AsyncSession,
    principal: Principal,
    *,
    object_id: uuid.UUID | None,
    actor_key_id: uuid.UUID | None,
    since: datetime | None,
    cursor: str | None,
    limit: int,
) -> tuple[list[AuditEvent], str | None]:
    """A page of the events ``principal`` may read, oldest first: the administrator every
    event; a region or reviewer key the events of the projects it holds (``reach_clause``)."""
    stmt = select(AuditEvent)
    if principal.role is not Role.admin:
        stmt = stmt.join(Project, Project.id == AuditEvent.object_id).where(
            AuditEvent.object_type == "project", reach_clause(principal)
        )
    conditions = [
        AuditEvent.object_id == object_id if object_id is not None else true(),
        AuditEvent.actor_key_id == actor_key_id if actor_key_id is not None else true(),
        AuditEvent.at >= since if since is not None else true(),
    ]
    stmt = stmt.where(*conditions)
    rows = list((await session.scalars(paginate(stmt, _BY_ID, cursor, limit, "id"))).all())
    return rows[:limit], next_cursor(rows, _BY_ID, limit, "id", lambda e: (e.id,))


def ever_submitted(project_id: Any) -> Any:
    """An EXISTS clause: the project has been sent to review at least once."""
    return (
        select(AuditEvent.id)
        .where(
            AuditEvent.object_id == project_id,
            AuditEvent.object_type == "project",
            AuditEvent.to_status == "submitted",
        )
        .exists()
    )


# ---- the chain ------------------------------------------------------------------------------


_EVENT_COLUMNS = tuple(c.name for c in _EVENTS.columns)


def event_columns() -> tuple[str, ...]:
    """The audit event's columns, in table order: what the canonical JSON of an event holds."""
    return _EVENT_COLUMNS


async def take_sealer_lock(session: AsyncSession) -> bool:
    """Hold the sealer's place until the transaction ends, unless another sealer holds it.

    PostgreSQL: a transaction-level advisory lock, taken without waiting. SQLite: the caller's
    ``BEGIN IMMEDIATE`` transaction already shuts out every other writer, sealers included.
    """
    if session.get_bind().dialect.name != "postgresql":
        return True
    locked = await session.execute(select(func.pg_try_advisory_xact_lock(_SEALER_LOCK)))
    return bool(locked.scalar_one())


async def head(session: AsyncSession) -> AuditSeal | None:
    """The latest link of the chain, or None before the first seal."""
    return await session.scalar(select(AuditSeal).order_by(AuditSeal.event_id.desc()).limit(1))


async def head_link(session: AsyncSession) -> tuple[int, str] | None:
    """The latest link as (event id, hash), or None before the first seal: what the sealer
    chains from, read without loading the whole row into an ORM object."""
    row = (
        await session.execute(
            select(_SEALS.c.event_id, _SEALS.c.hash).order_by(_SEALS.c.event_id.desc()).limit(1)
        )
    ).first()
    return (int(row[0]), str(row[1])) if row is not None else None


async def last_event_id(session: AsyncSession) -> int:
    """The largest id of a committed event (0 when there is none)."""
    return int(await session.scalar(select(func.coalesce(func.max(AuditEvent.id), 0))) or 0)


async def events_after(session: AsyncSession, after_id: int, limit: int) -> list[RowMapping]:
    """The committed events after ``after_id``, in id order, as their column values."""
    rows = await session.execute(
        select(_EVENTS).where(_EVENTS.c.id > after_id).order_by(_EVENTS.c.id).limit(limit)
    )
    return list(rows.mappings())


async def add_seals(session: AsyncSession, seals: Sequence[dict[str, Any]]) -> None:
    if seals:
        await session.execute(insert(_SEALS), list(seals))


async def clock(session: AsyncSession) -> datetime:
    """The database server's clock now (PostgreSQL), as transactions' start times are stamped."""
    return (await session.execute(text("SELECT clock_timestamp()"))).scalar_one()  # type: ignore[no-any-return]


async def oldest_transaction_start(session: AsyncSession) -> datetime | None:
    """When the oldest transaction still running on this database began (PostgreSQL; others'
    sessions than this one). Seen for every session of the same role, or with pg_read_all_stats."""
    await session.execute(text("SELECT pg_stat_clear_snapshot()"))
    return (  # type: ignore[no-any-return]
        await session.execute(
            text(
                "SELECT min(xact_start) FROM pg_stat_activity"
                " WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )
        )
    ).scalar_one()


async def chain_after(session: AsyncSession, after_id: int, limit: int) -> list[RowMapping]:
    """Links after ``after_id`` in order, each with its event's columns (``id`` null: the event
    is gone) and ``seal_hash``, ``seal_algorithm``, ``seal_event_id``."""
    rows = await session.execute(
        select(
            _SEALS.c.event_id.label("seal_event_id"),
            _SEALS.c.hash.label("seal_hash"),
            _SEALS.c.algorithm.label("seal_algorithm"),
            *_EVENTS.columns,
        )
        .select_from(_SEALS.outerjoin(_EVENTS, _EVENTS.c.id == _SEALS.c.event_id))
        .where(_SEALS.c.event_id > after_id)
        .order_by(_SEALS.c.event_id)
        .limit(limit)
    )
    return list(rows.mappings())


async def first_unsealed_below(session: AsyncSession, head_id: int) -> int | None:
    """The first event at or below the head that is not in the chain (None: there is none)."""
    first: int | None = await session.scalar(
        select(func.min(_EVENTS.c.id))
        .select_from(_EVENTS.outerjoin(_SEALS, _SEALS.c.event_id == _EVENTS.c.id))
        .where(_EVENTS.c.id <= head_id, _SEALS.c.event_id.is_(None))
    )
    return first


async def count_after(session: AsyncSession, after_id: int) -> int:
    """How many committed events are not sealed yet (after the head)."""
    return int(await session.scalar(select(func.count()).where(_EVENTS.c.id > after_id)) or 0)


async def seal_of(session: AsyncSession, event_id: int) -> AuditSeal | None:
    """The link that seals one event, if any."""
    return await session.get(AuditSeal, event_id)
