"""Region codes with their validity: a new project in an abolished code is refused, naming the
codes that took over; a project stored in it keeps it through edits and re-imports.

On 2025-11-06 江北区 (500105) and 渝北区 (500112) were abolished and 两江新区 (500157) set up over
them; five towns of 渝北区 went to 北碚区 (500109).
"""

import csv
import io
from typing import Any

import httpx
from fastapi import FastAPI

from app.models import ProjectStatus
from tests.api.bulk.helpers import BATCH, EXPORT, IMPORT, item
from tests.conftest import Keys
from tests.factories import PROJECTS, library_project, set_project
from tests.factories import project_payload as payload

CHONGQING = "500000"


async def _stored_in_yubei(app: FastAPI, **overrides: Any) -> str:
    """A project pushed by the Chongqing key before the change, in 渝北区."""
    return await library_project(
        app, region_code="500112", source_scope=CHONGQING, external_ref="CQ-0001", **overrides
    )


def _region_errors(response: httpx.Response) -> list[dict[str, Any]]:
    return [e for e in response.json()["errors"] if e["loc"][-1] == "region_code"]


class TestNewProjects:
    async def test_abolished_code_is_refused_naming_its_successors(
        self, client: httpx.AsyncClient, keys: Keys
    ) -> None:
        chongqing = await keys.region(CHONGQING)
        response = await client.post(
            PROJECTS, json=payload(region_code="500112"), headers=chongqing
        )
        assert response.status_code == 422
        [error] = response.json()["errors"]
        assert error["loc"] == ["body", "region_code"]
        assert error["code"] == "region_abolished"
        assert "2025-11-06" in error["message"]
        assert "500157 (两江新区)" in error["message"]
        assert "500109 (北碚区) for 大湾镇" in error["message"]
        assert (await client.get(PROJECTS, headers=chongqing)).json()["items"] == []

    async def test_the_successor_is_accepted(self, client: httpx.AsyncClient, keys: Keys) -> None:
        chongqing = await keys.region(CHONGQING)
        response = await client.post(
            PROJECTS, json=payload(region_code="500157"), headers=chongqing
        )
        assert response.status_code == 201, response.text

    async def test_batch_item_in_an_abolished_code_fails_alone(
        self, client: httpx.AsyncClient, keys: Keys
    ) -> None:
        chongqing = await keys.region(CHONGQING)
        items = [item(1, region_code="500105"), item(2, region_code="500157")]
        response = await client.post(BATCH, json={"items": items}, headers=chongqing)
        first, second = response.json()["results"]
        assert first["status"] == "error"
        assert first["problem"]["errors"][0]["code"] == "region_abolished"
        assert "500157" in first["problem"]["errors"][0]["message"]
        assert second["status"] == "created"


class TestStoredProjects:
    async def test_patch_of_other_fields_keeps_the_code(
        self, client: httpx.AsyncClient, keys: Keys, app: FastAPI
    ) -> None:
        chongqing = await keys.region(CHONGQING)
        project_id = await _stored_in_yubei(app, status=ProjectStatus.draft)
        url = f"{PROJECTS}/{project_id}"
        response = await client.patch(
            url, json={"name": "渝北光伏二期"}, headers={**chongqing, "If-Match": '"1"'}
        )
        assert response.status_code == 200, response.text
        assert response.json()["region_code"] == "500112"
        assert response.json()["name"] == "渝北光伏二期"
        # Moving it to another abolished code is a new code: refused; to the successor: fine.
        moved = await client.patch(
            url, json={"region_code": "500105"}, headers={**chongqing, "If-Match": '"2"'}
        )
        assert moved.status_code == 422
        assert [e["code"] for e in _region_errors(moved)] == ["region_abolished"]
        moved = await client.patch(
            url, json={"region_code": "500157"}, headers={**chongqing, "If-Match": '"2"'}
        )
        assert moved.status_code == 200, moved.text

    async def test_library_project_stays_readable_and_progress_updates_pass(
        self, client: httpx.AsyncClient, keys: Keys, app: FastAPI
    ) -> None:
        chongqing = await keys.region(CHONGQING)
        project_id = await _stored_in_yubei(app)
        public = await client.get(f"{PROJECTS}/{project_id}")
        assert public.status_code == 200
        assert public.json()["region_code"] == "500112"
        response = await client.patch(
            f"{PROJECTS}/{project_id}",
            json={"construction_status": "under_construction"},
            headers={**chongqing, "If-Match": '"1"'},
        )
        assert response.status_code == 200, response.text
        assert response.json()["status"] == "in_library"

    async def test_reimport_of_the_exported_row_passes(
        self, client: httpx.AsyncClient, keys: Keys, app: FastAPI
    ) -> None:
        chongqing = await keys.region(CHONGQING)
        # A project stored before the change: pushed, then given the code it had then.
        pushed = await client.post(
            BATCH, json={"items": [item(1, region_code="500157")]}, headers=chongqing
        )
        await set_project(app, pushed.json()["results"][0]["id"], region_code="500112")
        exported = await client.get(EXPORT, headers=chongqing)
        assert exported.status_code == 200
        text = exported.content.decode("utf-8-sig")
        rows = list(csv.reader(io.StringIO(text, newline="")))
        assert len(rows) == 2

        async def reimport(rows: list[list[str]]) -> dict[str, Any]:
            buffer = io.StringIO()
            csv.writer(buffer).writerows(rows)
            data = buffer.getvalue().encode("utf-8-sig")
            answer = await client.post(
                IMPORT, headers=chongqing, files={"file": ("cq.csv", data, "text/csv")}
            )
            assert answer.status_code == 200, answer.text
            body: dict[str, Any] = answer.json()
            return body

        unchanged = await reimport(rows)
        assert unchanged["summary"] == {"created": 0, "updated": 0, "unchanged": 1, "error": 0}
        header = rows[0]
        edited = list(rows[1])
        edited[header.index("construction_status")] = "under_construction"
        new = list(rows[1])
        new[header.index("external_ref")] = "R-00002"
        for column in ("id", "status", "library_code"):
            if column in header:
                new[header.index(column)] = ""
        answer = await reimport([header, edited, new])
        assert answer["summary"] == {"created": 0, "updated": 1, "unchanged": 0, "error": 1}
        updated, refused = answer["results"]
        assert updated["status"] == "updated"
        assert refused["problem"]["errors"][0]["code"] == "region_abolished"

    async def test_batch_of_the_stored_item_unchanged_passes(
        self, client: httpx.AsyncClient, keys: Keys, app: FastAPI
    ) -> None:
        chongqing = await keys.region(CHONGQING)
        project_id = await _stored_in_yubei(app, status=ProjectStatus.draft)
        stored = (await client.get(f"{PROJECTS}/{project_id}", headers=chongqing)).json()
        sent = payload(
            external_ref="CQ-0001",
            region_code="500112",
            name="渝北光伏三期",
            summary=stored["summary"],
            owner=stored["owner"],
        )
        response = await client.post(BATCH, json={"items": [sent]}, headers=chongqing)
        [result] = response.json()["results"]
        assert result["status"] == "updated", result
        assert result["id"] == project_id
