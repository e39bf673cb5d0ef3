"""Queries on pilots (public reference data) and the codes they cover (their history is read
from the audit store, app/repositories/audit.py)."""

import uuid
from collections.abc import Sequence
from datetime import date, datetime

from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.models.pilot import Pilot, PilotCoverage, PilotKind, PilotRegion, PilotStatus
from app.repositories.feed import updated_until
from app.repositories.pagination import SortKey, cursor_until, next_cursor, paginate

_LIST_SORT = "province_name"
_LIST_KEYS = [
    SortKey(Pilot.province_code),
    SortKey(Pilot.name),
    SortKey(Pilot.id, kind=uuid.UUID),
]


async def list_pilots(
    session: AsyncSession,
    *,
    status: PilotStatus | None,
    province: str | None,
    kind: PilotKind | None,
    batch: int | None,
    updated_since: datetime | None,
    cursor: str | None,
    limit: int,
) -> tuple[list[Pilot], str | None, datetime | None]:
    """A page of pilots, and with ``updated_since`` the read's watermark, fixed by the first
    page and carried by the cursor (app/repositories/feed.py)."""
    stmt = select(Pilot)
    until = None
    if status is not None:
        stmt = stmt.where(Pilot.status == status)
    if province is not None:
        stmt = stmt.where(Pilot.province_code == province)
    if kind is not None:
        stmt = stmt.where(Pilot.kind == kind)
    if batch is not None:
        stmt = stmt.where(Pilot.batch == batch)
    if updated_since is not None:
        until = cursor_until(cursor) if cursor else None
        if until is None:
            until = await updated_until(await session.connection(), Pilot.updated_at, updated_since)
        stmt = stmt.where(Pilot.updated_at >= updated_since, Pilot.updated_at <= until)
    rows = list(
        (await session.scalars(paginate(stmt, _LIST_KEYS, cursor, limit, _LIST_SORT))).all()
    )
    after = next_cursor(
        rows, _LIST_KEYS, limit, _LIST_SORT, lambda p: (p.province_code, p.name, p.id), until
    )
    return rows[:limit], after, until


async def get(session: AsyncSession, pilot_id: uuid.UUID) -> Pilot | None:
    return await session.get(Pilot, pilot_id, populate_existing=True)


async def regions_of(
    session: AsyncSession, pilot_ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, list[PilotRegion]]:
    """The codes of several pilots in one query (a list page never loads them one by one)."""
    out: dict[uuid.UUID, list[PilotRegion]] = {pilot_id: [] for pilot_id in pilot_ids}
    if not pilot_ids:
        return out
    rows = await session.scalars(
        select(PilotRegion)
        .where(PilotRegion.pilot_id.in_(pilot_ids))
        .order_by(PilotRegion.pilot_id, PilotRegion.region_code)
    )
    for row in rows:
        out[row.pilot_id].append(row)
    return out


async def full_codes(session: AsyncSession, pilot_id: uuid.UUID) -> list[str]:
    """The codes one pilot covers in full (retired ones too: their old projects stay its)."""
    rows = await session.scalars(
        select(PilotRegion.region_code).where(
            PilotRegion.pilot_id == pilot_id, PilotRegion.coverage == PilotCoverage.full
        )
    )
    return list(rows)


async def full_code_rows(
    session: AsyncSession,
) -> list[tuple[uuid.UUID, str, date | None, date | None]]:
    """(pilot, code, valid_from, valid_to) of every full code of a pilot not disqualified."""
    rows = await session.execute(
        select(
            PilotRegion.pilot_id,
            PilotRegion.region_code,
            PilotRegion.valid_from,
            PilotRegion.valid_to,
        )
        .join(Pilot, Pilot.id == PilotRegion.pilot_id)
        .where(
            PilotRegion.coverage == PilotCoverage.full,
            Pilot.status != PilotStatus.disqualified,
        )
        .order_by(PilotRegion.region_code, PilotRegion.pilot_id)
    )
    return [(pid, code, vf, vt) for pid, code, vf, vt in rows]


async def get_many(session: AsyncSession, pilot_ids: Sequence[uuid.UUID]) -> list[Pilot]:
    """The pilots among ``pilot_ids`` that exist."""
    if not pilot_ids:
        return []
    return list(await session.scalars(select(Pilot).where(Pilot.id.in_(pilot_ids))))


async def name_taken(session: AsyncSession, name: str, batch: int | None) -> bool:
    stmt = select(Pilot.id).where(Pilot.name == name)
    stmt = stmt.where(Pilot.batch.is_(None) if batch is None else Pilot.batch == batch)
    return (await session.scalar(stmt.limit(1))) is not None


async def add(session: AsyncSession, pilot: Pilot, regions: Sequence[PilotRegion]) -> None:
    session.add(pilot)
    await session.flush()
    session.add_all(regions)
    await session.flush()


async def replace_regions(
    session: AsyncSession, pilot_id: uuid.UUID, regions: Sequence[PilotRegion]
) -> None:
    await session.execute(delete(PilotRegion).where(PilotRegion.pilot_id == pilot_id))
    session.add_all(regions)
    await session.flush()


async def move(
    session: AsyncSession, pilot_id: uuid.UUID, from_status: PilotStatus, to_status: PilotStatus
) -> bool:
    """Change the status only if it is still ``from_status``: two racing admins cannot both win."""
    result = await session.execute(
        update(Pilot)
        .where(Pilot.id == pilot_id, Pilot.status == from_status)
        .values(status=to_status)
        .execution_options(synchronize_session=False)
    )
    return bool(getattr(result, "rowcount", 0) == 1)
