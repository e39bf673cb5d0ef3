"""The matcher's change log: writers never queue on a shared row, and the matcher never skips a
change, whatever order the writers commit in and however far the log was pruned."""

import asyncio
import random
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import asyncpg
import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import func, select, text

from app.models import MatchingChange, MatchingState
from app.models.product import CHANGES_KEPT
from tests.conftest import Keys
from tests.factories import institution, library_project, product, project_payload, set_project


async def _matched(client: httpx.AsyncClient, bank: dict[str, str], product_id: str) -> set[str]:
    answer = await client.get(f"/api/v1/products/{product_id}/matches", headers=bank)
    assert answer.status_code == 200, answer.text
    return {item["project_id"] for item in answer.json()["items"]}


async def _offered(client: httpx.AsyncClient, region: dict[str, str], project_id: str) -> set[str]:
    answer = await client.get(f"/api/v1/projects/{project_id}/matches", headers=region)
    assert answer.status_code == 200, answer.text
    return {item["product_id"] for item in answer.json()["items"]}


async def _log_size(app: FastAPI) -> int:
    """Entries for the matcher (the statistics' ``figures`` entries of an exit left out)."""
    count = select(func.count()).where(MatchingChange.kind != "figures")
    async with app.state.sessions() as session:
        return int((await session.scalar(count)) or 0)


@asynccontextmanager
async def _connection(database_url: str) -> AsyncIterator[asyncpg.Connection]:
    """A connection of its own, outside the app's pool: another writer."""
    conn = await asyncpg.connect(database_url, timeout=5)
    try:
        yield conn
    finally:
        await conn.close()


@pytest.fixture
def postgresql_only(db_kind: str) -> None:
    if db_kind != "postgresql":
        pytest.skip("SQLite has one writer at a time: no two transactions write at once")


@pytest.mark.usefixtures("postgresql_only")
class TestConcurrentWriters:
    async def test_a_change_committed_after_a_later_one_is_still_seen(
        self, client: httpx.AsyncClient, keys: Keys, app: FastAPI, database_url: str
    ) -> None:
        first = await library_project(app, name="First")
        second = await library_project(app, name="Second")
        _, bank = await institution(client, keys)
        prod = await product(client, bank)
        assert await _matched(client, bank, prod["id"]) == {first, second}
        async with _connection(database_url) as early, _connection(database_url) as late:
            # `early` writes first, so its log entry has the lower id, but commits last.
            transaction = early.transaction()
            await transaction.start()
            await early.execute("UPDATE projects SET status = 'exited' WHERE id = $1", first)
            await late.execute("UPDATE projects SET status = 'exited' WHERE id = $1", second)
            assert await _matched(client, bank, prod["id"]) == {first}
            await transaction.commit()
        # The entries were numbered in write order, and committed the other way round.
        assert await _last_entry(database_url, first) < await _last_entry(database_url, second)
        assert await _matched(client, bank, prod["id"]) == set()

    async def test_a_product_change_committed_late_is_still_seen(
        self, client: httpx.AsyncClient, keys: Keys, app: FastAPI, database_url: str
    ) -> None:
        region = await keys.region("440304")
        project = await library_project(app)
        _, bank = await institution(client, keys)
        early_product = (await product(client, bank, name="早"))["id"]
        late_product = (await product(client, bank, name="晚"))["id"]
        assert await _offered(client, region, project) == {early_product, late_product}
        async with _connection(database_url) as early, _connection(database_url) as late:
            transaction = early.transaction()
            await transaction.start()
            pause = "UPDATE products SET status = 'paused' WHERE id = $1"
            await early.execute(pause, early_product)
            await late.execute(pause, late_product)
            assert await _offered(client, region, project) == {early_product}
            await transaction.commit()
        assert await _offered(client, region, project) == set()

    async def test_writers_of_different_regions_never_wait_for_each_other(
        self, client: httpx.AsyncClient, keys: Keys, app: FastAPI, database_url: str
    ) -> None:
        shenzhen = await library_project(app, region_code="440304")
        beijing = await library_project(app, region_code="110101")
        _, bank = await institution(client, keys)
        shenzhen_product = (await product(client, bank, name="深"))["id"]
        beijing_product = (await product(client, bank, name="京"))["id"]
        async with _connection(database_url) as holder, _connection(database_url) as other:
            # One region's writes stay open (as a long import's would) ...
            transaction = holder.transaction()
            await transaction.start()
            await holder.execute(
                "UPDATE projects SET financing_secured = 1 WHERE id = $1", shenzhen
            )
            await holder.execute(
                "UPDATE products SET name = '深圳' WHERE id = $1", shenzhen_product
            )
            # ... and another region's writes go through without waiting for them.
            await other.execute("SET lock_timeout = '2s'")
            await other.execute("UPDATE projects SET financing_secured = 1 WHERE id = $1", beijing)
            await other.execute("UPDATE products SET name = '北京' WHERE id = $1", beijing_product)
            created = await client.post(
                "/api/v1/projects",
                json=project_payload(region_code="110101"),
                headers=await keys.region("110101"),
                timeout=5,
            )
            assert created.status_code == 201, created.text
            await transaction.rollback()

    async def test_the_matcher_ends_where_the_database_is_after_writers_commit_in_any_order(
        self, client: httpx.AsyncClient, keys: Keys, app: FastAPI, database_url: str
    ) -> None:
        writers, rounds = 6, 8
        owned = [[await library_project(app) for _ in range(5)] for _ in range(writers)]
        _, bank = await institution(client, keys)
        prod = await product(client, bank)
        rng = random.Random(10)
        done = asyncio.Event()

        async def write(projects: list[str], seed: int) -> None:
            own = random.Random(seed)
            async with _connection(database_url) as conn:
                for _ in range(rounds):
                    async with conn.transaction():
                        for project in own.sample(projects, own.randint(1, 3)):
                            status = own.choice(["in_library", "exited"])
                            await conn.execute(
                                "UPDATE projects SET status = $1 WHERE id = $2", status, project
                            )
                        await asyncio.sleep(own.uniform(0, 0.03))  # commit order varies

        async def read() -> None:
            while not done.is_set():
                await _matched(client, bank, prod["id"])
                await asyncio.sleep(0.005)

        reader = asyncio.create_task(read())
        await asyncio.gather(*(write(mine, rng.randrange(1 << 30)) for mine in owned))
        done.set()
        await reader
        async with _connection(database_url) as conn:
            rows = await conn.fetch("SELECT id FROM projects WHERE status = 'in_library'")
        assert await _matched(client, bank, prod["id"]) == {str(row["id"]) for row in rows}


async def _last_entry(database_url: str, project_id: str) -> int:
    async with _connection(database_url) as conn:
        entry: int = await conn.fetchval(
            "SELECT max(id) FROM matching_changes WHERE object_id = $1", project_id
        )
    return entry


class TestLog:
    async def test_only_changes_the_matcher_sees_are_logged(
        self, client: httpx.AsyncClient, keys: Keys, app: FastAPI
    ) -> None:
        before = await _log_size(app)
        draft = await library_project(app, status="draft")
        await set_project(app, draft, name="still a draft")
        _, bank = await institution(client, keys)
        await product(client, bank, status="draft")
        assert await _log_size(app) == before
        await set_project(app, draft, status="in_library")
        await set_project(app, draft, status="exited")
        await product(client, bank)
        assert await _log_size(app) == before + 3

    async def test_a_reader_behind_the_pruned_log_rebuilds(
        self, client: httpx.AsyncClient, keys: Keys, app: FastAPI
    ) -> None:
        gone = await library_project(app, name="gone")
        busy = [await library_project(app, name=f"busy {n}") for n in range(40)]
        _, bank = await institution(client, keys)
        prod = await product(client, bank)
        assert await _matched(client, bank, prod["id"]) == {gone, *busy}
        await set_project(app, gone, status="exited")
        # Enough other changes, one transaction each, that the entry for `gone` is pruned.
        touch = text("UPDATE projects SET tenor_months = tenor_months WHERE status = 'in_library'")
        for _ in range(CHANGES_KEPT // len(busy) + 30):
            async with app.state.sessions.begin() as session:
                await session.execute(touch)
        async with app.state.sessions() as session:
            pruned = await session.scalar(
                select(MatchingState.position).where(MatchingState.name == "pruned")
            )
        assert pruned is not None and pruned > 0
        assert await _log_size(app) < CHANGES_KEPT + 2_000
        assert await _matched(client, bank, prod["id"]) == set(busy)
