"""The library as a spreadsheet: CSV or XLSX, streamed, exactly what the list shows.

Rows come from the list's own query (``list_projects``: visibility, filters and order) in keyset
pages of 1,000 and go out as they are read, so the whole library never sits in memory. Each row is
the list item flattened into ``tabular`` columns: the export-only columns (id, status, library
code, …) first, then the import columns; a contact the caller may not see stays empty, exactly as
the list shows ``contact: null``. Next to each coded column goes its label (``LABELS``: the status,
objective, categories, region, owner kind, …), in Chinese, or in English with ``header="en"``;
the import ignores these columns. Row 1 holds the field names (``header="zh"``: the Chinese names;
``"en"``: English ones), all of which the import reads, so an export can be edited and imported
back.

No database connection waits on the client. Each page is one short read in a session of its
own, closed before the page's bytes are handed on, so a client that reads slowly or stops reading
costs its socket, not a connection (and the send timeout drops it). The XLSX workbook is written
whole to a temporary file first (a zip's directory comes last), then sent.

The pages are separate reads, not one snapshot. Each starts strictly after the last row of the
page before, in the sort order ending on the id, so a row that does not change during the export
appears exactly once, in order. A row that changes while the export runs appears with the version
its page read, old or new. If the change moves it in the sort order (sorting by name, need or
update time), it may appear twice (moved from the part already read to the part still to come)
or not at all (the reverse); if it takes the row out of the filters or out of the caller's view
before its page is read, the row does not appear. A row created during the export appears only
if it sorts after the rows already read: under the default order, newest first, it does not.
With ``updated_since`` every page reads up to the same watermark, fixed before the first and
named in ``X-Updated-Until`` (app/repositories/feed.py): the next export's ``updated_since``.

Once the first byte is out the status can no longer change, so an export that fails midway must
not end like a complete file: the failure is logged and propagates, and the server drops the
connection without the body's terminating chunk. The client sees an incomplete transfer.
"""

import asyncio
import csv
import io
import logging
import os
import tempfile
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any, Literal

from openpyxl import Workbook
from openpyxl.worksheet._write_only import WriteOnlyWorksheet
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.auth import Principal
from app.models.project_query import ProjectFilters
from app.reference.labels import Language, category_label, enum_label, region_label
from app.services import integrity, projects
from app.services.cell_safety import neutralise
from app.services.tabular import EN_HEADERS, EXPORT_ONLY_COLUMNS, IMPORT_COLUMNS, PATHS

Labeller = Callable[[Any, Language], Any]


def _enum(name: str) -> Labeller:
    return lambda code, language: enum_label(name, code, language)


def _categories(codes: Any, language: Language) -> list[str] | None:
    return None if codes is None else [category_label(c, language) for c in codes]


def _financing_types(codes: Any, language: Language) -> list[str] | None:
    return (
        None if codes is None else [enum_label("financing_type", c, language) or c for c in codes]
    )


def _category(code: Any, language: Language) -> str | None:
    return None if code is None else category_label(code, language)


@dataclass(frozen=True)
class Label:
    """A label column: its name, its headers, and how it reads the coded column before it."""

    name: str
    zh: str
    en: str
    of: Labeller


# The coded column each label column follows.
LABELS: dict[str, Label] = {
    "status": Label("status_label", "状态名称", "Status (label)", _enum("status")),
    "two_high_outcome": Label(
        "two_high_outcome_label",
        "两高筛查结论名称",
        "Two-high screening outcome (label)",
        _enum("two_high_outcome"),
    ),
    "region_code": Label("region_name", "行政区划名称", "Region (label)", region_label),
    "owner_type": Label(
        "owner_type_label", "业主类型名称", "Owner type (label)", _enum("owner_type")
    ),
    "objective": Label("objective_label", "气候目标名称", "Objective (label)", _enum("objective")),
    "categories": Label("category_labels", "支持领域名称", "Categories (labels)", _categories),
    "primary_category": Label(
        "primary_category_label", "主要支持领域名称", "Primary category (label)", _category
    ),
    "fuel": Label("fuel_label", "燃料类型名称", "Fuel (label)", _enum("fuel")),
    "nature": Label("nature_label", "建设性质名称", "Nature (label)", _enum("nature")),
    "construction_status": Label(
        "construction_status_label",
        "建设状态名称",
        "Construction status (label)",
        _enum("construction_status"),
    ),
    "financing_types": Label(
        "financing_type_labels", "融资方式名称", "Financing types (labels)", _financing_types
    ),
}
_LABEL_OF = {label.name: (code, label) for code, label in LABELS.items()}


def _with_labels(columns: tuple[tuple[str, str], ...]) -> tuple[tuple[str, str], ...]:
    out: list[tuple[str, str]] = []
    for field, zh in columns:
        out.append((field, zh))
        label = LABELS.get(field)
        if label is not None:
            out.append((label.name, label.zh))
    return tuple(out)


# (field, Chinese header) in the export's order: the data columns with their labels.
COLUMNS = _with_labels(EXPORT_ONLY_COLUMNS + IMPORT_COLUMNS)
PAGE_SIZE = 1000
CSV_MEDIA_TYPE = "text/csv; charset=utf-8"
XLSX_MEDIA_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
_MONEY = frozenset({"total_investment", "financing_need", "financing_secured"})
_CHUNK = 64 * 1024

log = logging.getLogger("climatelib.export")

Format = Literal["csv", "xlsx"]
HeaderStyle = Literal["field", "zh", "en"]


def _english(field: str) -> str:
    if field in _LABEL_OF:
        return _LABEL_OF[field][1].en
    return EN_HEADERS[field]


def header_row(style: HeaderStyle) -> list[str]:
    if style == "zh":
        return [zh for _, zh in COLUMNS]
    if style == "en":
        return [_english(field) for field, _ in COLUMNS]
    return [field for field, _ in COLUMNS]


def label_language(style: HeaderStyle) -> Language:
    """Labels are Chinese, or English under English headers."""
    return "en" if style == "en" else "zh"


def _value(doc: dict[str, Any], field: str, language: Language) -> Any:
    labelled = _LABEL_OF.get(field)
    if labelled is not None:
        code, label = labelled
        return label.of(_value(doc, code, language), language)
    value: Any = doc
    for key in PATHS[field]:
        if value is None:  # a contact the caller may not see: its columns stay empty
            return None
        value = value[key]
    return value


def cells(doc: dict[str, Any], language: Language = "zh") -> list[Any]:
    """A list item's values in column order, as Python values (labels in ``language``)."""
    return [_value(doc, field, language) for field, _ in COLUMNS]


def _list_text(values: list[Any]) -> str:
    # Codes as they are; classifications as scheme:code, the form the import reads back.
    text = ";".join(f"{v['scheme']}:{v['code']}" if isinstance(v, dict) else str(v) for v in values)
    return neutralise(text)


def _csv_text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return _list_text(value)
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, str):
        return neutralise(value)
    return str(value)


def _xlsx_value(field: str, value: Any) -> Any:
    # Numbers and dates stay typed so that Excel sums and sorts them; Excel has no time zones,
    # so timestamps go out as ISO text; lists as the text the import splits again.
    if value is None:
        return None
    if field in _MONEY:
        return Decimal(value)
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, list):
        return _list_text(value)
    if isinstance(value, str):
        # openpyxl writes a string that begins with "=" as a formula: this one never does.
        return neutralise(value)
    return value


async def _pages(
    sessions: async_sessionmaker[AsyncSession],
    principal: Principal,
    filters: ProjectFilters,
    sort: str,
) -> AsyncIterator[list[dict[str, Any]]]:
    """The list's pages, each read in its own session and given back before it is handed on."""
    cursor: str | None = None
    while True:
        async with sessions() as session:
            page, _ = await projects.list_projects(
                session, principal, filters, sort=sort, cursor=cursor, limit=PAGE_SIZE
            )
        if page["items"]:
            yield page["items"]
        cursor = page["next_cursor"]
        if cursor is None:
            return


async def csv_stream(
    sessions: async_sessionmaker[AsyncSession],
    principal: Principal,
    filters: ProjectFilters,
    *,
    sort: str,
    header: HeaderStyle,
) -> AsyncIterator[bytes]:
    """UTF-8 CSV with a BOM (Excel then reads the Chinese right), the header in row 1."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(header_row(header))
    yield ("\ufeff" + buffer.getvalue()).encode()
    language = label_language(header)
    async for page in _pages(sessions, principal, filters, sort):
        yield await asyncio.to_thread(_csv_page, writer, buffer, page, language)


def _csv_page(
    writer: Any, buffer: io.StringIO, page: list[dict[str, Any]], language: Language
) -> bytes:
    # A page is a hundred milliseconds of CPU or more: in a thread, other requests go on.
    buffer.seek(0)
    buffer.truncate()
    writer.writerows([_csv_text(v) for v in cells(doc, language)] for doc in page)
    return buffer.getvalue().encode()


def _append(sheet: WriteOnlyWorksheet, page: list[dict[str, Any]], language: Language) -> None:
    fields = [field for field, _ in COLUMNS]
    for doc in page:
        values = cells(doc, language)
        sheet.append([_xlsx_value(f, v) for f, v in zip(fields, values, strict=True)])


def _read_chunk(path: str, offset: int) -> bytes:
    with open(path, "rb") as handle:
        handle.seek(offset)
        return handle.read(_CHUNK)


async def xlsx_stream(
    sessions: async_sessionmaker[AsyncSession],
    principal: Principal,
    filters: ProjectFilters,
    *,
    sort: str,
    header: HeaderStyle,
) -> AsyncIterator[bytes]:
    """An XLSX workbook built row by row (openpyxl write-only) in a temporary file, then sent.

    A zip file's directory comes last, so the workbook is complete before its first byte goes out;
    memory stays flat all the same. openpyxl is CPU work: it runs in a thread.
    """
    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet("projects")
    sheet.append(header_row(header))
    handle, path = tempfile.mkstemp(suffix=".xlsx", prefix="climatelib-export-")
    os.close(handle)
    try:
        async for page in _pages(sessions, principal, filters, sort):
            await asyncio.to_thread(_append, sheet, page, label_language(header))
        await asyncio.to_thread(workbook.save, path)
        offset = 0
        while chunk := await asyncio.to_thread(_read_chunk, path, offset):
            offset += len(chunk)
            yield chunk
    finally:
        os.unlink(path)


async def stream(
    session: AsyncSession,
    sessions: async_sessionmaker[AsyncSession],
    principal: Principal,
    filters: ProjectFilters,
    *,
    format: Format,
    sort: str,
    header: HeaderStyle,
) -> tuple[AsyncIterator[bytes], datetime | None]:
    """The export's bytes, produced as the client reads them; with ``updated_since`` also the
    read's watermark, fixed before the first page so that every page reads to it and the answer
    names it up front. ``session``: the request's own (its connection is the only one the
    request holds until the pages start), only for the watermark."""
    filters = await integrity.resolve_filter(session, principal, filters)
    filters = await projects.feed_bound(session, filters)
    produce = csv_stream if format == "csv" else xlsx_stream
    chunks = _aborted_on_failure(produce(sessions, principal, filters, sort=sort, header=header))
    return chunks, filters.updated_until


async def _aborted_on_failure(chunks: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
    # Re-raising is how an ASGI application aborts an answer it has started: the server closes the
    # connection without ending the chunked body (a client that goes away is not an Exception).
    sent = 0
    try:
        async for chunk in chunks:
            yield chunk
            sent += len(chunk)
    except Exception as exc:
        log.error(
            "export aborted; the client gets an incomplete transfer",
            extra={"bytes_sent": sent, "error": type(exc).__name__},
        )
        raise
