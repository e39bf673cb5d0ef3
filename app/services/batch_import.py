"""The spreadsheet import: a CSV or XLSX file of projects upserted as batch items.

A file is at most 50 MB and 100,000 rows, read within the limits of ``sheet_limits`` (413 naming
the limit, before anything is expanded) off the event loop. A file of at most one batch (1,000
rows) is upserted in its request and answered at once; a larger one becomes an import job
(services/import_jobs), run chunk by chunk by a worker, a repeated external_ref refused across
chunks as within one batch. Results carry the spreadsheet's own row numbers.
"""

import asyncio
from dataclasses import dataclass
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from app.auth import Principal
from app.errors import PayloadTooLarge, RuleViolation, field_error
from app.models import ImportJob
from app.schemas.batch import MAX_BATCH
from app.services import import_jobs, sheet_limits, tabular
from app.services.batch import upsert
from app.services.batch_items import Entry, summarize

MAX_IMPORT_ROWS = 100_000
MAX_IMPORT_BYTES = 50 * 1024 * 1024


def ensure_file_size(size: int | None) -> None:
    """Refuse a file over the size limit before it is read (413 ``file_too_large``)."""
    if size is not None and size > MAX_IMPORT_BYTES:
        raise PayloadTooLarge(
            f"A file is at most {MAX_IMPORT_BYTES // (1024 * 1024)} MB.", code="file_too_large"
        )


@dataclass
class Outcome:
    """What an import request answers: the batch's results, or the job it became."""

    answer: dict[str, Any]
    job: ImportJob | None = None


@dataclass(frozen=True)
class Scanned:
    """A file read and checked (``scan``): how many rows it holds, and its rows if they fit one
    batch (else None)."""

    data: bytes
    filename: str | None
    content_type: str | None
    rows_total: int
    first: list[tuple[int, dict[str, Any]]] | None


async def scan(data: bytes, filename: str | None, content_type: str | None) -> Scanned:
    """Read the whole file; 413 or 422 for a file past a limit, unreadable or without rows.

    Called before the request's transaction writes anything: parsing a large workbook is seconds
    of CPU, and on SQLite a write transaction holds the database's one write lock until it
    commits."""
    try:
        # Parsing a large workbook is seconds of CPU: keep it off the event loop.
        total, rows = await asyncio.to_thread(_read_rows, data, filename, content_type)
    except sheet_limits.TabularLimit as exc:
        refusal = PayloadTooLarge(str(exc), code=exc.code)
        refusal.extra.update(exc.limit)  # the limit named in the problem: {"limit_rows": …}
        raise refusal from exc
    except sheet_limits.TabularError as exc:
        raise RuleViolation(
            str(exc),
            code="unreadable_file",
            errors=[field_error(["body", "file"], "unreadable_file", str(exc))],
        ) from exc
    if total == 0:
        raise RuleViolation(
            "The file has a header row but no project rows.",
            code="empty_file",
            errors=[field_error(["body", "file"], "empty_file", "No rows.")],
        )
    return Scanned(data, filename, content_type, total, rows)


async def stage(session: AsyncSession, file: Scanned) -> import_jobs.Staged | None:
    """Store a file larger than one batch for its job, before the request's transaction writes
    anything (``import_jobs.stage``); None for a file imported at once."""
    if file.first is not None:
        return None
    return await import_jobs.stage(session, file.data)


async def run_import(
    session: AsyncSession, principal: Principal, file: Scanned, staged: import_jobs.Staged | None
) -> Outcome:
    """Upsert a file of one batch at once; queue a larger one (``staged``) as a job."""
    if file.first is None:
        assert staged is not None  # noqa: S101
        job = await import_jobs.submit(
            session, principal, staged, file.filename, file.content_type, file.rows_total
        )
        return Outcome(import_jobs.document(job), job)
    entries = [Entry(i, row, item) for i, (row, item) in enumerate(file.first)]
    results = await upsert(session, principal, entries, for_import=True)
    return Outcome({"results": results, "summary": summarize(results)})


def _read_rows(
    data: bytes, filename: str | None, content_type: str | None
) -> tuple[int, list[tuple[int, dict[str, Any]]] | None]:
    # Every row is read (the whole file is checked now, not by the job); only one batch is kept
    # and made into items.
    kept: list[tuple[int, dict[str, Any]]] = []
    total = 0
    for number, cells in tabular.read_cells(data, filename, content_type, max_rows=MAX_IMPORT_ROWS):
        total += 1
        if total <= MAX_BATCH:
            kept.append((number, tabular.row_to_item(cells)))
    return total, kept if total <= MAX_BATCH else None
