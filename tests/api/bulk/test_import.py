"""POST /projects/import: CSV and XLSX files answered like a batch, with the file's row numbers."""

import csv
import io
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from openpyxl import Workbook

from app.config import Settings
from app.services import batch_import
from app.services.tabular import IMPORT_COLUMNS
from tests.api.bulk.helpers import (
    IMPORT,
    all_results,
    count_projects,
    count_transitions,
    wait_for_job,
)
from tests.conftest import Keys
from tests.factories import USCC

FIELDS = [field for field, _ in IMPORT_COLUMNS]
CHINESE = [zh for _, zh in IMPORT_COLUMNS]


def row(n: int, **overrides: Any) -> dict[str, Any]:
    """A valid spreadsheet row (field → cell text) with external_ref F-<n>."""
    cells = {
        "external_ref": f"F-{n:05d}",
        "name": f"屋顶光伏 {n}",
        "summary": "公共建筑屋顶分布式光伏",
        "region_code": "440304",
        "owner_name": "深圳市福田区能源发展有限公司",
        "owner_uscc": USCC,
        "owner_type": "state_owned",
        "objective": "mitigation",
        "categories": "M2",
        "industry_code": "D4416",
        "nature": "new_build",
        "construction_status": "planning",
        "start_date": "2027-01-01",
        "end_date": "2028-06-30",
        "total_investment": "25000000.00",
        "financing_need": "12500000.00",
        "financing_secured": "0",
        "financing_types": "loan;leasing",
        "tenor_months": "120",
        "annual_emission_reduction_tco2e": "8200.5",
        "third_party_verified": "否",
        "disclosure_commitment": "是",
        "contact_name": "李明",
        "contact_phone": "0755-00000000",
        "contact_email": "li@example.cn",
    }
    cells.update(overrides)
    return cells


def to_csv(rows: list[dict[str, Any]], header: list[str] = FIELDS) -> bytes:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(header)
    for cells in rows:
        writer.writerow([cells.get(field, "") for field in FIELDS])
    return buffer.getvalue().encode("utf-8-sig")


def upload(data: bytes, name: str = "projects.csv", media: str = "text/csv") -> dict[str, Any]:
    return {"files": {"file": (name, data, media)}}


@pytest.fixture
def settings(settings: Settings) -> Settings:
    """The app of these tests runs an import worker."""
    return settings.model_copy(update={"import_worker": True})


class TestImportProjects:
    async def test_csv_with_chinese_headers_answers_per_row(
        self, client: httpx.AsyncClient, keys: Keys, app: FastAPI
    ) -> None:
        region = await keys.region("440304")
        rows = [row(1), row(2, owner_uscc="91440300715267260X"), row(3, financing_types="贷款")]
        response = await client.post(IMPORT, headers=region, **upload(to_csv(rows, CHINESE)))
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["summary"] == {"created": 1, "updated": 0, "unchanged": 0, "error": 2}
        assert [r["row"] for r in body["results"]] == [2, 3, 4]
        first, second, third = body["results"]
        assert first["status"] == "created" and first["external_ref"] == "F-00001"
        assert second["problem"]["errors"] == [
            {
                "loc": ["file", 3, "owner_uscc"],
                "code": "invalid_uscc",
                "message": "Not a valid unified social credit code (GB 32100).",
            }
        ]
        assert third["problem"]["errors"][0]["loc"] == ["file", 4, "financing_types", 0]
        assert third["problem"]["errors"][0]["code"] == "enum"
        created = (await client.get(f"/api/v1/projects/{first['id']}", headers=region)).json()
        assert created["financing_types"] == ["loan", "leasing"]
        assert created["disclosure_commitment"] is True
        assert created["third_party_verified"] is False
        assert created["contact"]["name"] == "李明"
        assert created["total_investment"] == "25000000.00"
        assert await count_projects(app) == 1

    async def test_xlsx_with_typed_cells(self, client: httpx.AsyncClient, keys: Keys) -> None:
        region = await keys.region("440304")
        book = Workbook()
        sheet = book.active
        assert sheet is not None
        sheet.append(CHINESE)
        cells = row(1)
        typed: dict[str, Any] = {
            **cells,
            "total_investment": 25000000.0,
            "financing_need": 12345678.91,
            "tenor_months": 120,
            "annual_emission_reduction_tco2e": 8200.5,
            "third_party_verified": True,
        }
        sheet.append([typed.get(field) for field in FIELDS])
        buffer = io.BytesIO()
        book.save(buffer)
        response = await client.post(
            IMPORT,
            headers=region,
            **upload(buffer.getvalue(), "p.xlsx", "application/octet-stream"),
        )
        assert response.status_code == 200, response.text
        [result] = response.json()["results"]
        assert result["status"] == "created" and result["row"] == 2
        got = (await client.get(f"/api/v1/projects/{result['id']}", headers=region)).json()
        assert got["financing_need"] == "12345678.91"
        assert got["tenor_months"] == 120
        assert got["third_party_verified"] is True

    async def test_more_than_one_batch_runs_as_a_job_in_chunks(
        self, client: httpx.AsyncClient, keys: Keys, app: FastAPI
    ) -> None:
        region = await keys.region("440304")
        rows = [row(n) for n in range(2500)]
        # a repeat across chunks (rows 2 and 2002) is refused as within one batch
        rows[2000] = row(0, name="Twin")
        response = await client.post(IMPORT, headers=region, **upload(to_csv(rows)))
        assert response.status_code == 202, response.text
        job = await wait_for_job(client, region, response.headers["location"])
        assert job["status"] == "succeeded"
        assert job["summary"] == {"created": 2499, "updated": 0, "unchanged": 0, "error": 1}
        results = await all_results(client, region, response.headers["location"])
        assert len(results) == 2500
        assert results[2000]["row"] == 2002
        assert results[2000]["problem"]["code"] == "duplicate_external_ref"
        assert results[2499]["row"] == 2501
        assert await count_projects(app) == 2499
        assert await count_transitions(app) == 2499
        again = await client.post(IMPORT, headers=region, **upload(to_csv(rows)))
        job = await wait_for_job(client, region, again.headers["location"])
        assert job["summary"]["unchanged"] == 2499

    async def test_idempotency_key_replays_the_first_answer(
        self, client: httpx.AsyncClient, keys: Keys
    ) -> None:
        headers = {**await keys.region("440304"), "Idempotency-Key": "import-1"}
        data = to_csv([row(1)])
        first = await client.post(IMPORT, headers=headers, **upload(data))
        again = await client.post(IMPORT, headers=headers, **upload(data))
        assert again.headers["idempotent-replayed"] == "true"
        assert again.json() == first.json()
        assert again.json()["results"][0]["status"] == "created"
        other = await client.post(IMPORT, headers=headers, **upload(to_csv([row(2)])))
        assert other.status_code == 422
        assert other.json()["code"] == "idempotency_key_reused"


class TestImportRefused:
    async def test_file_without_header_row_is_unreadable(
        self, client: httpx.AsyncClient, keys: Keys, app: FastAPI
    ) -> None:
        data = b"a,b,c\n1,2,3\n"
        response = await client.post(IMPORT, headers=await keys.region("440304"), **upload(data))
        assert response.status_code == 422
        assert response.json()["code"] == "unreadable_file"
        assert await count_projects(app) == 0

    async def test_damaged_xlsx_is_unreadable(self, client: httpx.AsyncClient, keys: Keys) -> None:
        data = b"PK\x03\x04" + b"\x00" * 200
        response = await client.post(
            IMPORT, headers=await keys.region("440304"), **upload(data, "p.xlsx")
        )
        assert response.status_code == 422
        assert response.json()["code"] == "unreadable_file"

    async def test_malformed_csv_is_unreadable(self, client: httpx.AsyncClient, keys: Keys) -> None:
        # a cell beyond the csv module's field size limit
        data = ("name,summary\n甲," + "x" * 200_000 + "\n").encode()
        response = await client.post(IMPORT, headers=await keys.region("440304"), **upload(data))
        assert response.status_code == 422
        assert response.json()["code"] == "unreadable_file"

    async def test_header_only_is_empty(self, client: httpx.AsyncClient, keys: Keys) -> None:
        response = await client.post(
            IMPORT, headers=await keys.region("440304"), **upload(to_csv([]))
        )
        assert response.status_code == 422
        assert response.json()["code"] == "empty_file"

    async def test_too_many_rows_is_413(
        self, client: httpx.AsyncClient, keys: Keys, app: FastAPI, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.setattr(batch_import, "MAX_IMPORT_ROWS", 3)
        data = to_csv([row(n) for n in range(4)])
        response = await client.post(IMPORT, headers=await keys.region("440304"), **upload(data))
        assert response.status_code == 413
        assert response.json()["code"] == "too_many_rows"
        assert await count_projects(app) == 0

    async def test_too_large_file_is_413(
        self, client: httpx.AsyncClient, keys: Keys, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.setattr(batch_import, "MAX_IMPORT_BYTES", 100)
        data = to_csv([row(1)])
        response = await client.post(IMPORT, headers=await keys.region("440304"), **upload(data))
        assert response.status_code == 413
        assert response.json()["code"] == "file_too_large"

    async def test_missing_file_part_is_422(self, client: httpx.AsyncClient, keys: Keys) -> None:
        response = await client.post(
            IMPORT, headers=await keys.region("440304"), data={"other": "x"}
        )
        assert response.status_code == 422
        assert response.json()["errors"][0]["loc"] == ["body", "file"]

    async def test_anonymous_and_other_roles_are_refused(
        self, client: httpx.AsyncClient, keys: Keys
    ) -> None:
        data = to_csv([row(1)])
        assert (await client.post(IMPORT, **upload(data))).status_code == 401
        admin = await client.post(IMPORT, headers=await keys.admin(), **upload(data))
        assert admin.status_code == 403
