"""Projects as spreadsheet rows: the columns of CSV/XLSX import and export, and their parsing.

One flat column per field (``owner_name`` for ``owner.name``); list fields are separated by
``;`` (also ``，``, ``、`` or ``,`` on import). Chinese and English headers are accepted as well as
field names.

A file is read within the limits of ``sheet_limits``: what an XLSX workbook declares is checked
before openpyxl expands anything, then the sheet's declared dimension and the header's width; rows
are read in read-only mode, only as wide as the header and one past the row limit; CSV lines are
bounded before csv splits them.
"""

import csv
import io
from collections.abc import Iterable, Iterator
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from openpyxl import load_workbook

from app.schemas.project import INPUT_FIELDS
from app.schemas.project_fields import SheetColumn
from app.services.cell_safety import MARK, restore
from app.services.sheet_limits import (
    MAX_COLUMNS,
    bounded_lines,
    check_xlsx_parts,
    too_many_columns,
    too_many_rows,
)
from app.services.sheet_limits import TabularError as TabularError  # read where tables are read

SHEET: tuple[SheetColumn, ...] = tuple(column for spec in INPUT_FIELDS for column in spec.sheet)
# (field, Chinese header); the order is the export's column order.
IMPORT_COLUMNS: tuple[tuple[str, str], ...] = tuple((c.name, c.zh) for c in SHEET)
# Columns only an export has: what the library adds to a project.
EXPORT_ONLY_COLUMNS: tuple[tuple[str, str], ...] = (
    ("id", "项目ID"),
    ("status", "状态"),
    ("library_code", "入库编号"),
    ("approved_at", "入库时间"),
    ("is_two_high", "两高行业"),
    ("two_high_outcome", "两高筛查结论"),
    ("two_high_rule", "两高筛查规则"),
    ("created_at", "创建时间"),
    ("updated_at", "更新时间"),
)
# Where each column's value sits in a project's JSON answer.
PATHS: dict[str, tuple[str, ...]] = {
    **{field: (field,) for field, _ in EXPORT_ONLY_COLUMNS},
    "is_two_high": ("screening", "is_two_high"),
    "two_high_outcome": ("screening", "outcome"),
    "two_high_rule": ("screening", "rule_id"),
    **{c.name: c.path for c in SHEET},
}
# English headers: the field name in words, with the units and abbreviations written out.
_EN_WORDS = {
    "uscc": "USCC",
    "tco2e": "(tCO2e)",
    "tce": "(tce)",
    "en": "(English)",
    "lat": "latitude",
    "lon": "longitude",
    "external": "External",
    "ref": "reference",
}


def _english(field: str) -> str:
    if field == "id":
        return "Project ID"
    words = [_EN_WORDS.get(word, word) for word in field.split("_")]
    text = " ".join(words)
    return text[0].upper() + text[1:]


EN_HEADERS: dict[str, str] = {
    field: _english(field) for field, _ in EXPORT_ONLY_COLUMNS + IMPORT_COLUMNS
}
"""English header of each data column (the export's ``header=en``; the import reads them)."""
# Each imported column with where its value goes in the item (parents, leaf): a 100,000-row job
# reads four million cells, so nothing per cell is worked out twice.
_PLACES: dict[str, tuple[SheetColumn, tuple[str, ...], str]] = {
    c.name: (c, tuple(c.path[:-1]), c.path[-1]) for c in SHEET
}
# The column that holds a nested field's part, by its path: ("owner", "uscc") → "owner_uscc".
COLUMN_AT: dict[tuple[str | int, ...], str] = {c.path: c.name for c in SHEET if len(c.path) > 1}
_HEADER_TO_FIELD = {
    **{field: field for field, _ in IMPORT_COLUMNS + EXPORT_ONLY_COLUMNS},
    **{zh: field for field, zh in IMPORT_COLUMNS + EXPORT_ONLY_COLUMNS},
    **{en: field for field, en in EN_HEADERS.items()},
}
_TRUE = frozenset({"true", "1", "yes", "y", "是", "有", "√"})
_FALSE = frozenset({"false", "0", "no", "n", "否", "无", "×"})


def field_for_header(header: str) -> str | None:
    return _HEADER_TO_FIELD.get(header.strip().lstrip("\ufeff"))


def _cell_text(value: Any) -> str | None:
    if type(value) is str:  # every CSV cell and most XLSX ones: the common case first
        text = value.strip()
        return (restore(text) if text[:1] == MARK else text) or None
    if value is None:
        return None
    if isinstance(value, datetime):
        return (
            value.date().isoformat() if value.time() == datetime.min.time() else value.isoformat()
        )
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, float):
        # Spreadsheets hold money as binary floats; their shortest repr is the number typed in.
        return str(int(value)) if value.is_integer() else str(Decimal(repr(value)))
    text = restore(str(value).strip())
    return text or None


def _split_list(text: str) -> list[str]:
    for sep in ("，", "、", ","):
        text = text.replace(sep, ";")
    return [part.strip() for part in text.split(";") if part.strip()]


def _cell_value(column: SheetColumn, text: str) -> Any:
    if column.cell == "list":
        return _split_list(text)
    if column.cell == "bool":
        lowered = text.lower()
        return True if lowered in _TRUE else False if lowered in _FALSE else text
    return text


def row_to_item(row: dict[str, Any]) -> dict[str, Any]:
    """A flat row (field → cell) as the JSON body a single create would take.

    Empty cells are left out; export-only columns (id, status, …) are ignored on import, so an
    export can be edited and imported back.
    """
    item: dict[str, Any] = {}
    for field, raw in row.items():
        place = _PLACES.get(field)
        if place is None or raw is None or raw == "":
            continue
        text = _cell_text(raw)
        if text is None:
            continue
        column, parents, leaf = place
        target = item
        for parent in parents:
            target = target.setdefault(parent, {})
        target[leaf] = text if column.cell == "text" else _cell_value(column, text)
    return item


def _map_headers(headers: Iterable[Any]) -> list[str | None]:
    mapped = [field_for_header(str(h)) if h is not None else None for h in headers]
    if "name" not in mapped:
        raise TabularError(
            "The first row must hold column headers (field names or their Chinese names); "
            "no 'name' / '项目名称' column was found."
        )
    return mapped


def read_csv(data: bytes, max_rows: int | None = None) -> Iterator[tuple[int, dict[str, Any]]]:
    """Rows of a CSV file (UTF-8, with or without BOM; GB18030 as exported by Chinese Excel)."""
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        try:
            text = data.decode("gb18030")
        except UnicodeDecodeError as exc:
            raise TabularError("The CSV file is neither UTF-8 nor GB18030 text.") from exc
    reader = csv.reader(bounded_lines(text))
    served = 0
    try:
        headers = _map_headers(next(reader, []))
        for cells in reader:
            if not any(c.strip() for c in cells):
                continue
            served += 1
            if max_rows is not None and served > max_rows:
                raise too_many_rows(max_rows)
            # line_num counts physical lines: a quoted multi-line cell does not shift later rows
            yield (
                reader.line_num,
                {h: c for h, c in zip(headers, cells, strict=False) if h is not None},
            )
    except csv.Error as exc:  # a NUL byte, an oversized cell, …
        raise TabularError(f"The CSV file is malformed near line {reader.line_num}: {exc}") from exc


def read_xlsx(data: bytes, max_rows: int | None = None) -> Iterator[tuple[int, dict[str, Any]]]:
    """Rows of the first worksheet of an XLSX workbook."""
    check_xlsx_parts(data)
    try:
        workbook = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except Exception as exc:  # openpyxl raises many types for a file that is not a workbook
        raise TabularError("The file is not a readable XLSX workbook.") from exc
    try:
        sheet = workbook.worksheets[0]
        # The declared dimension, when there is one, refuses a sheet before a row is parsed.
        if max_rows is not None and (sheet.max_row or 0) > max_rows + 1:
            raise too_many_rows(max_rows)
        if (sheet.max_column or 0) > MAX_COLUMNS:
            raise too_many_columns()
        header = next(sheet.iter_rows(max_row=1, max_col=MAX_COLUMNS + 1, values_only=True), ())
        if len(header) > MAX_COLUMNS and header[MAX_COLUMNS] is not None:
            raise too_many_columns()
        header = header[:MAX_COLUMNS]
        width = max((i + 1 for i, h in enumerate(header) if h is not None), default=0)
        headers = _map_headers(header[:width])
        # Rows are read only as wide as the header and one past the limit: openpyxl fills the
        # rows between two far-apart row numbers, and stops filling at max_row.
        last = None if max_rows is None else max_rows + 2
        rows = sheet.iter_rows(min_row=2, max_row=last, max_col=width, values_only=True)
        for number, cells in enumerate(rows, start=2):
            if max_rows is not None and number == last:
                raise too_many_rows(max_rows)
            if all(c is None or str(c).strip() == "" for c in cells):
                continue
            yield number, {h: c for h, c in zip(headers, cells, strict=False) if h is not None}
    except TabularError:
        raise
    except Exception as exc:  # a damaged sheet inside a readable zip fails while rows are read
        raise TabularError("The XLSX workbook is damaged and cannot be read.") from exc
    finally:
        workbook.close()


def read_cells(
    data: bytes, filename: str | None, content_type: str | None, *, max_rows: int | None = None
) -> Iterator[tuple[int, dict[str, Any]]]:
    """(row number, field → cell) pairs from a CSV or XLSX upload, told apart by content, name or
    type; ``row_to_item`` makes an item of one. Checking a whole file needs no more than this.

    Row numbers are the spreadsheet's own (the header is row 1), as a user sees them. With
    ``max_rows``, a file holding more rows below its header raises ``TabularLimit``.
    """
    is_xlsx = (
        data[:2] == b"PK"
        or (filename or "").lower().endswith(".xlsx")
        or (content_type or "").endswith("spreadsheetml.sheet")
    )
    return read_xlsx(data, max_rows) if is_xlsx else read_csv(data, max_rows)


def read_table(
    data: bytes, filename: str | None, content_type: str | None, *, max_rows: int | None = None
) -> Iterator[tuple[int, dict[str, Any]]]:
    """(row number, item) pairs from a CSV or XLSX upload (``read_cells``, each row an item)."""
    for number, row in read_cells(data, filename, content_type, max_rows=max_rows):
        yield number, row_to_item(row)
