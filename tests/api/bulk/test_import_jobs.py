"""Import jobs through HTTP: 202 and Location, progress, per-row results (paged and CSV), cancel,
who may see a job, idempotent submission, and the worker's housekeeping."""

import asyncio
import csv
import io
import uuid
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import func, select

from app.config import Settings
from app.main import create_app
from app.models import IdempotencyRecord, ImportUpload
from app.models.base import utcnow
from app.services import batch, import_worker
from tests.api.bulk.helpers import IMPORT, all_results, count_projects, wait_for_job
from tests.api.bulk.test_import import row, to_csv, upload
from tests.conftest import Keys
from tests.factories import institution

ROWS = 2500


def rows_with_a_bad_one(count: int = ROWS) -> list[dict[str, Any]]:
    rows = [row(n) for n in range(count)]
    rows[1500] = row(1500, owner_uscc="91440300715267260X")  # spreadsheet row 1502
    return rows


@pytest.fixture
async def idle_app(settings: Settings) -> AsyncIterator[FastAPI]:
    """The app without an import worker: its jobs stay queued."""
    application = create_app(settings.model_copy(update={"import_worker": False}))
    async with application.router.lifespan_context(application):
        yield application


@pytest.fixture
async def idle_client(idle_app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=idle_app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
        yield http


@pytest.fixture
def settings(settings: Settings) -> Settings:
    """The app of these tests runs an import worker."""
    return settings.model_copy(update={"import_worker": True})


class TestSubmit:
    async def test_large_file_answers_202_with_location_then_runs_to_the_end(
        self, client: httpx.AsyncClient, keys: Keys, app: FastAPI
    ) -> None:
        region = await keys.region("440304")
        response = await client.post(
            IMPORT, headers=region, **upload(to_csv(rows_with_a_bad_one()))
        )
        assert response.status_code == 202, response.text
        job = response.json()
        assert response.headers["location"] == f"/api/v1/imports/{job['id']}"
        assert job["status"] in ("queued", "running")
        assert job["rows_total"] == ROWS
        assert job["results_url"] == f"/api/v1/imports/{job['id']}/results"
        seen: list[int] = []

        def progress(current: dict[str, Any]) -> bool:
            seen.append(current["rows_done"])
            return bool(current["status"] == "succeeded")

        done = await wait_for_job(client, region, response.headers["location"], progress)
        assert seen == sorted(seen)  # progress only grows, a chunk at a time
        assert set(seen) <= {0, 1000, 2000, ROWS}
        assert done["rows_done"] == ROWS
        assert done["summary"] == {"created": ROWS - 1, "updated": 0, "unchanged": 0, "error": 1}
        assert done["started_at"] is not None and done["finished_at"] is not None
        assert done["attempts"] == 1
        assert await count_projects(app) == ROWS - 1

    async def test_results_paged_and_as_csv_with_spreadsheet_rows(
        self, client: httpx.AsyncClient, keys: Keys
    ) -> None:
        region = await keys.region("440304")
        rows = rows_with_a_bad_one()
        rows[10]["external_ref"] = "@F-00010"  # quoted in the CSV as text, never a formula
        response = await client.post(IMPORT, headers=region, **upload(to_csv(rows)))
        location = response.headers["location"]
        await wait_for_job(client, region, location)
        results = await all_results(client, region, location, limit=150)
        assert [r["row"] for r in results] == list(range(2, ROWS + 2))
        assert [r["index"] for r in results] == list(range(ROWS))
        bad = results[1500]
        assert bad["status"] == "error" and bad["id"] is None
        assert bad["problem"]["errors"][0]["loc"] == ["file", 1502, "owner_uscc"]
        assert all(r["status"] == "created" for i, r in enumerate(results) if i != 1500)
        default_page = (await client.get(f"{location}/results", headers=region)).json()
        assert len(default_page["items"]) == 50
        refused = await client.get(f"{location}/results", headers=region, params={"limit": 201})
        assert refused.status_code == 422
        crafted = await client.get(f"{location}/results", headers=region, params={"cursor": "x"})
        assert crafted.status_code == 400
        assert crafted.json()["code"] == "invalid_cursor"

        answer = await client.get(f"{location}/results", headers=region, params={"format": "csv"})
        assert answer.status_code == 200
        assert answer.headers["content-type"].startswith("text/csv")
        lines = list(csv.reader(io.StringIO(answer.content.decode("utf-8-sig"))))
        assert lines[0] == ["row", "status", "id", "external_ref", "code", "detail", "errors"]
        assert len(lines) == ROWS + 1
        assert [int(line[0]) for line in lines[1:]] == list(range(2, ROWS + 2))
        assert lines[11][3] == "'@F-00010"
        bad_line = lines[1501]
        assert bad_line[:2] == ["1502", "error"]
        assert bad_line[3] == "F-01500"
        assert bad_line[4] == "validation_error"
        assert bad_line[6].startswith("owner_uscc: ")

    async def test_a_small_file_is_still_answered_at_once(
        self, client: httpx.AsyncClient, keys: Keys
    ) -> None:
        region = await keys.region("440304")
        response = await client.post(
            IMPORT, headers=region, **upload(to_csv([row(n) for n in range(1000)]))
        )
        assert response.status_code == 200
        assert response.json()["summary"]["created"] == 1000

    async def test_idempotent_replay_returns_the_same_job(
        self, idle_client: httpx.AsyncClient, idle_app: FastAPI
    ) -> None:
        keys = Keys(idle_app)
        headers = {**await keys.region("440304"), "Idempotency-Key": "big-1"}
        data = to_csv([row(n) for n in range(1500)])
        first = await idle_client.post(IMPORT, headers=headers, **upload(data))
        again = await idle_client.post(IMPORT, headers=headers, **upload(data))
        assert first.status_code == again.status_code == 202
        assert again.headers["idempotent-replayed"] == "true"
        assert again.headers["location"] == first.headers["location"]
        assert again.json() == first.json()
        other = await idle_client.post(
            IMPORT, headers=headers, **upload(to_csv([row(n) for n in range(1501)]))
        )
        assert other.status_code == 422
        assert other.json()["code"] == "idempotency_key_reused"
        # The refused and the replayed requests' files were staged, then removed again.
        assert await _upload_parts(idle_app) == 1

    async def test_a_file_past_a_limit_is_refused_before_any_job(
        self, idle_client: httpx.AsyncClient, idle_app: FastAPI
    ) -> None:
        region = await Keys(idle_app).region("440304")
        data = to_csv([row(n) for n in range(1500)]) + b'"unterminated\n' + b"x" * 200_000
        response = await idle_client.post(IMPORT, headers=region, **upload(data))
        assert response.status_code == 422
        async with idle_app.state.sessions() as session:
            stored = await session.execute(select(func.count()).select_from(ImportUpload))
            assert stored.scalar_one() == 0


class TestCancel:
    @pytest.fixture
    def settings(self, settings: Settings) -> Settings:
        """The cancel waits for the chunk in hand, which on a loaded machine can outlast the
        default 5 s busy timeout (a 503): what is tested is that it is served before the next."""
        return settings.model_copy(update={"sqlite_busy_timeout_ms": 30_000})

    async def test_a_queued_job_is_cancelled_at_once_and_then_is_finished(
        self, idle_client: httpx.AsyncClient, idle_app: FastAPI
    ) -> None:
        region = await Keys(idle_app).region("440304")
        response = await idle_client.post(
            IMPORT, headers=region, **upload(to_csv([row(n) for n in range(1500)]))
        )
        location = response.headers["location"]
        cancelled = await idle_client.post(f"{location}/cancel", headers=region)
        assert cancelled.status_code == 200
        assert cancelled.json()["status"] == "cancelled"
        assert cancelled.json()["rows_done"] == 0
        assert (await idle_client.get(location, headers=region)).json()["status"] == "cancelled"
        again = await idle_client.post(f"{location}/cancel", headers=region)
        assert again.status_code == 409
        assert again.json()["code"] == "import_finished"
        # a worker that starts later does not run it
        await import_worker.ImportWorker(idle_app.state.sessions, Settings()).run_once()
        assert await count_projects(idle_app) == 0

    async def test_a_running_job_stops_before_its_next_chunk_keeping_what_it_committed(
        self,
        client: httpx.AsyncClient,
        keys: Keys,
        app: FastAPI,
        monkeypatch: pytest.MonkeyPatch,
    ) -> None:
        real_upsert = batch.upsert

        async def slow_upsert(*args: Any, **kwargs: Any) -> list[dict[str, Any]]:
            # room for the cancel to arrive between chunks; on SQLite it queues for the write
            # lock behind the chunk running and ahead of the next (app.db.SqliteWriteGate)
            await asyncio.sleep(0.5)
            return await real_upsert(*args, **kwargs)

        monkeypatch.setattr(import_worker, "upsert", slow_upsert)
        region = await keys.region("440304")
        response = await client.post(
            IMPORT, headers=region, **upload(to_csv([row(n) for n in range(3000)]))
        )
        location = response.headers["location"]
        await wait_for_job(client, region, location, lambda job: job["rows_done"] >= 1000)
        asked = await client.post(f"{location}/cancel", headers=region)
        assert asked.status_code == 200, asked.json()
        assert asked.json()["cancel_requested"] is True
        job = await wait_for_job(client, region, location)
        assert job["status"] == "cancelled"
        assert 1000 <= job["rows_done"] < 3000
        assert job["rows_done"] % 1000 == 0
        assert job["summary"]["created"] == job["rows_done"]
        assert await count_projects(app) == job["rows_done"]
        assert len(await all_results(client, region, location)) == job["rows_done"]
        finished = await client.post(f"{location}/cancel", headers=region)
        assert finished.status_code == 409

    async def test_a_succeeded_job_cannot_be_cancelled(
        self, client: httpx.AsyncClient, keys: Keys
    ) -> None:
        region = await keys.region("440304")
        response = await client.post(
            IMPORT, headers=region, **upload(to_csv([row(n) for n in range(1001)]))
        )
        location = response.headers["location"]
        assert (await wait_for_job(client, region, location))["status"] == "succeeded"
        refused = await client.post(f"{location}/cancel", headers=region)
        assert refused.status_code == 409
        assert refused.json()["code"] == "import_finished"


class TestVisibility:
    async def test_only_the_importing_region_and_admin_see_a_job(
        self, idle_client: httpx.AsyncClient, idle_app: FastAPI
    ) -> None:
        keys = Keys(idle_app)
        region = await keys.region("440304")
        response = await idle_client.post(
            IMPORT, headers=region, **upload(to_csv([row(n) for n in range(1001)]))
        )
        location = response.headers["location"]
        _, bank = await institution(idle_client, keys)
        others = {
            "another region": await keys.region("110101"),
            "the province's region key": await keys.region("440000"),
            "a reviewer": await keys.reviewer("44"),
            "an institution": bank,
        }
        checks = 0
        for who, headers in others.items():
            for method, path in (
                ("GET", location),
                ("GET", f"{location}/results"),
                ("GET", f"{location}/results?format=csv"),
                ("POST", f"{location}/cancel"),
            ):
                answer = await idle_client.request(method, path, headers=headers)
                assert answer.status_code == 404, (who, method, path)
                assert answer.json()["code"] == "import_not_found"
                checks += 1
            anonymous = await idle_client.get(location)
            assert anonymous.status_code == 401
            checks += 1
        assert checks == 4 * 5
        unknown = await idle_client.get(f"/api/v1/imports/{uuid.uuid4()}", headers=region)
        assert unknown.status_code == 404
        assert (await idle_client.get(location, headers=region)).status_code == 200
        admin = await idle_client.get(location, headers=await keys.admin())
        assert admin.status_code == 200
        assert (await idle_client.post(f"{location}/cancel", headers=region)).status_code == 200


class TestHousekeeping:
    async def test_old_idempotency_records_go_and_fresh_ones_stay(
        self, idle_client: httpx.AsyncClient, idle_app: FastAPI, settings: Settings
    ) -> None:
        headers = {**await Keys(idle_app).region("440304"), "Idempotency-Key": "fresh"}
        fresh = await idle_client.post(IMPORT, headers=headers, **upload(to_csv([row(1)])))
        assert fresh.status_code == 200
        async with idle_app.state.sessions.begin() as session:
            session.add(
                IdempotencyRecord(
                    principal="region:440304",
                    key="old",
                    request_hash="0" * 64,
                    status_code=200,
                    response_body={"body": {}, "headers": {}},
                    created_at=utcnow() - timedelta(hours=25),
                    completed_at=utcnow() - timedelta(hours=25),
                )
            )
        # A process starting with a worker tidies up as it starts.
        worker_app = create_app(settings)
        async with worker_app.router.lifespan_context(worker_app):
            for _ in range(100):
                keys_left = await _idempotency_keys(idle_app)
                if "old" not in keys_left:
                    break
                await asyncio.sleep(0.1)
        assert keys_left == ["fresh"]

    async def test_a_finished_jobs_upload_goes_after_the_retention_and_its_results_stay(
        self, client: httpx.AsyncClient, keys: Keys, app: FastAPI, settings: Settings
    ) -> None:
        region = await keys.region("440304")
        response = await client.post(
            IMPORT, headers=region, **upload(to_csv([row(n) for n in range(1001)]))
        )
        location = response.headers["location"]
        await wait_for_job(client, region, location)
        assert await _upload_parts(app) == 1
        keep = import_worker.ImportWorker(app.state.sessions, settings)
        await keep.housekeeping()
        assert await _upload_parts(app) == 1  # within the retention
        purge = import_worker.ImportWorker(
            app.state.sessions, settings.model_copy(update={"import_upload_retention_hours": 0})
        )
        await purge.housekeeping()
        assert await _upload_parts(app) == 0
        assert (await client.get(location, headers=region)).json()["status"] == "succeeded"
        assert len(await all_results(client, region, location)) == 1001

    async def test_parts_staged_by_a_request_that_never_created_its_job_go_once_old(
        self, idle_app: FastAPI, settings: Settings
    ) -> None:
        """A process that died between storing a file and creating its job left the parts."""
        fresh, old = uuid.uuid4(), uuid.uuid4()
        async with idle_app.state.sessions.begin() as session:
            for job_id, at in ((fresh, utcnow()), (old, utcnow() - timedelta(hours=2))):
                session.add(ImportUpload(job_id=job_id, part=0, data=b"x", staged_at=at))
        await import_worker.ImportWorker(idle_app.state.sessions, settings).housekeeping()
        async with idle_app.state.sessions() as session:
            left = await session.execute(select(ImportUpload.job_id))
            assert list(left.scalars()) == [fresh]


async def _idempotency_keys(app: FastAPI) -> list[str]:
    async with app.state.sessions() as session:
        return list((await session.execute(select(IdempotencyRecord.key))).scalars())


async def _upload_parts(app: FastAPI) -> int:
    async with app.state.sessions() as session:
        counted = await session.execute(select(func.count()).select_from(ImportUpload))
        return int(counted.scalar_one())
