"""Import job queries: visibility, the stored upload, claiming and leasing, results.

Visibility is decided here and nowhere else: a job exists for the region key whose scope
imported it, and for administrators; for anyone else it does not (404).

A worker claims a job that is ``queued``, or ``running`` with its lease run out (its process
died): on PostgreSQL the candidate row is taken ``FOR UPDATE SKIP LOCKED``, so two workers never
wait on or take the same job; on both databases the claim itself is an UPDATE conditional on the
state it read, which only one writer can win (SQLite has one writer at a time). Each chunk then
re-reads the job row locked and under the worker's own lease (``lock_leased``): a worker whose
lease another has taken finds nothing and stops, so a chunk is never applied twice.
"""

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Table,
    and_,
    delete,
    exists,
    false,
    insert,
    or_,
    select,
    true,
    update,
)
from sqlalchemy.ext.asyncio import AsyncSession

from app.auth import Principal
from app.models import ImportJob, ImportResult, ImportStatus, ImportUpload, Role
from app.models.import_job import FINISHED
from app.repositories.pagination import SortKey, next_cursor, paginate

RESULT_KEYS = (SortKey(ImportResult.index, kind=int),)
RESULT_SORT = "index"


def readable_clause(principal: Principal) -> ColumnElement[bool]:
    """The WHERE clause of the jobs this principal may see at all."""
    if principal.role is Role.admin:
        return true()
    if principal.role is Role.region and principal.scope is not None:
        return ImportJob.source_scope == principal.scope
    return false()


async def get_readable(
    session: AsyncSession, principal: Principal, job_id: uuid.UUID, *, for_update: bool = False
) -> ImportJob | None:
    stmt = select(ImportJob).where(ImportJob.id == job_id, readable_clause(principal))
    if for_update:
        stmt = stmt.with_for_update()
    return (await session.execute(stmt)).scalar_one_or_none()


async def add(session: AsyncSession, job: ImportJob) -> None:
    """Store a new job (its upload's parts are already staged under its id)."""
    session.add(job)
    await session.flush()


async def stage_part(
    session: AsyncSession, job_id: uuid.UUID, part: int, data: bytes, at: datetime
) -> None:
    """Store one part of a job's file, before the job exists."""
    # Core, not the unit of work: nothing keeps the megabyte once it is written.
    await session.execute(
        insert(ImportUpload).values(job_id=job_id, part=part, data=data, staged_at=at)
    )


def _no_job() -> ColumnElement[bool]:
    return ~exists().where(ImportJob.id == ImportUpload.job_id)


async def drop_staged(session: AsyncSession, job_id: uuid.UUID) -> int:
    """Remove the staged parts of a job that was not created (none if it was)."""
    deleted = await session.execute(
        delete(ImportUpload).where(ImportUpload.job_id == job_id, _no_job())
    )
    return int(getattr(deleted, "rowcount", 0) or 0)


async def upload(session: AsyncSession, job_id: uuid.UUID) -> bytes | None:
    """The job's uploaded file, or None once it has been purged."""
    parts = await session.execute(
        select(ImportUpload.data).where(ImportUpload.job_id == job_id).order_by(ImportUpload.part)
    )
    chunks = list(parts.scalars())
    return b"".join(chunks) if chunks else None


def _claimable(now: datetime) -> ColumnElement[bool]:
    return or_(
        ImportJob.status == ImportStatus.queued,
        and_(ImportJob.status == ImportStatus.running, ImportJob.lease_expires_at < now),
    )


async def has_claimable(session: AsyncSession, now: datetime) -> bool:
    """Whether any job waits for a worker (a read: no lock is taken)."""
    found = await session.execute(select(ImportJob.id).where(_claimable(now)).limit(1))
    return found.first() is not None


async def claim(
    session: AsyncSession, owner: str, now: datetime, lease_until: datetime
) -> ImportJob | None:
    """Take the oldest claimable job for ``owner`` until ``lease_until``; None if there is none."""
    candidate = await session.execute(
        select(ImportJob.id)
        .where(_claimable(now))
        .order_by(ImportJob.created_at, ImportJob.id)
        .limit(1)
        .with_for_update(skip_locked=True)
    )
    job_id = candidate.scalar_one_or_none()
    if job_id is None:
        return None
    taken = await session.execute(
        update(ImportJob)
        .where(ImportJob.id == job_id, _claimable(now))
        .values(
            status=ImportStatus.running,
            lease_owner=owner,
            lease_expires_at=lease_until,
            attempts=ImportJob.attempts + 1,
            updated_at=now,
        )
        .returning(ImportJob.id)
    )
    if taken.scalar_one_or_none() is None:
        return None
    job = await session.get(ImportJob, job_id, populate_existing=True)
    if job is not None and job.started_at is None:
        job.started_at = now
    return job


async def lock_leased(session: AsyncSession, job_id: uuid.UUID, owner: str) -> ImportJob | None:
    """The running job, locked, if ``owner`` still holds its lease; None if the lease is lost."""
    found = await session.execute(
        select(ImportJob)
        .where(
            ImportJob.id == job_id,
            ImportJob.status == ImportStatus.running,
            ImportJob.lease_owner == owner,
        )
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    return found.scalar_one_or_none()


async def release(session: AsyncSession, job_id: uuid.UUID, owner: str, now: datetime) -> None:
    """Give a running job's lease up at once, so that any worker resumes it."""
    await session.execute(
        update(ImportJob)
        .where(ImportJob.id == job_id, ImportJob.lease_owner == owner)
        .values(lease_owner=None, lease_expires_at=now, updated_at=now)
    )


async def add_results(session: AsyncSession, job_id: uuid.UUID, results: Sequence[Any]) -> None:
    """Store a chunk's per-row results (the batch's result documents)."""
    if not results:
        return
    table = ImportResult.__table__
    assert isinstance(table, Table)  # noqa: S101 - narrows the type for insert()
    await session.execute(
        table.insert(),
        [
            {
                "job_id": job_id,
                "index": r["index"],
                "row": r["row"],
                "status": r["status"],
                "project_id": None if r["id"] is None else uuid.UUID(str(r["id"])),
                "external_ref": r["external_ref"],
                "problem": r["problem"],
            }
            for r in results
        ],
    )


async def results_page(
    session: AsyncSession, job_id: uuid.UUID, cursor: str | None, limit: int
) -> tuple[list[ImportResult], str | None]:
    """One page of a job's results in row order, and the cursor of the next."""
    stmt = paginate(
        select(ImportResult).where(ImportResult.job_id == job_id),
        RESULT_KEYS,
        cursor,
        limit,
        RESULT_SORT,
    )
    rows = list((await session.execute(stmt)).scalars())
    following = next_cursor(rows, RESULT_KEYS, limit, RESULT_SORT, lambda r: [r.index])
    return rows[:limit], following


async def purge_staged(session: AsyncSession, staged_before: datetime) -> int:
    """Delete the parts staged before the cutoff whose job was never created (the request that
    staged them died before its commit)."""
    deleted = await session.execute(
        delete(ImportUpload).where(ImportUpload.staged_at < staged_before, _no_job())
    )
    return int(getattr(deleted, "rowcount", 0) or 0)


async def purge_uploads(session: AsyncSession, finished_before: datetime, now: datetime) -> int:
    """Delete the uploads of jobs finished before the cutoff; the jobs and results stay."""
    finished = and_(
        ImportJob.status.in_(list(FINISHED)),
        ImportJob.finished_at < finished_before,
        ImportJob.upload_purged_at.is_(None),
    )
    ids = list((await session.execute(select(ImportJob.id).where(finished))).scalars())
    if not ids:
        return 0
    await session.execute(delete(ImportUpload).where(ImportUpload.job_id.in_(ids)))
    await session.execute(
        update(ImportJob).where(ImportJob.id.in_(ids)).values(upload_purged_at=now)
    )
    return len(ids)
