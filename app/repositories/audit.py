"""Writing and reading the audit store: appends only (the database refuses the rest)."""

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Table, insert, select, true
from sqlalchemy.ext.asyncio import AsyncSession

from app.auth import Principal
from app.models import AuditEvent, Role
from app.models.project import Project
from app.repositories.pagination import SortKey, next_cursor, paginate
from app.repositories.reach import reach_clause


def _table() -> Table:
    table = AuditEvent.__table__
    assert isinstance(table, Table)  # noqa: S101 - narrows the type for Core statements
    return table


_EVENTS = _table()


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
) -> tuple[list[AuditEvent], str | None]:
    """A page of one object's events, oldest first."""
    stmt = select(AuditEvent).where(
        AuditEvent.object_id == object_id, AuditEvent.object_type == object_type
    )
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
