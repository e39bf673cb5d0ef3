"""Institution queries (every institution is public)."""

import uuid
from datetime import datetime

from sqlalchemy import Select, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.models import Institution
from app.repositories.pagination import SortKey, next_cursor, paginate

SORT = [SortKey(Institution.created_at, kind=datetime), SortKey(Institution.id, kind=uuid.UUID)]


def readable() -> Select[Institution]:
    return select(Institution)


async def get(
    session: AsyncSession, institution_id: uuid.UUID, *, for_update: bool = False
) -> Institution | None:
    stmt = readable().where(Institution.id == institution_id)
    if for_update:
        stmt = stmt.with_for_update()
    return await session.scalar(stmt)


async def by_uscc(session: AsyncSession, uscc: str) -> Institution | None:
    return await session.scalar(readable().where(Institution.uscc == uscc))


async def add(session: AsyncSession, institution: Institution) -> None:
    session.add(institution)
    await session.flush()


async def page(
    session: AsyncSession, *, type_: str | None, q: str | None, cursor: str | None, limit: int
) -> tuple[list[Institution], str | None]:
    stmt = readable()
    if type_:
        stmt = stmt.where(Institution.type == type_)
    if q:
        stmt = stmt.where(Institution.name.contains(q, autoescape=True))
    rows = list((await session.scalars(paginate(stmt, SORT, cursor, limit, "created"))).all())
    return rows[:limit], next_cursor(rows, SORT, limit, "created", lambda r: (r.created_at, r.id))
