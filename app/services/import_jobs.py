"""Import jobs (导入任务): submitting a large import, reading its state and results, cancelling.

A file of more than one batch (1,000 rows) is not imported inside its request: the request checks
the file within the import's limits, stores it in the database in parts of about 1 MB (each in a
short transaction of its own, ``stage``), and creates a ``queued`` job that a worker in any
server process runs (services/import_worker). The job is the importing region's and the
administrators'; to anyone else it does not exist (404).

Cancelling a queued job (or one whose worker died) cancels it at once; a running job is asked to
stop and stops before its next chunk, its committed chunks kept. A finished job cannot be
cancelled (409 ``import_finished``).
"""

import csv
import hashlib
import io
import logging
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import anyio
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.auth import Principal
from app.db import BULK_WRITE, WRITE, Undo, undo_unless_committed
from app.errors import Conflict, NotFound, Unauthorized
from app.ids import new_id
from app.models import ImportJob, ImportStatus
from app.models.base import utcnow
from app.models.import_job import FINISHED
from app.repositories import import_jobs as repo
from app.services import webhooks
from app.services.cell_safety import neutralise

UPLOAD_PART_BYTES = 1024 * 1024
CSV_PAGE = 1000
CSV_COLUMNS = ("row", "status", "id", "external_ref", "code", "detail", "errors")
BASE_PATH = "/api/v1/imports"

log = logging.getLogger("climatelib.imports")


def location(job_id: uuid.UUID) -> str:
    return f"{BASE_PATH}/{job_id}"


def document(job: ImportJob) -> dict[str, Any]:
    """The job as the API shows it."""
    return {
        "id": job.id,
        "status": job.status,
        "filename": job.filename,
        "rows_total": job.rows_total,
        "rows_done": job.rows_done,
        "summary": {
            "created": job.created,
            "updated": job.updated,
            "unchanged": job.unchanged,
            "error": job.error,
        },
        "cancel_requested": job.cancel_requested,
        "attempts": job.attempts,
        "failure": job.failure,
        "created_by": job.created_by,
        "created_at": job.created_at,
        "updated_at": job.updated_at,
        "started_at": job.started_at,
        "finished_at": job.finished_at,
        "results_url": f"{location(job.id)}/results",
    }


@dataclass(frozen=True)
class Staged:
    """A job's file stored in parts under the job's id, waiting for its job row (``submit``)."""

    job_id: uuid.UUID
    sha256: str
    size: int


async def stage(session: AsyncSession, data: bytes) -> Staged:
    """Store a checked file's parts before the request's transaction writes anything.

    Each part is its own short write transaction, as an import chunk is (``BULK_WRITE``): on
    SQLite a write transaction holds the database's one write lock until it commits, and a
    50 MB file stored in the request's own transaction held it about half a second (longer on a
    slow disk), every other writer waiting. Between two parts they get in.

    Should the request not commit (a refusal after this, an ``Idempotency-Key`` in use), the
    parts are removed again; should it replay an earlier answer, ``discard`` removes them; a
    process that dies before its commit leaves them to housekeeping (``purge_staged``)."""
    staged = Staged(new_id(), hashlib.sha256(data).hexdigest(), len(data))
    undo = _drop_unless_submitted(staged.job_id)
    if session.in_transaction():  # PostgreSQL: authentication's reads (read_apart), or none
        await session.commit()
    try:
        for number, start in enumerate(range(0, len(data), UPLOAD_PART_BYTES)):
            await session.connection(execution_options=BULK_WRITE)
            part = data[start : start + UPLOAD_PART_BYTES]
            await repo.stage_part(session, staged.job_id, number, part, utcnow())
            await session.commit()
    except BaseException:
        with anyio.CancelScope(shield=True):
            await session.rollback()
            try:
                await undo(session, True)
            except Exception:  # the parts are left to housekeeping; the request's error stands
                log.warning("could not remove the staged parts of an import", exc_info=True)
        raise
    # Registered once the parts are in: a commit of this session clears what was registered.
    undo_unless_committed(session, undo)
    return staged


def _drop_unless_submitted(job_id: uuid.UUID) -> Undo:
    async def undo(session: AsyncSession, certain: bool) -> None:
        # A commit reported failed may have landed: drop_staged spares the parts of a job that
        # exists, so the same statement serves both cases.
        await session.connection(execution_options=WRITE)
        removed = await repo.drop_staged(session, job_id)
        await session.commit()
        log.info("removed the staged file of an import not submitted", extra={"parts": removed})

    return undo


async def discard(session: AsyncSession, staged: Staged) -> None:
    """Remove a staged file no job will read (its request replayed an earlier answer), in the
    request's transaction."""
    await repo.drop_staged(session, staged.job_id)


async def submit(
    session: AsyncSession,
    principal: Principal,
    staged: Staged,
    filename: str | None,
    content_type: str | None,
    rows_total: int,
) -> ImportJob:
    """Queue the job of a checked and staged file; the worker imports it."""
    assert principal.scope is not None  # a region key always has a scope  # noqa: S101
    now = utcnow()
    job = ImportJob(
        id=staged.job_id,
        status=ImportStatus.queued,
        source_scope=principal.scope,
        region_prefixes=list(principal.region_prefixes),
        created_by=principal.key_id,
        filename=(filename or "")[:255] or None,
        content_type=(content_type or "")[:255] or None,
        file_sha256=staged.sha256,
        file_bytes=staged.size,
        rows_total=rows_total,
        rows_done=0,
        created=0,
        updated=0,
        unchanged=0,
        error=0,
        cancel_requested=False,
        attempts=0,
        created_at=now,
        updated_at=now,
    )
    await repo.add(session, job)
    return job


def _not_found() -> NotFound:
    return NotFound("No such import job.", code="import_not_found")


async def _readable(
    session: AsyncSession, principal: Principal, job_id: uuid.UUID, *, for_update: bool = False
) -> ImportJob:
    if principal.is_anonymous:
        raise Unauthorized("Import jobs need an API key.")
    job = await repo.get_readable(session, principal, job_id, for_update=for_update)
    if job is None:
        raise _not_found()
    return job


async def get(session: AsyncSession, principal: Principal, job_id: uuid.UUID) -> dict[str, Any]:
    """The job document, if the caller may see the job."""
    return document(await _readable(session, principal, job_id))


async def cancel(session: AsyncSession, principal: Principal, job_id: uuid.UUID) -> dict[str, Any]:
    """Cancel a queued job at once; ask a running one to stop before its next chunk."""
    job = await _readable(session, principal, job_id, for_update=True)
    if job.status in FINISHED:
        raise Conflict(
            f"The import job has {job.status}; only a queued or running job can be cancelled.",
            code="import_finished",
        )
    now = utcnow()
    job.cancel_requested = True
    job.updated_at = now
    abandoned = job.lease_expires_at is not None and job.lease_expires_at < now
    if job.status == ImportStatus.queued or abandoned:
        # No worker is at it: nothing will pass another chunk boundary to see the request.
        job.status = ImportStatus.cancelled
        job.finished_at = now
        job.lease_owner = None
        await webhooks.import_finished(session, job)
    await session.flush()
    return document(job)


def result_json(result: Any) -> dict[str, Any]:
    return {
        "index": result.index,
        "row": result.row,
        "status": result.status,
        "id": result.project_id,
        "external_ref": result.external_ref,
        "problem": result.problem,
    }


async def results(
    session: AsyncSession,
    principal: Principal,
    job_id: uuid.UUID,
    *,
    cursor: str | None,
    limit: int,
) -> dict[str, Any]:
    """One page of the job's per-row results, in the file's row order."""
    await _readable(session, principal, job_id)
    rows, following = await repo.results_page(session, job_id, cursor, limit)
    return {"items": [result_json(r) for r in rows], "next_cursor": following}


async def results_csv(
    session: AsyncSession,
    sessions: async_sessionmaker[AsyncSession],
    principal: Principal,
    job_id: uuid.UUID,
) -> AsyncIterator[bytes]:
    """The job's results as CSV, read in short pages (no connection waits on the client)."""
    await _readable(session, principal, job_id)
    return _csv_pages(sessions, job_id)


def _csv_line(result: dict[str, Any]) -> list[Any]:
    problem = result["problem"] or {}
    errors = "; ".join(
        f"{'.'.join(str(p) for p in e['loc'][2:])}: {e['message']}"
        for e in problem.get("errors") or []
    )
    # external_ref, the detail and the messages quote what the region's file held
    return [
        result["row"],
        result["status"],
        result["id"] or "",
        neutralise(result["external_ref"] or ""),
        problem.get("code", ""),
        neutralise(problem.get("detail", "")),
        neutralise(errors),
    ]


async def _csv_pages(
    sessions: async_sessionmaker[AsyncSession], job_id: uuid.UUID
) -> AsyncIterator[bytes]:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(CSV_COLUMNS)
    yield ("\ufeff" + buffer.getvalue()).encode()
    cursor: str | None = None
    while True:
        async with sessions() as session:
            rows, cursor = await repo.results_page(session, job_id, cursor, CSV_PAGE)
        buffer.seek(0)
        buffer.truncate()
        writer.writerows(_csv_line(result_json(r)) for r in rows)
        yield buffer.getvalue().encode()
        if cursor is None:
            return
