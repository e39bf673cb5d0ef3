"""Project writes that are queries of their own: the region's external_ref index, the batch's
bulk statements, and the library code counter.

The batch is built for throughput: one query loads every stored project it names, locked, and its
writes are one executemany per statement. Its inserts run in a SAVEPOINT so that a refusal by the
database (a concurrent writer took an external_ref) leaves the rest of the request intact.
"""

import uuid
from collections.abc import Sequence
from typing import Any

from sqlalchemy import String, Table, bindparam, func, insert, select, true, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

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


async def insert_with_steps(
    session: AsyncSession, rows: Sequence[dict[str, Any]], steps: Sequence[dict[str, Any]]
) -> bool:
    """Insert new projects with their first steps (audit events) in one savepoint; False if the
    database refused them (a unique external_ref taken meanwhile), leaving nothing behind."""
    try:
        async with session.begin_nested():
            await session.execute(insert(_PROJECTS), rows)
            await audit.append(session, steps)
    except IntegrityError:
        return False
    return True


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
