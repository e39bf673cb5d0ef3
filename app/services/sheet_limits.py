"""The limits a spreadsheet upload is read within, checked before it is expanded.

A file from a client may be built to cost far more to read than its size: a zip part that expands
a thousandfold, shared strings by the million, a row numbered twenty million, a line of fifty
million commas. What is cheap to know is checked first: for an XLSX workbook its zip directory
(how many parts, their declared uncompressed sizes and expansion, which zip itself holds the reader
to) and a count of the cells and shared strings taken on the inflated bytes without parsing them;
for a CSV file the length of each line. A file past a limit raises ``TabularLimit``, which names
the limit (413 on the import).
"""

import io
import re
import zipfile
from collections.abc import Iterator
from xml.etree import ElementTree

_MB = 1024 * 1024
# A header as wide as this is far wider than the project table (about 50 columns).
MAX_COLUMNS = 256
# A CSV line (a row, or part of a row whose quoted cell spans lines).
MAX_CSV_LINE_CHARS = _MB
XLSX_MAX_PARTS = 1000
# Every part of the workbook together, as the zip directory declares them uncompressed. The
# worksheet is streamed; a project export of 100,000 rows is about 190 MB of sheet XML.
XLSX_MAX_BYTES = 320 * _MB
# Any other part (shared strings, styles, the workbook): openpyxl holds these whole in memory.
XLSX_MAX_PART_BYTES = 64 * _MB
# Inflating a part by more than this is a zip bomb, not a spreadsheet (an export: about 6 times).
XLSX_MAX_EXPANSION = 100
# openpyxl spends about 3 µs on a cell however small (and parses every cell of a row, also past
# the columns read): the cells of all worksheets together. 100,000 exported projects: 3.4 million.
XLSX_MAX_CELLS = 6_000_000
# Each shared string costs openpyxl about 6 µs and 120 bytes however short it is; 100,000 rows
# of projects hold far fewer distinct texts than this.
XLSX_MAX_SHARED_STRINGS = 1_000_000

_CONTENT_TYPES = "[Content_Types].xml"
_OVERRIDE = "{http://schemas.openxmlformats.org/package/2006/content-types}Override"
_WORKSHEET = "application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"
_SHARED_STRINGS = "application/vnd.openxmlformats-officedocument.spreadsheetml.sharedStrings+xml"
# A <c> (cell) or <si> (shared string) start tag, whatever its namespace prefix: under 40 bytes.
_CELL_TAG = re.compile(rb"<(?:[A-Za-z_][\w.-]{0,31}:)?c[\s/>]")
_SHARED_STRING_TAG = re.compile(rb"<(?:[A-Za-z_][\w.-]{0,31}:)?si[\s/>]")
_TAG_SPAN = 64
# A line and its ending, which is \n, \r\n or \r (universal newlines, kept as they are).
_LINE = re.compile(r"[^\r\n]*(?:\r\n|\r|\n)?")
_TAG_OF = {_SHARED_STRINGS: _SHARED_STRING_TAG, _WORKSHEET: _CELL_TAG}


class TabularError(ValueError):
    """The file cannot be read as a project table at all (not a single row's problem)."""


class TabularLimit(TabularError):
    """The file is past one of the limits; ``limit`` names it, e.g. ``{"limit_rows": 100000}``."""

    def __init__(self, message: str, code: str, **limit: int) -> None:
        super().__init__(message)
        self.code = code
        self.limit = limit


def too_many_rows(max_rows: int) -> TabularLimit:
    return TabularLimit(
        f"A file holds at most {max_rows} projects (rows below the header); split it.",
        "too_many_rows",
        limit_rows=max_rows,
    )


def too_many_columns() -> TabularLimit:
    return TabularLimit(
        f"A sheet has at most {MAX_COLUMNS} columns.", "too_many_columns", limit_columns=MAX_COLUMNS
    )


def bounded_lines(text: str) -> Iterator[str]:
    """The lines of a CSV text as ``open(newline="")`` gives them, each at most
    ``MAX_CSV_LINE_CHARS`` long.

    csv.reader builds a whole row before anything can look at it: a line of fifty million commas
    would be a list of fifty million cells. A line is measured before it is copied out of the text
    (a StringIO would first copy the whole text, at four bytes a character).
    """
    for line in _LINE.finditer(text):
        start, end = line.span()
        if end - start > MAX_CSV_LINE_CHARS:
            raise TabularLimit(
                f"A CSV line is at most {MAX_CSV_LINE_CHARS} characters.",
                "line_too_long",
                limit_chars=MAX_CSV_LINE_CHARS,
            )
        if end > start:
            yield line.group()


def _content_types(archive: zipfile.ZipFile) -> dict[str, str]:
    """Part name → content type, as the workbook declares them (and openpyxl finds them)."""
    try:
        info = archive.getinfo(_CONTENT_TYPES)
    except KeyError:  # not a workbook: openpyxl says so
        return {}
    if info.file_size > XLSX_MAX_PART_BYTES:  # refused with the other parts
        return {}
    try:
        # openpyxl reads this part with the same parser: expat bounds entity expansion, and
        # ElementTree never fetches an external entity.
        types = ElementTree.fromstring(archive.read(info))  # noqa: S314
    except (ElementTree.ParseError, zipfile.BadZipFile) as exc:
        raise TabularError("The file is not a readable XLSX workbook.") from exc
    return {
        str(node.get("PartName", "")).lstrip("/"): str(node.get("ContentType", ""))
        for node in types.iter(_OVERRIDE)
    }


def _count_tags(archive: zipfile.ZipFile, name: str, tag: re.Pattern[bytes]) -> int:
    """How many elements a part holds, counted on the inflated bytes without parsing them."""
    count, tail = 0, b""
    try:
        with archive.open(name) as part:
            while chunk := part.read(_MB):
                window = tail + chunk
                # A tag that starts in the last bytes is counted with the next window.
                cut = max(len(window) - _TAG_SPAN, 0)
                tail = window[cut:]
                count += len(tag.findall(window)) - len(tag.findall(tail))
    except (KeyError, zipfile.BadZipFile, OSError) as exc:
        raise TabularError("The file is not a readable XLSX workbook.") from exc
    return count + len(tag.findall(tail))


def check_xlsx_parts(data: bytes) -> None:
    """Refuse a workbook whose zip directory declares more than the limits allow.

    zipfile never inflates a part past its declared size (it fails the CRC instead), so the
    declared sizes bound what openpyxl can expand.
    """
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except (zipfile.BadZipFile, ValueError) as exc:
        raise TabularError("The file is not a readable XLSX workbook.") from exc
    with archive:
        parts = archive.infolist()
        if len(parts) > XLSX_MAX_PARTS:
            raise TabularLimit(
                f"A workbook has at most {XLSX_MAX_PARTS} parts.",
                "too_many_parts",
                limit_parts=XLSX_MAX_PARTS,
            )
        if sum(part.file_size for part in parts) > XLSX_MAX_BYTES:
            raise TabularLimit(
                f"A workbook is at most {XLSX_MAX_BYTES // _MB} MB uncompressed.",
                "workbook_too_large",
                limit_bytes=XLSX_MAX_BYTES,
            )
        types = _content_types(archive)
        for part in parts:
            if part.file_size > _MB and part.file_size > XLSX_MAX_EXPANSION * part.compress_size:
                raise TabularLimit(
                    f"A workbook part expands at most {XLSX_MAX_EXPANSION} times "
                    f"({part.filename} expands more).",
                    "workbook_part_too_compressed",
                    limit_ratio=XLSX_MAX_EXPANSION,
                )
            streamed = types.get(part.filename) == _WORKSHEET
            if part.file_size > XLSX_MAX_PART_BYTES and not streamed:
                raise TabularLimit(
                    f"A workbook part other than a worksheet is at most "
                    f"{XLSX_MAX_PART_BYTES // _MB} MB uncompressed ({part.filename} is larger).",
                    "workbook_part_too_large",
                    limit_bytes=XLSX_MAX_PART_BYTES,
                )
        counted = {_SHARED_STRINGS: 0, _WORKSHEET: 0}
        for name, kind in types.items():
            if kind in _TAG_OF:
                counted[kind] += _count_tags(archive, name, _TAG_OF[kind])
    _refuse_over(
        counted[_SHARED_STRINGS], XLSX_MAX_SHARED_STRINGS, "shared strings", "shared_strings"
    )
    _refuse_over(counted[_WORKSHEET], XLSX_MAX_CELLS, "cells in its worksheets", "cells")


def _refuse_over(count: int, limit: int, what: str, unit: str) -> None:
    if count > limit:
        code = f"too_many_{unit}"
        raise TabularLimit(
            f"A workbook holds at most {limit} {what}.", code, **{f"limit_{unit}": limit}
        )
