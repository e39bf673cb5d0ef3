"""The updated_since feeds (projects, pilots, the export) never skip a change that commits late.

A client syncs by passing each read's ``X-Updated-Until`` as its next ``updated_since``. Writers
here are the app itself (HTTP) and transactions of their own held open across the reads: on
PostgreSQL several at once, on SQLite one at a time (it has one writer), stamping ``updated_at``
with the app's own ``db_now`` so that they write exactly as the app does.
"""

import asyncio
import base64
import json
import random
import sqlite3
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any

import asyncpg
import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import select
from sqlalchemy.dialects import postgresql, sqlite

from app.config import Settings
from app.main import create_app
from app.models import Project
from app.models.base import db_now
from app.routers.query_types import UPDATED_UNTIL
from tests.conftest import Keys
from tests.factories import FUTIAN_PILOT, TIANFU_PILOT, library_project, project_payload

PROJECTS = "/api/v1/projects"
PILOTS = "/api/v1/pilots"
EPOCH = "1970-01-01T00:00:00+00:00"
PG_STAMP = str(db_now().compile(dialect=postgresql.dialect()))  # type: ignore[no-untyped-call]
SQLITE_STAMP = str(db_now().compile(dialect=sqlite.dialect()))
# A project renamed (or a pilot's work plan changed) as the app writes: the app's own stamp.
_SET = "version = version + 1, updated_at = "
PG_RENAME = f"UPDATE projects SET name = $2, {_SET}{PG_STAMP} WHERE id = $1"  # noqa: S608
PG_PILOT = f"UPDATE pilots SET work_plan_ref = $2, updated_at = {PG_STAMP} WHERE id = $1"  # noqa: S608
SQLITE_RENAME = f"UPDATE projects SET name = ?, {_SET}{SQLITE_STAMP} WHERE id = ?"  # noqa: S608


class Reader:
    """A client following the documented protocol: every page of a read, then the read's
    watermark as the next ``updated_since``. Keeps the last state it saw of every row."""

    def __init__(
        self, client: httpx.AsyncClient, url: str, headers: dict[str, str] | None = None
    ) -> None:
        self.client, self.url, self.headers = client, url, headers or {}
        self.since = EPOCH
        self.seen: dict[str, dict[str, Any]] = {}

    async def read(self, limit: int = 3) -> set[str]:
        """One read; the ids it delivered."""
        cursor, until, delivered = None, None, set()
        while True:
            params: dict[str, Any] = {"updated_since": self.since, "limit": limit}
            if cursor:
                params["cursor"] = cursor
            answer = await self.client.get(self.url, params=params, headers=self.headers)
            assert answer.status_code == 200, answer.text
            # Every page of one read answers with the watermark its first page fixed.
            assert until in (None, answer.headers[UPDATED_UNTIL])
            until = answer.headers[UPDATED_UNTIL]
            for item in answer.json()["items"]:
                self.seen[item["id"]] = item
                delivered.add(item["id"])
            cursor = answer.json()["next_cursor"]
            if cursor is None:
                assert until is not None
                self.since = until
                return delivered


@asynccontextmanager
async def pg_connection(database_url: str) -> AsyncIterator[asyncpg.Connection]:
    """A connection of its own, outside the app's pool: another writer."""
    conn = await asyncpg.connect(database_url, timeout=5)
    try:
        yield conn
    finally:
        await conn.close()


def sqlite_path(database_url: str) -> str:
    return database_url.removeprefix("sqlite:///")


def _when(value: str) -> datetime:
    return datetime.fromisoformat(value)


async def _patch(
    client: httpx.AsyncClient, headers: dict[str, str], url: str, body: dict[str, Any]
) -> dict[str, Any]:
    """A PATCH with the current ETag, retried when another writer got in first."""
    for _ in range(50):
        current = await client.get(url, headers=headers)
        assert current.status_code == 200, current.text
        etag = current.headers.get("etag")
        answer = await client.patch(
            url, json=body, headers={**headers, **({"If-Match": etag} if etag else {})}
        )
        if answer.status_code != 412:
            assert answer.status_code == 200, answer.text
            result: dict[str, Any] = answer.json()
            return result
    raise AssertionError("PATCH kept losing to other writers")


@pytest.fixture
def postgresql_only(db_kind: str) -> None:
    if db_kind != "postgresql":
        pytest.skip("SQLite has one writer at a time: no two transactions write at once")


@pytest.fixture
def sqlite_only(db_kind: str) -> None:
    if db_kind != "sqlite":
        pytest.skip("the SQLite lock holder's case")


class TestWatermark:
    async def test_only_a_feed_read_names_it_and_its_pages_share_it(
        self, client: httpx.AsyncClient, keys: Keys, app: FastAPI
    ) -> None:
        ids = {await library_project(app, name=f"项目{i}") for i in range(5)}
        plain = await client.get(PROJECTS)
        assert plain.status_code == 200 and UPDATED_UNTIL not in plain.headers
        reader = Reader(client, PROJECTS)
        assert await reader.read(limit=2) == ids
        assert _when(reader.since) >= max(_when(reader.seen[i]["updated_at"]) for i in ids)
        # Nothing changed: the next read starts at the watermark and does not move back.
        before = reader.since
        await reader.read(limit=2)
        assert _when(reader.since) >= _when(before)

    async def test_a_cursor_whose_watermark_is_unreadable_is_refused(
        self, client: httpx.AsyncClient, app: FastAPI
    ) -> None:
        for i in range(3):
            await library_project(app, name=f"项目{i}")
        first = await client.get(PROJECTS, params={"updated_since": EPOCH, "limit": 1})
        cursor = first.json()["next_cursor"]
        data = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        assert data["u"] == first.headers[UPDATED_UNTIL]
        data["u"] = "yesterday"
        forged = base64.urlsafe_b64encode(json.dumps(data).encode()).decode().rstrip("=")
        answer = await client.get(PROJECTS, params={"updated_since": EPOCH, "cursor": forged})
        assert answer.status_code == 400 and answer.json()["code"] == "invalid_cursor"

    async def test_the_export_names_the_watermark_it_read_to(
        self, client: httpx.AsyncClient, app: FastAPI
    ) -> None:
        project = await library_project(app, name="导出")
        plain = await client.get(f"{PROJECTS}/export")
        assert plain.status_code == 200 and UPDATED_UNTIL not in plain.headers
        answer = await client.get(f"{PROJECTS}/export", params={"updated_since": EPOCH})
        assert answer.status_code == 200
        stamp = (await client.get(f"{PROJECTS}/{project}")).json()["updated_at"]
        assert _when(answer.headers[UPDATED_UNTIL]) >= _when(stamp)
        assert project in answer.text

    async def test_the_pilots_feed_names_it_too(self, client: httpx.AsyncClient) -> None:
        plain = await client.get(PILOTS)
        assert plain.status_code == 200 and UPDATED_UNTIL not in plain.headers
        reader = Reader(client, PILOTS)
        assert len(await reader.read(limit=10)) == 23

    async def test_updated_at_is_the_database_clock_not_the_app_hosts(
        self,
        client: httpx.AsyncClient,
        keys: Keys,
        app: FastAPI,
        monkeypatch: pytest.MonkeyPatch,
    ) -> None:
        # An app host whose clock is years behind: none of its writes may stamp its own time.
        behind = datetime(2001, 1, 1, tzinfo=UTC)
        for module in ("app.services.batch", "app.services.lifecycle"):
            monkeypatch.setattr(f"{module}.utcnow", lambda: behind)
        region = await keys.region("440304")
        created = (await client.post(PROJECTS, json=project_payload(), headers=region)).json()
        url = f"{PROJECTS}/{created['id']}"
        moved = await client.post(
            f"{url}/transitions",
            json={"action": "submit"},
            headers={**region, "If-Match": f'"{created["version"]}"'},
        )
        assert moved.status_code == 200, moved.text
        batch = await client.post(
            f"{PROJECTS}/batch",
            json={"items": [project_payload(external_ref="B-1")]},
            headers=region,
        )
        assert batch.status_code == 200, batch.text
        admin = await keys.admin()
        pilot = await _patch(client, admin, f"{PILOTS}/{TIANFU_PILOT}", {"work_plan_ref": "新"})
        listed = (await client.get(PROJECTS, headers=region)).json()["items"]
        assert len(listed) == 2
        year = datetime.now(UTC).year
        for stamp in [moved.json()["updated_at"], pilot["updated_at"]]:
            assert _when(stamp).year == year
        for item in listed:
            assert _when(item["updated_at"]).year == year
        # What the write answered is what was stored.
        stored = (await client.get(url, headers=region)).json()
        assert stored["updated_at"] == moved.json()["updated_at"]


@pytest.mark.usefixtures("postgresql_only")
class TestLateCommitPostgresql:
    async def test_a_change_committed_after_a_later_one_is_still_delivered(
        self, client: httpx.AsyncClient, keys: Keys, app: FastAPI, database_url: str
    ) -> None:
        early_id, late_id = await library_project(app), await library_project(app)
        admin, region = await keys.admin(), await keys.region("440304")
        reader = Reader(client, PROJECTS, admin)
        await reader.read()
        async with pg_connection(database_url) as early:
            transaction = early.transaction()
            await transaction.start()
            stamped = await early.fetchval(
                PG_RENAME + " RETURNING updated_at", uuid.UUID(early_id), "早"
            )
            late = await _patch(
                client,
                region,
                f"{PROJECTS}/{late_id}",
                {"construction_status": "under_construction"},
            )
            # The later change is stamped after the open one, and committed first.
            assert stamped < _when(late["updated_at"])
            await reader.read()
            # The read stops below the open transaction: a client that takes the watermark
            # as its next position reads both changes next time.
            assert _when(reader.since) < stamped
            assert reader.seen[late_id]["construction_status"] == "approved"
            await transaction.commit()
        assert await reader.read() == {early_id, late_id}
        assert reader.seen[early_id]["name"] == "早"
        assert reader.seen[late_id]["construction_status"] == "under_construction"

    async def test_a_transaction_that_writes_only_after_the_read_is_delivered(
        self, client: httpx.AsyncClient, keys: Keys, app: FastAPI, database_url: str
    ) -> None:
        # Open before the read but without a transaction id yet (it has only read): its stamp
        # is taken once it has one, so after the read's watermark.
        early_id, late_id = await library_project(app), await library_project(app)
        region = await keys.region("440304")
        reader = Reader(client, PROJECTS, await keys.admin())
        await reader.read()
        async with pg_connection(database_url) as early:
            transaction = early.transaction()
            await transaction.start()
            await early.fetchval("SELECT count(*) FROM projects")
            body = {"construction_status": "operational"}
            await _patch(client, region, f"{PROJECTS}/{late_id}", body)
            assert await reader.read() == {late_id}
            await early.execute(PG_RENAME, uuid.UUID(early_id), "早")
            await transaction.commit()
        assert early_id in await reader.read()
        assert reader.seen[early_id]["name"] == "早"

    async def test_a_pilot_changed_late_is_still_delivered(
        self, client: httpx.AsyncClient, keys: Keys, database_url: str
    ) -> None:
        admin = await keys.admin()
        reader = Reader(client, PILOTS)
        await reader.read(limit=50)
        async with pg_connection(database_url) as early:
            transaction = early.transaction()
            await transaction.start()
            await early.execute(PG_PILOT, uuid.UUID(FUTIAN_PILOT), "早")
            await _patch(client, admin, f"{PILOTS}/{TIANFU_PILOT}", {"work_plan_ref": "晚"})
            assert await reader.read(limit=50) == set()
            await transaction.commit()
        assert await reader.read(limit=50) == {FUTIAN_PILOT, TIANFU_PILOT}
        assert reader.seen[FUTIAN_PILOT]["work_plan_ref"] == "早"
        assert reader.seen[TIANFU_PILOT]["work_plan_ref"] == "晚"


@pytest.mark.usefixtures("sqlite_only")
class TestLockHolderSqlite:
    async def test_a_change_still_holding_the_write_lock_comes_with_the_next_read(
        self, client: httpx.AsyncClient, keys: Keys, app: FastAPI, database_url: str
    ) -> None:
        project_id = await library_project(app)
        reader = Reader(client, PROJECTS, await keys.admin())
        await reader.read()
        writer = sqlite3.connect(sqlite_path(database_url), isolation_level=None, timeout=5)
        try:
            writer.execute("BEGIN IMMEDIATE")
            writer.execute(SQLITE_RENAME, ("早", uuid.UUID(project_id).hex))
            await reader.read()
            assert reader.seen[project_id]["name"] != "早"
            writer.execute("COMMIT")
        finally:
            writer.close()
        assert project_id in await reader.read()
        assert reader.seen[project_id]["name"] == "早"


class TestConcurrentWritersAndAPollingReader:
    async def test_the_reader_ends_with_every_rows_final_state(
        self, client: httpx.AsyncClient, keys: Keys, app: FastAPI, database_url: str, db_kind: str
    ) -> None:
        seed = random.randrange(2**32)
        rng = random.Random(seed)
        ids = [await library_project(app, name=f"项目{i}") for i in range(6)]
        region = await keys.region("440304")
        reader = Reader(client, PROJECTS, await keys.admin())
        writes = 0

        async def raw_writer(number: int) -> None:
            nonlocal writes
            for step in range(6):
                target = uuid.UUID(rng.choice(ids))
                name = f"w{number}-{step}"
                pauses = (rng.uniform(0, 0.01), rng.uniform(0, 0.03))
                if db_kind == "postgresql":
                    async with pg_connection(database_url) as conn:
                        transaction = conn.transaction()
                        await transaction.start()
                        await asyncio.sleep(pauses[0])
                        await conn.execute(PG_RENAME, target, name)
                        await asyncio.sleep(pauses[1])
                        await transaction.commit()
                else:
                    await asyncio.to_thread(_sqlite_write, database_url, target, name, pauses)
                writes += 1

        async def api_writer() -> None:
            nonlocal writes
            statuses = ["approved", "under_construction", "operational"]
            for _ in range(6):
                url = f"{PROJECTS}/{rng.choice(ids)}"
                await _patch(client, region, url, {"construction_status": rng.choice(statuses)})
                writes += 1

        async def poll(done: asyncio.Event) -> None:
            while not done.is_set():
                await reader.read(limit=2)
                await asyncio.sleep(rng.uniform(0, 0.01))

        done = asyncio.Event()
        polling = asyncio.create_task(poll(done))
        try:
            await asyncio.gather(*(raw_writer(n) for n in range(3)), api_writer())
        finally:
            done.set()
            await polling
        assert writes == 24
        await reader.read(limit=2)
        async with app.state.sessions() as session:
            final = {
                str(row.id): (row.version, row.name, row.construction_status)
                for row in await session.execute(
                    select(Project.id, Project.version, Project.name, Project.construction_status)
                )
            }
        seen = {
            i: (doc["version"], doc["name"], doc["construction_status"])
            for i, doc in reader.seen.items()
        }
        assert seen == final, f"seed {seed}"


def _sqlite_write(
    database_url: str, target: uuid.UUID, name: str, pauses: tuple[float, float]
) -> None:
    """One transaction that holds the write lock a while before and after its change."""
    conn = sqlite3.connect(sqlite_path(database_url), isolation_level=None, timeout=10)
    try:
        conn.execute("BEGIN IMMEDIATE")
        time.sleep(pauses[0])
        conn.execute(SQLITE_RENAME, (name, target.hex))
        time.sleep(pauses[1])
        conn.execute("COMMIT")
    finally:
        conn.close()


@pytest.mark.usefixtures("postgresql_only")
class TestHiddenWriter:
    async def test_a_writer_whose_start_the_reader_cannot_see_holds_the_feed_still(
        self, app: FastAPI, settings: Settings, database_url: str
    ) -> None:
        # The app and another writer connect with roles of their own: pg_stat_activity shows the
        # app the writer's transaction id but not its start. The read then passes nothing
        # rather than guess, and moves on once that transaction has ended.
        project_id = await library_project(app)
        suffix = uuid.uuid4().hex[:8]
        roles = [f"climatelib_app_{suffix}", f"climatelib_other_{suffix}"]
        async with pg_connection(database_url) as admin:
            for role in roles:
                await admin.execute(f'CREATE ROLE "{role}" LOGIN')
                await admin.execute(f'GRANT ALL ON ALL TABLES IN SCHEMA public TO "{role}"')
                await admin.execute(f'GRANT ALL ON ALL SEQUENCES IN SCHEMA public TO "{role}"')
            try:
                app_url, other_url = (database_url.replace("postgres@", f"{r}@", 1) for r in roles)
                restricted = create_app(settings.model_copy(update={"database_url": app_url}))
                async with (
                    restricted.router.lifespan_context(restricted),
                    httpx.AsyncClient(
                        transport=httpx.ASGITransport(app=restricted), base_url="http://test"
                    ) as client,
                ):
                    reader = Reader(client, PROJECTS)
                    await reader.read()
                    async with pg_connection(other_url) as other:
                        transaction = other.transaction()
                        await transaction.start()
                        await other.execute(PG_RENAME, uuid.UUID(project_id), "别的角色")
                        held = reader.since
                        assert await reader.read() == set()
                        assert reader.since == held
                        await transaction.commit()
                    assert await reader.read() == {project_id}
                    assert reader.seen[project_id]["name"] == "别的角色"
            finally:
                for role in roles:
                    await admin.execute(f'DROP OWNED BY "{role}"')
                    await admin.execute(f'DROP ROLE "{role}"')
