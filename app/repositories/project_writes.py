"""Project writes that are queries of their own: the region's external_ref index, the batch's
bulk statements, and the library code counter.

The batch is built for throughput: one query loads every stored project it names, locked, and its
writes are one executemany per statement. A new row whose external_ref a concurrent writer took
meanwhile is left out with its first step and reported (``insert_new``), the rest of the request
intact: PostgreSQL inserts in a SAVEPOINT, replayed row by row if refused; SQLite skips the row.
"""

import uuid
from collections.abc import Sequence
from typing import Any

from sqlalchemy import String, Table, bindparam, func, insert, select, true, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from app.errors import Conflict
from app.models import LibrarySequence, Project
from app.repositories import audit


def _table(model: type[Project] | type[LibrarySequence]) -> Table:
    table = model.__table__
    assert isinstance(table, Table)  # noqa: S101 - narrows the type for Core statements
    return table


_PROJECTS = _table(Project)
_SEQUENCES = _table(LibrarySequence)
# The batch's updates name the row by "_id": "id" is a column it may not set.
_UPDATE = update(_PROJECTS).where(_PROJECTS.c.id == bindparam("_id"))


async def holder_of_external_ref(
    session: AsyncSession, scope: str, external_ref: str
) -> uuid.UUID | None:
    """The project of this source scope that has this external_ref, if any."""
    stmt = select(Project.id).where(
        Project.source_scope == scope, Project.external_ref == external_ref
    )
    return (await session.execute(stmt)).scalar_one_or_none()


async def lock_by_external_refs(
    session: AsyncSession, scope: str, refs: Sequence[str], columns: Sequence[str]
) -> dict[str, dict[str, Any]]:
    """These columns of the scope's projects with these external_refs, by ref, locked."""
    if not refs:
        return {}
    selected = [_PROJECTS.c[name] for name in columns]
    if session.get_bind().dialect.name == "postgresql":
        # One index probe per ref, whatever the planner believes: an IN list of 1,000 parameters
        # turns into a scan of the region's rows under a generic plan, and a plain join with the
        # unnested array into a hash join over all of them while the table's statistics are
        # stale, which they are in the middle of a large import (100k rows: 150 ms a chunk
        # instead of 10). The LIMIT keeps the lateral probe from being flattened into that join;
        # (source_scope, external_ref) is unique, so it drops nothing.
        wanted = (
            func.unnest(bindparam("refs", list(refs), type_=postgresql.ARRAY(String)))
            .table_valued("ref")
            .render_derived(name="wanted")
        )
        probe = (
            select(*selected)
            .where(_PROJECTS.c.source_scope == scope, _PROJECTS.c.external_ref == wanted.c.ref)
            .limit(1)
            .with_for_update()
            .lateral("found")
        )
        stmt = select(probe).select_from(wanted.join(probe, true()))
    else:
        # SQLite renders no FOR UPDATE: the request already holds the database's write lock.
        stmt = select(*selected).where(
            _PROJECTS.c.source_scope == scope, _PROJECTS.c.external_ref.in_(refs)
        )
    # PostgreSQL: the rows stay ours until commit, so the updates need no version check.
    rows = (await session.execute(stmt)).mappings().all()
    return {row["external_ref"]: dict(row) for row in rows}


async def update_many(session: AsyncSession, rows: Sequence[dict[str, Any]]) -> None:
    """Update projects, each row naming its project by ``_id``."""
    if rows:
        await session.execute(_UPDATE, rows)


async def insert_new(
    session: AsyncSession, rows: Sequence[dict[str, Any]], steps: Sequence[dict[str, Any]]
) -> list[int]:
    """Insert new projects with their first steps (audit events, one per row, in the rows'
    order); the indexes of the rows not written because their external_ref was taken since it
    was looked up (a concurrent writer's), whose steps are not written either. Nothing else of
    a refused row is left behind, and the others land."""
    if not rows:
        return []
    if session.get_bind().dialect.name == "sqlite":
        return await _insert_new_sqlite(session, rows, steps)
    if await _insert_in_savepoint(session, rows, steps):
        return []
    # Replay one savepoint per row so that only the clashing rows fail.
    return [
        index
        for index, (row, step) in enumerate(zip(rows, steps, strict=True))
        if not await _insert_in_savepoint(session, [row], [step])
    ]


async def _insert_in_savepoint(
    session: AsyncSession, rows: Sequence[dict[str, Any]], steps: Sequence[dict[str, Any]]
) -> bool:
    try:
        async with session.begin_nested():
            await session.execute(insert(_PROJECTS), rows)
            await audit.append(session, steps)
    except IntegrityError:
        return False
    return True


# SQLite: a row whose external_ref is taken is skipped, not refused, so no savepoint is needed.
# Under a savepoint SQLite copied every page the inserts touched into its sub-journal, and each
# row's own statement journal (the projects' triggers make every INSERT one) then went to that
# journal's file: the insert's CPU grew with ix_projects_owner_uscc (58 -> 93 ms a chunk of
# 1,000 by 100,000 rows; 56 -> 60 without it, bench/README.md). The race the savepoint is for
# cannot happen here anyway: the lookup and the insert share the transaction's write lock.
_INSERT_NEW_SQLITE = sqlite.insert(_PROJECTS).on_conflict_do_nothing(
    index_elements=[_PROJECTS.c.source_scope, _PROJECTS.c.external_ref]
)


async def _insert_new_sqlite(
    session: AsyncSession, rows: Sequence[dict[str, Any]], steps: Sequence[dict[str, Any]]
) -> list[int]:
    try:
        result = await session.execute(_INSERT_NEW_SQLITE, list(rows))
    except IntegrityError as exc:
        # Only a taken external_ref is expected, and it is skipped. Any other refusal (a rule
        # the checks before the insert missed) ends the request: with no savepoint the rows
        # this statement wrote before it cannot be taken back alone, so the whole transaction
        # is rolled back (the session's owner does) and the caller told that nothing landed.
        raise Conflict(
            "The database refused the new projects, so nothing of this request was written."
        ) from exc
    taken: list[int] = []
    if getattr(result, "rowcount", -1) != len(rows):  # the rows SQLite wrote, summed
        ids = [row["id"] for row in rows]
        stored = set(
            (await session.execute(select(_PROJECTS.c.id).where(_PROJECTS.c.id.in_(ids)))).scalars()
        )
        taken = [index for index, row in enumerate(rows) if row["id"] not in stored]
    skipped = set(taken)
    await audit.append(session, [step for index, step in enumerate(steps) if index not in skipped])
    return taken


async def next_library_number(session: AsyncSession, region_code: str, year: int) -> int:
    """The next number of the region and year, counted in this transaction.

    One INSERT … ON CONFLICT DO UPDATE … RETURNING: racing approvals queue on the counter row,
    and a rolled-back approval gives its number back.
    """
    dialect = session.get_bind().dialect.name
    upsert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    stmt = (
        upsert(_SEQUENCES)
        .values(region_code=region_code, year=year, last_value=1)
        .on_conflict_do_update(
            index_elements=[_SEQUENCES.c.region_code, _SEQUENCES.c.year],
            set_={"last_value": _SEQUENCES.c.last_value + 1},
        )
        .returning(_SEQUENCES.c.last_value)
    )
    value: int = (await session.execute(stmt)).scalar_one()
    return value
