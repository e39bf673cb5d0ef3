"""GET /projects/export: the list as CSV or XLSX, streamed, public fields for the public."""

import csv
import io
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from openpyxl import Workbook, load_workbook
from sqlalchemy import update

from app.models import Project, ProjectStatus
from app.services import export
from tests.api.bulk.helpers import BATCH, EXPORT, IMPORT, item
from tests.conftest import Keys
from tests.factories import project_in

COLUMNS = [field for field, _ in export.COLUMNS]  # data columns with their labels
CONTACT = ("contact_name", "contact_phone", "contact_email")


def parse_csv(response: httpx.Response) -> list[dict[str, str]]:
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "text/csv; charset=utf-8"
    assert response.content.startswith("\ufeff".encode())
    reader = csv.reader(io.StringIO(response.content.decode("utf-8-sig"), newline=""))
    header = next(reader)
    assert header == COLUMNS
    return [dict(zip(header, cells, strict=True)) for cells in reader]


async def push(client: httpx.AsyncClient, headers: dict[str, str], items: list[Any]) -> None:
    for start in range(0, len(items), 1000):
        answer = await client.post(
            BATCH, json={"items": items[start : start + 1000]}, headers=headers
        )
        assert answer.json()["summary"]["error"] == 0, answer.text


async def approve_all(app: FastAPI, prefix: str) -> None:
    """Test setup at scale: put every project of a region into the library directly."""
    async with app.state.sessions.begin() as session:
        await session.execute(
            update(Project)
            .where(Project.external_ref.startswith(prefix))
            .values(status=ProjectStatus.in_library)
        )


class TestExportProjects:
    async def test_whole_library_public_sees_library_only_without_contacts(
        self, client: httpx.AsyncClient, keys: Keys, app: FastAPI
    ) -> None:
        futian = await keys.region("440304")
        items = [item(n) for n in range(3000)]
        for n in range(0, 3000, 2):
            items[n]["external_ref"] = f"L-{n:05d}"
        await push(client, futian, items)
        await approve_all(app, "L-")
        public = parse_csv(await client.get(EXPORT))
        assert len(public) == 1500
        assert {r["status"] for r in public} == {"in_library"}
        assert {r["external_ref"][:2] for r in public} == {"L-"}
        assert all(r[c] == "" for r in public for c in CONTACT)
        assert len({r["id"] for r in public}) == 1500
        region = parse_csv(await client.get(EXPORT, headers=futian))
        assert len(region) == 3000
        assert {r["status"] for r in region} == {"in_library", "draft"}
        assert all(r["contact_name"] == "Li Ming" for r in region)

    async def test_rows_equal_what_the_list_shows(
        self, client: httpx.AsyncClient, keys: Keys
    ) -> None:
        futian = await keys.region("440304")
        nanshan = await keys.region("440305")
        own = await project_in(client, keys, "in_library", futian, external_ref="A-1")
        await project_in(client, keys, "draft", futian, external_ref="A-2")
        listed = (await client.get("/api/v1/projects", headers=nanshan)).json()["items"]
        rows = parse_csv(await client.get(EXPORT, headers=nanshan))
        assert [r["id"] for r in rows] == [p["id"] for p in listed] == [own["id"]]
        [row] = rows
        assert row["library_code"] == own["library_code"]
        assert row["total_investment"] == own["total_investment"]
        assert row["categories"] == "M2"
        assert row["financing_types"] == "loan;leasing"
        assert row["owner_uscc"] == own["owner"]["uscc"]
        assert row["is_two_high"] == "false"
        assert all(row[c] == "" for c in CONTACT)

    async def test_list_filters_apply(self, client: httpx.AsyncClient, keys: Keys) -> None:
        futian = await keys.region("440304")
        await push(
            client,
            futian,
            [
                item(1),
                item(2, financing_need="1000.00"),
                item(
                    3,
                    objective="adaptation",
                    categories=["A2"],
                    adaptation_benefit="Flood control.",
                ),
            ],
        )
        rows = parse_csv(await client.get(EXPORT, params={"need_max": "5000"}, headers=futian))
        assert [r["external_ref"] for r in rows] == ["R-00002"]
        rows = parse_csv(await client.get(EXPORT, params={"category": "A2"}, headers=futian))
        assert [r["external_ref"] for r in rows] == ["R-00003"]
        rows = parse_csv(
            await client.get(EXPORT, params={"sort": "name", "status": "draft"}, headers=futian)
        )
        assert [r["external_ref"] for r in rows] == ["R-00001", "R-00002", "R-00003"]
        bad = await client.get(EXPORT, params={"region_code": "x"}, headers=futian)
        assert bad.status_code == 422

    async def test_pages_are_stitched_without_gaps_or_repeats(
        self, client: httpx.AsyncClient, keys: Keys, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        futian = await keys.region("440304")
        await push(client, futian, [item(n, name=f"Same name {n % 3}") for n in range(23)])
        monkeypatch.setattr(export, "PAGE_SIZE", 5)
        rows = parse_csv(await client.get(EXPORT, params={"sort": "name"}, headers=futian))
        assert sorted(r["external_ref"] for r in rows) == [f"R-{n:05d}" for n in range(23)]
        assert [r["name"] for r in rows] == sorted(r["name"] for r in rows)

    async def test_unknown_format_is_422(self, client: httpx.AsyncClient) -> None:
        response = await client.get(EXPORT, params={"format": "pdf"})
        assert response.status_code == 422
        assert response.json()["errors"][0]["loc"] == ["query", "format"]

    async def test_empty_export_is_the_header_alone(self, client: httpx.AsyncClient) -> None:
        assert parse_csv(await client.get(EXPORT)) == []

    async def test_chinese_header_row(self, client: httpx.AsyncClient) -> None:
        response = await client.get(EXPORT, params={"header": "zh"})
        first = response.content.decode("utf-8-sig").splitlines()[0]
        assert first.split(",")[:4] == ["项目ID", "状态", "状态名称", "入库编号"]


class TestExportRoundTrip:
    async def test_csv_export_edited_and_imported_back(
        self, client: httpx.AsyncClient, keys: Keys
    ) -> None:
        futian = await keys.region("440304")
        await push(client, futian, [item(n) for n in range(5)])
        exported = await client.get(EXPORT, headers=futian)
        text = exported.content.decode("utf-8-sig")
        rows = list(csv.reader(io.StringIO(text, newline="")))
        summary_col = rows[0].index("summary")
        ref_col = rows[0].index("external_ref")
        for cells in rows[1:]:
            if cells[ref_col] == "R-00003":
                cells[summary_col] = "改为储能一体化"
        buffer = io.StringIO()
        csv.writer(buffer).writerows(rows)
        answer = await client.post(
            IMPORT,
            headers=futian,
            files={"file": ("edited.csv", buffer.getvalue().encode("utf-8-sig"), "text/csv")},
        )
        assert answer.status_code == 200, answer.text
        assert answer.json()["summary"] == {"created": 0, "updated": 1, "unchanged": 4, "error": 0}
        [updated] = [r for r in answer.json()["results"] if r["status"] == "updated"]
        assert updated["external_ref"] == "R-00003"
        got = (await client.get(f"/api/v1/projects/{updated['id']}", headers=futian)).json()
        assert got["summary"] == "改为储能一体化"

    async def test_xlsx_export_edited_and_imported_back(
        self, client: httpx.AsyncClient, keys: Keys
    ) -> None:
        futian = await keys.region("440304")
        await push(
            client,
            futian,
            [item(n, financing_need="12345678.91", start_date=None) for n in range(4)],
        )
        exported = await client.get(
            EXPORT, params={"format": "xlsx", "header": "zh"}, headers=futian
        )
        assert exported.status_code == 200
        assert exported.headers["content-type"].startswith("application/vnd.openxmlformats")
        assert 'filename="climatelib-projects-' in exported.headers["content-disposition"]
        book = load_workbook(io.BytesIO(exported.content))
        sheet = book.worksheets[0]
        values = [list(r) for r in sheet.iter_rows(values_only=True)]
        assert len(values) == 5
        header = values[0]
        need = header.index("融资需求（元）")
        assert values[1][need] == 12345678.91
        edited = Workbook()
        out = edited.active
        assert out is not None
        out.append(header)
        tenor = header.index("融资期限（月）")
        for cells in values[1:]:
            if cells[header.index("地方项目编号")] == "R-00001":
                cells[tenor] = 60
            out.append(cells)
        buffer = io.BytesIO()
        edited.save(buffer)
        answer = await client.post(
            IMPORT, headers=futian, files={"file": ("edited.xlsx", buffer.getvalue(), "")}
        )
        assert answer.status_code == 200, answer.text
        assert answer.json()["summary"] == {"created": 0, "updated": 1, "unchanged": 3, "error": 0}

    async def test_public_xlsx_has_no_contacts(self, client: httpx.AsyncClient, keys: Keys) -> None:
        futian = await keys.region("440304")
        await project_in(client, keys, "in_library", futian, external_ref="A-1")
        await project_in(client, keys, "submitted", futian, external_ref="A-2")
        exported = await client.get(EXPORT, params={"format": "xlsx"})
        sheet = load_workbook(io.BytesIO(exported.content)).worksheets[0]
        rows = [list(r) for r in sheet.iter_rows(values_only=True)]
        header = rows[0]
        assert header == COLUMNS
        assert len(rows) == 2
        assert rows[1][header.index("status")] == "in_library"
        assert all(rows[1][header.index(c)] is None for c in CONTACT)
