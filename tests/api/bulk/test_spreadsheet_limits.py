"""POST /projects/import refuses a file built to cost more to read than its size, before reading it.

Each hostile file answers 413 naming the limit it passes (``limit_*`` in the problem document) and
writes nothing: a zip part that inflates a thousandfold, more parts, bytes, shared strings or
cells than a workbook may hold, a row numbered twenty million (with or without a declared
dimension), a sheet wider than the column limit, a CSV line of a million commas. Where a real file
past a limit would take long to build, the limit is lowered for the test instead.
"""

import functools
import io
import zipfile
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from openpyxl import Workbook

from app.services import batch_import, sheet_limits
from tests.api.bulk.helpers import IMPORT, count_projects
from tests.conftest import Keys

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
MAIN = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
SHARED_STRINGS_TYPE = (
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sharedStrings+xml"
)


def _workbook(*rows: list[Any]) -> bytes:
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    for cells in rows or (["name", "external_ref"], ["甲", "R-1"]):
        sheet.append(cells)
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


def _with_parts(data: bytes, parts: dict[str, bytes]) -> bytes:
    """The workbook with these parts replaced or added (deflated as Excel does)."""
    source = zipfile.ZipFile(io.BytesIO(data))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as target:
        for info in source.infolist():
            if info.filename not in parts:
                target.writestr(info.filename, source.read(info.filename))
        for name, body in parts.items():
            target.writestr(name, body)
    return out.getvalue()


def _with_shared_strings(body: bytes) -> bytes:
    data = _workbook()
    override = f'<Override PartName="/xl/sharedStrings.xml" ContentType="{SHARED_STRINGS_TYPE}"/>'
    types = zipfile.ZipFile(io.BytesIO(data)).read("[Content_Types].xml")
    types = types.replace(b"</Types>", override.encode() + b"</Types>")
    return _with_parts(data, {"xl/sharedStrings.xml": body, "[Content_Types].xml": types})


def _with_sheet(sheet_data: str, dimension: str | None = None) -> bytes:
    declared = f'<dimension ref="{dimension}"/>' if dimension else ""
    sheet = f'<worksheet xmlns="{MAIN}">{declared}<sheetData>{sheet_data}</sheetData></worksheet>'
    return _with_parts(_workbook(), {"xl/worksheets/sheet1.xml": sheet.encode()})


def _inline(ref: str, text: str) -> str:
    return f'<c r="{ref}" t="inlineStr"><is><t>{text}</t></is></c>'


def _header_and_row_at(number: int) -> str:
    return (
        f'<row r="1">{_inline("A1", "name")}</row>'
        f'<row r="{number}">{_inline(f"A{number}", "甲")}</row>'
    )


@functools.cache
def shared_strings_bomb() -> bytes:
    """80 MB of shared strings in a file of 180 KB."""
    out = io.BytesIO()
    chunk = b"<si><t>" + b"A" * 1000 + b"</t></si>"
    with zipfile.ZipFile(io.BytesIO(_with_shared_strings(b"<sst/>"))) as source:
        with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as target:
            for info in source.infolist():
                if info.filename != "xl/sharedStrings.xml":
                    target.writestr(info.filename, source.read(info.filename))
            with target.open("xl/sharedStrings.xml", "w", force_zip64=True) as part:
                part.write(f'<sst xmlns="{MAIN}">'.encode())
                for _ in range(80 * 1024):
                    part.write(chunk)
                part.write(b"</sst>")
    return out.getvalue()


def too_many_parts() -> bytes:
    extra = {f"customXml/item{i}.xml": b"<a/>" for i in range(sheet_limits.XLSX_MAX_PARTS)}
    return _with_parts(_workbook(), extra)


def csv_line_of_commas() -> bytes:
    return b"name,external_ref\n" + b"," * (sheet_limits.MAX_CSV_LINE_CHARS + 1) + b"\n"


def namespaced_shared_strings(count: int) -> bytes:
    items = "".join(f"<x:si><x:t>s{i}</x:t></x:si>" for i in range(count))
    return _with_shared_strings(f'<x:sst xmlns:x="{MAIN}">{items}</x:sst>'.encode())


# (case, the file, the limits lowered for it, code, the problem's limit member and its value)
Case = tuple[str, Callable[[], bytes], dict[str, int], str, str, int]
CASES: list[Case] = [
    (
        "shared strings inflating 465 times",
        shared_strings_bomb,
        {},
        "workbook_part_too_compressed",
        "limit_ratio",
        100,
    ),
    ("1,009 parts", too_many_parts, {}, "too_many_parts", "limit_parts", 1000),
    (
        "parts larger together than the workbook limit",
        _workbook,
        {"XLSX_MAX_BYTES": 4096},
        "workbook_too_large",
        "limit_bytes",
        4096,
    ),
    (
        "a part read whole larger than the part limit",
        lambda: _with_shared_strings(b"<sst>" + b"<si><t>x</t></si>" * 400 + b"</sst>"),
        {"XLSX_MAX_PART_BYTES": 4096},
        "workbook_part_too_large",
        "limit_bytes",
        4096,
    ),
    (
        "more shared strings than the limit, behind a namespace prefix",
        lambda: namespaced_shared_strings(4),
        {"XLSX_MAX_SHARED_STRINGS": 3},
        "too_many_shared_strings",
        "limit_shared_strings",
        3,
    ),
    (
        "more cells than the limit",
        lambda: _with_sheet("".join(f"<row r='{r}'><c/><c/><c/></row>" for r in range(1, 5))),
        {"XLSX_MAX_CELLS": 11},
        "too_many_cells",
        "limit_cells",
        11,
    ),
    (
        "a row numbered 20,000,000",
        lambda: _with_sheet(_header_and_row_at(20_000_000)),
        {},
        "too_many_rows",
        "limit_rows",
        100_000,
    ),
    (
        "a declared dimension of 20,000,000 rows",
        lambda: _with_sheet(_header_and_row_at(2), dimension="A1:A20000000"),
        {},
        "too_many_rows",
        "limit_rows",
        100_000,
    ),
    (
        "a declared dimension of 16,384 columns",
        lambda: _with_sheet(_header_and_row_at(2), dimension="A1:XFD2"),
        {},
        "too_many_columns",
        "limit_columns",
        256,
    ),
    (
        "a header in column 257",
        lambda: _with_sheet(f'<row r="1">{_inline("A1", "name")}{_inline("IW1", "x")}</row>'),
        {},
        "too_many_columns",
        "limit_columns",
        256,
    ),
    (
        "a CSV line longer than the limit",
        csv_line_of_commas,
        {},
        "line_too_long",
        "limit_chars",
        1024 * 1024,
    ),
]


@pytest.mark.parametrize(
    ("build", "lowered", "code", "member", "limit"),
    [case[1:] for case in CASES],
    ids=[case[0] for case in CASES],
)
async def test_a_file_past_a_limit_is_413_naming_it(
    app: FastAPI,
    client: httpx.AsyncClient,
    keys: Keys,
    monkeypatch: pytest.MonkeyPatch,
    build: Callable[[], bytes],
    lowered: dict[str, int],
    code: str,
    member: str,
    limit: int,
) -> None:
    for name, value in lowered.items():
        monkeypatch.setattr(sheet_limits, name, value)
    data = build()
    name, media = ("p.csv", "text/csv") if data[:2] != b"PK" else ("p.xlsx", XLSX)
    response = await client.post(
        IMPORT, headers=await keys.region("440304"), files={"file": (name, data, media)}
    )
    assert response.status_code == 413, response.text
    problem = response.json()
    assert (problem["code"], problem[member]) == (code, limit)
    assert f"{limit}" in problem["detail"] or f"{limit // (1024 * 1024)} MB" in problem["detail"]
    assert await count_projects(app) == 0


async def test_rows_of_a_workbook_past_the_row_limit_are_413(
    app: FastAPI, client: httpx.AsyncClient, keys: Keys, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(batch_import, "MAX_IMPORT_ROWS", 3)
    rows = [["name", "external_ref"], *([f"甲{n}", f"R-{n}"] for n in range(4))]
    response = await client.post(
        IMPORT,
        headers=await keys.region("440304"),
        files={"file": ("p.xlsx", _workbook(*rows), XLSX)},
    )
    assert response.status_code == 413, response.text
    assert (response.json()["code"], response.json()["limit_rows"]) == ("too_many_rows", 3)
    assert await count_projects(app) == 0


async def test_entity_expansion_in_a_part_is_an_unreadable_file(
    client: httpx.AsyncClient, keys: Keys
) -> None:
    laughs = "".join(f'<!ENTITY l{i} "{f"&l{i - 1};" * 10}">' for i in range(1, 10))
    doctype = f'<!DOCTYPE sst [<!ENTITY l0 "ha">{laughs}]>'
    body = f'{doctype}<sst xmlns="{MAIN}"><si><t>&l9;</t></si></sst>'
    response = await client.post(
        IMPORT,
        headers=await keys.region("440304"),
        files={"file": ("p.xlsx", _with_shared_strings(body.encode()), XLSX)},
    )
    assert response.status_code == 422, response.text
    assert response.json()["code"] == "unreadable_file"
