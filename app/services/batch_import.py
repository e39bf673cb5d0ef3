"""The spreadsheet import: a CSV or XLSX file of projects upserted as batch items.

A file is at most 50 MB and 100,000 rows, read within the limits of ``sheet_limits`` (413 naming
the limit, before anything is expanded); it is read off the event loop, and its rows go through
the batch upsert 1,000 at a time, a repeated external_ref refused across chunks as within one
batch. Results carry the spreadsheet's own row numbers.
"""

import asyncio
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from app.auth import Principal
from app.errors import PayloadTooLarge, RuleViolation, field_error
from app.schemas.batch import MAX_BATCH
from app.services import sheet_limits, tabular
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


async def run_import(
    session: AsyncSession,
    principal: Principal,
    data: bytes,
    filename: str | None,
    content_type: str | None,
) -> dict[str, Any]:
    """Upsert the rows of a CSV or XLSX file, 1,000 at a time; results carry the row numbers."""
    rows = await _rows(data, filename, content_type)
    entries = [Entry(i, row, item) for i, (row, item) in enumerate(rows)]
    seen: set[str] = set()
    results: list[dict[str, Any]] = []
    for start in range(0, len(entries), MAX_BATCH):
        chunk = entries[start : start + MAX_BATCH]
        results.extend(await upsert(session, principal, chunk, for_import=True, seen=seen))
    return {"results": results, "summary": summarize(results)}


async def _rows(
    data: bytes, filename: str | None, content_type: str | None
) -> list[tuple[int, dict[str, Any]]]:
    """The file's (row number, item) pairs; 422 for a file that is unreadable or has no rows."""
    try:
        # Parsing a large workbook is seconds of CPU: keep it off the event loop.
        rows = await asyncio.to_thread(_read_rows, data, filename, content_type)
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
    if not rows:
        raise RuleViolation(
            "The file has a header row but no project rows.",
            code="empty_file",
            errors=[field_error(["body", "file"], "empty_file", "No rows.")],
        )
    return rows


def _read_rows(
    data: bytes, filename: str | None, content_type: str | None
) -> list[tuple[int, dict[str, Any]]]:
    return list(tabular.read_table(data, filename, content_type, max_rows=MAX_IMPORT_ROWS))
