"""Queries on revisions of library projects."""

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Table, insert, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from app.models import ProjectRevision, RevisionStatus
from app.repositories.pagination import SortKey, next_cursor, paginate

OPEN = (RevisionStatus.submitted, RevisionStatus.recommended)


def _table() -> Table:
    table = ProjectRevision.__table__
    assert isinstance(table, Table)  # noqa: S101 - narrows the type for Core statements
    return table


_TABLE = _table()
_KEYS = [
    SortKey(ProjectRevision.created_at, kind=datetime),
    SortKey(ProjectRevision.id, kind=uuid.UUID),
]


async def open_of(session: AsyncSession, project_id: uuid.UUID) -> ProjectRevision | None:
    """The project's open revision (submitted or recommended), if any."""
    stmt = select(ProjectRevision).where(
        ProjectRevision.project_id == project_id, ProjectRevision.status.in_(OPEN)
    )
    return (await session.scalars(stmt)).one_or_none()


async def open_among(session: AsyncSession, project_ids: list[uuid.UUID]) -> set[uuid.UUID]:
    """The projects among these that have an open revision."""
    if not project_ids:
        return set()
    stmt = select(ProjectRevision.project_id).where(
        ProjectRevision.project_id.in_(project_ids), ProjectRevision.status.in_(OPEN)
    )
    return set((await session.scalars(stmt)).all())


async def insert_many(session: AsyncSession, rows: Sequence[dict[str, Any]]) -> bool:
    """Insert revisions in a savepoint; False if the database refused one (another request
    opened a revision of one of these projects meanwhile), leaving none of them behind."""
    if not rows:
        return True
    try:
        async with session.begin_nested():
            await session.execute(insert(_TABLE), list(rows))
    except IntegrityError:
        return False
    return True


async def get(
    session: AsyncSession, project_id: uuid.UUID, revision_id: uuid.UUID
) -> ProjectRevision | None:
    stmt = select(ProjectRevision).where(
        ProjectRevision.project_id == project_id, ProjectRevision.id == revision_id
    )
    return (await session.scalars(stmt.with_for_update())).one_or_none()


async def of_project(
    session: AsyncSession, project_id: uuid.UUID, *, cursor: str | None, limit: int
) -> tuple[list[ProjectRevision], str | None]:
    """A page of the project's revisions, oldest first."""
    stmt = select(ProjectRevision).where(ProjectRevision.project_id == project_id)
    rows = list((await session.scalars(paginate(stmt, _KEYS, cursor, limit, "created"))).all())
    values = lambda r: (r.created_at, r.id)  # noqa: E731
    return rows[:limit], next_cursor(rows, _KEYS, limit, "created", values)
