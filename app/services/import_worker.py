"""The import worker: runs queued import jobs chunk by chunk, and keeps the database tidy.

One worker runs as an asyncio task in every server process (started and stopped by the app's
lifespan; ``CLIMATELIB_IMPORT_WORKER=false`` leaves a process without one). It polls for a
claimable job (repositories/import_jobs: queued, or running under a lease that ran out), reads
the job's upload from the database and imports its rows 1,000 at a time. Each chunk is one
transaction: the job row re-read under the worker's lease and locked, the chunk's upserts, its
per-row results, the progress counts and the renewed lease commit together or not at all. So a
worker that dies loses at most the chunk in flight, which rolled back; whoever claims the job
next skips the rows already done (re-reading them only to know the external_refs they took) and
goes on from there. Each row is applied exactly once.

Between chunks the worker stops for a cancel (the job becomes ``cancelled``, its committed rows
kept) or for shutdown (the lease is given up, so that any process resumes the job at once).

Housekeeping runs in the same loop, when the worker starts and then every few minutes:
idempotency records older than 24 hours are purged, and so are the uploads of jobs finished
longer ago than ``import_upload_retention_hours`` (the job document and its results stay).
"""

import asyncio
import logging
import os
import socket
import time
import uuid
from collections.abc import Iterator
from contextlib import suppress
from datetime import timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.auth import Principal
from app.config import Settings
from app.db import BULK_WRITE
from app.errors import AppError, is_unavailable
from app.models import ImportJob, ImportStatus, Role
from app.models.base import utcnow
from app.repositories import idempotency as idempotency_repo
from app.repositories import import_jobs as repo
from app.schemas.batch import MAX_BATCH
from app.services import tabular, webhooks
from app.services.batch import upsert
from app.services.batch_items import Entry, Locator, parse, summarize

log = logging.getLogger("climatelib.imports")

HOUSEKEEPING_EVERY_S = 600
IDEMPOTENCY_KEPT = timedelta(hours=24)
# Staged parts whose job was never created are this old before they go: a request stages its file
# in seconds and creates the job right after, so only a request whose process died leaves them.
STAGED_KEPT = timedelta(hours=1)
# A job claimed this often (each restart or death of its process counts) is given up: a file that
# kills its worker every time (say by exhausting its memory) must not do so forever.
MAX_ATTEMPTS = 10
_WRITE = {"sqlite_begin": "IMMEDIATE"}  # SQLite: take the write lock up front

Rows = Iterator[tuple[int, dict[str, Any]]]


def _skip(rows: Rows, count: int, seen: set[str]) -> None:
    """Pass the rows already done, noting the external_refs they took (as the batch did)."""
    locator = Locator(True)
    for _ in range(count):
        number, item = next(rows)
        parsed = parse(Entry(0, number, item), locator)
        if not isinstance(parsed, AppError) and parsed.external_ref is not None:
            seen.add(parsed.external_ref)


def _take(rows: Rows, count: int) -> list[tuple[int, dict[str, Any]]]:
    taken = []
    for pair in rows:
        taken.append(pair)
        if len(taken) == count:
            break
    return taken


def _read_ahead(rows: Rows) -> asyncio.Future[list[tuple[int, dict[str, Any]]]]:
    """The next chunk's rows, parsed in a thread from now on (one read ahead at a time: the
    reader is a generator, so each read starts only after the previous one was awaited)."""
    return asyncio.ensure_future(asyncio.to_thread(_take, rows, MAX_BATCH))


def _principal(job: ImportJob) -> Principal:
    """The importing region's key as it was when it submitted the job."""
    return Principal(
        role=Role.region,
        scope=job.source_scope,
        key_id=job.created_by,
        region_prefixes=tuple(job.region_prefixes),
    )


class ImportWorker:
    """One process's worker loop (see the module docstring)."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession], settings: Settings) -> None:
        self.sessions = sessions
        self.poll_s = settings.import_poll_interval_s
        self.lease = timedelta(seconds=settings.import_lease_s)
        self.retention = timedelta(hours=settings.import_upload_retention_hours)
        self.owner = f"{socket.gethostname()[:60]}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self.stopping = asyncio.Event()
        self.task: asyncio.Task[None] | None = None
        self.housekeeping_due = 0.0

    def start(self) -> None:
        self.task = asyncio.create_task(self._loop(), name="import-worker")

    async def stop(self, timeout_s: float) -> None:
        """Stop between chunks; a chunk still running after ``timeout_s`` is rolled back."""
        self.stopping.set()
        if self.task is None:
            return
        try:
            await asyncio.wait_for(asyncio.shield(self.task), timeout_s)
        except TimeoutError:
            self.task.cancel()
            with suppress(asyncio.CancelledError):
                await self.task

    async def _loop(self) -> None:
        while not self.stopping.is_set():
            worked = False
            try:
                if time.monotonic() >= self.housekeeping_due:
                    await self.housekeeping()
                    self.housekeeping_due = time.monotonic() + HOUSEKEEPING_EVERY_S
                worked = await self.run_once()
            except Exception as exc:  # the loop outlives any one failure
                if is_unavailable(exc):
                    log.warning("import worker: database unavailable: %s", type(exc).__name__)
                else:
                    log.exception("import worker failed")
            if not worked:
                with suppress(TimeoutError):
                    await asyncio.wait_for(self.stopping.wait(), self.poll_s)

    async def housekeeping(self) -> None:
        """Purge expired idempotency records, the uploads of long-finished jobs and the staged
        parts of jobs never created."""
        now = utcnow()
        async with self.sessions() as session:
            await session.connection(execution_options=_WRITE)
            keys = await idempotency_repo.purge(session, now - IDEMPOTENCY_KEPT)
            uploads = await repo.purge_uploads(session, now - self.retention, now)
            staged = await repo.purge_staged(session, now - STAGED_KEPT)
            await session.commit()
        if keys or uploads or staged:
            log.info(
                "housekeeping",
                extra={"idempotency_keys": keys, "import_uploads": uploads, "staged_parts": staged},
            )

    async def run_once(self) -> bool:
        """Claim one job and run it until it ends or this worker stops; False if none waited."""
        now = utcnow()
        async with self.sessions() as session:
            if not await repo.has_claimable(session, now):
                return False
        async with self.sessions() as session:
            await session.connection(execution_options=_WRITE)
            job = await repo.claim(session, self.owner, now, now + self.lease)
            await session.commit()
        if job is None:
            return False
        try:
            await self._run(job)
        except Exception as exc:
            if is_unavailable(exc):
                raise  # the lease runs out and the job is resumed later
            log.exception("import job failed", extra={"job_id": str(job.id)})
            await self._fail(job.id, "The import stopped on an internal error.")
        return True

    async def _run(self, job: ImportJob) -> None:
        if job.attempts > MAX_ATTEMPTS:
            await self._fail(job.id, f"Given up after {MAX_ATTEMPTS} attempts.")
            return
        async with self.sessions() as session:
            data = await repo.upload(session, job.id)
        if data is None:
            await self._fail(job.id, "The uploaded file is no longer stored.")
            return
        rows = tabular.read_table(data, job.filename, job.content_type)
        seen: set[str] = set()
        position = job.rows_done
        if position:
            await asyncio.to_thread(_skip, rows, position, seen)
        principal = _principal(job)
        upcoming = _read_ahead(rows)
        try:
            while True:
                if self.stopping.is_set():
                    async with self.sessions() as session:
                        await session.connection(execution_options=_WRITE)
                        await repo.release(session, job.id, self.owner, utcnow())
                        await session.commit()
                    return
                pairs = await upcoming
                entries = [Entry(position + i, row, item) for i, (row, item) in enumerate(pairs)]
                # The next chunk's rows are parsed (in a thread) while this one is written: on
                # the event loop the chunk mostly waits for the database, and the parsing no
                # longer stands between two chunks, when the writers that waited get their turn.
                upcoming = _read_ahead(rows)
                if not await self._chunk(job.id, principal, entries, seen):
                    return
                position += len(entries)
        finally:
            # Rows read ahead of a chunk that will not run are dropped, and so is an error in
            # reading them (the job ended before them).
            if not upcoming.cancel() and not upcoming.cancelled():
                upcoming.exception()

    async def _chunk(
        self, job_id: uuid.UUID, principal: Principal, entries: list[Entry], seen: set[str]
    ) -> bool:
        """Import one chunk in one transaction; whether the job goes on."""
        async with self.sessions() as session:
            # Chunks follow one another: on SQLite each lets waiting writers take the lock first
            # (app.db.SqliteWriteGate), so a cancel, another region's create or a review step
            # waits for one chunk at most.
            await session.connection(execution_options=BULK_WRITE)
            job = await repo.lock_leased(session, job_id, self.owner)
            if job is None:  # the lease ran out and another worker took the job over
                return False
            now = utcnow()
            job.updated_at = now
            if job.cancel_requested:
                self._finish(job, ImportStatus.cancelled)
                await webhooks.import_finished(session, job)
                await session.commit()
                return False
            if entries and entries[0].index != job.rows_done:
                return False  # not where this worker thinks it is: leave it to a fresh claim
            if entries:
                results = await upsert(session, principal, entries, for_import=True, seen=seen)
                await repo.add_results(session, job_id, results)
                counts = summarize(results)
                job.created += counts["created"]
                job.updated += counts["updated"]
                job.unchanged += counts["unchanged"]
                job.error += counts["error"]
                job.rows_done += len(entries)
            if len(entries) < MAX_BATCH or job.rows_done >= job.rows_total:
                job.rows_total = job.rows_done
                self._finish(job, ImportStatus.succeeded)
            else:
                job.lease_expires_at = now + self.lease
            if job.status != ImportStatus.running:
                await webhooks.import_finished(session, job)
            await session.commit()
            return job.status == ImportStatus.running

    @staticmethod
    def _finish(job: ImportJob, status: ImportStatus) -> None:
        job.status = status
        job.finished_at = job.updated_at
        job.lease_owner = None
        job.lease_expires_at = None

    async def _fail(self, job_id: uuid.UUID, reason: str) -> None:
        async with self.sessions() as session:
            await session.connection(execution_options=_WRITE)
            job = await repo.lock_leased(session, job_id, self.owner)
            if job is not None:
                job.updated_at = utcnow()
                job.failure = reason
                self._finish(job, ImportStatus.failed)
                await webhooks.import_finished(session, job)
                await session.commit()
