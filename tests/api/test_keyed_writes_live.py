"""Keyed creates against a real server process: many at once never starve the connection pool, and
a key whose request died (killed process, failed statement) is free for its retry at once."""

import asyncio
import sqlite3
import time
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager
from pathlib import Path

import asyncpg
import httpx
import pytest
from sqlalchemy import func, select

from app.config import Settings
from app.db import create_engine, session_factory
from app.models import Project, Role
from tests.conftest import PG_ADMIN_URL
from tests.factories import PROJECTS as BASE
from tests.factories import project_payload as payload
from tests.uvicorn_server import ServerProcess, free_port, issue_key

CONCURRENT = 80
ALL_ANSWERED_WITHIN_S = 15.0

Servers = Callable[..., ServerProcess]


@pytest.fixture
def servers(tmp_path: Path) -> Iterator[Servers]:
    """Makes server processes (not started) and stops whatever is left of them at the end."""
    made: list[ServerProcess] = []

    def make(database_url: str, **settings: str) -> ServerProcess:
        log_dir = tmp_path / f"server{len(made)}"
        log_dir.mkdir()
        made.append(ServerProcess(database_url, log_dir, **settings))
        return made[-1]

    yield make
    for server in made:
        server.stop()


def _keyed(headers: dict[str, str], key: str) -> dict[str, str]:
    return {**headers, "Idempotency-Key": key}


async def _post_all(
    http: httpx.AsyncClient, headers: dict[str, str], keys: list[str]
) -> list[httpx.Response]:
    return await asyncio.gather(
        *(http.post(BASE, json=payload(name=key), headers=_keyed(headers, key)) for key in keys)
    )


async def _projects_by_name(database_url: str) -> Counter[str]:
    engine = create_engine(Settings(database_url=database_url))
    try:
        async with session_factory(engine)() as session:
            rows = await session.execute(select(Project.name, func.count()).group_by(Project.name))
            return Counter(dict(rows.all()))
    finally:
        await engine.dispose()


@asynccontextmanager
async def _projects_locked(database_url: str) -> AsyncIterator[asyncpg.Connection]:
    """Hold a lock that makes every project insert wait (reads go on), released on exit."""
    conn = await asyncpg.connect(database_url, timeout=5)
    try:
        async with conn.transaction():
            await conn.execute("LOCK TABLE projects IN SHARE ROW EXCLUSIVE MODE")
            yield conn
    finally:
        await conn.close()


async def _sessions(database_url: str, *, waiting_on_lock: bool = False) -> int:
    """Sessions on the test's PostgreSQL database other than this probe (all, or those waiting
    on a lock)."""
    conn = await asyncpg.connect(database_url, timeout=5)
    try:
        count: int = await conn.fetchval(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
            " AND pid <> pg_backend_pid() AND ($1 = false OR wait_event_type = 'Lock')",
            waiting_on_lock,
        )
        return count
    finally:
        await conn.close()


def _a_write_waits(database_url: str) -> Callable[[], Awaitable[bool]]:
    async def probe() -> bool:
        return await _sessions(database_url, waiting_on_lock=True) > 0

    return probe


def _no_sessions(database_url: str) -> Callable[[], Awaitable[bool]]:
    async def probe() -> bool:
        return await _sessions(database_url) == 0

    return probe


async def _until(condition: Callable[[], Awaitable[bool]], within_s: float, what: str) -> None:
    deadline = time.monotonic() + within_s
    while not await condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {within_s} s: {what}")
        await asyncio.sleep(0.05)


async def test_concurrent_keyed_creates_all_succeed(database_url: str, servers: Servers) -> None:
    headers = await issue_key(database_url, Role.region, "440304")
    server = servers(database_url)
    server.start()
    keys = [f"load-{i}" for i in range(CONCURRENT)]
    limits = httpx.Limits(max_connections=CONCURRENT)
    async with httpx.AsyncClient(base_url=server.url, timeout=60, limits=limits) as http:
        started = time.monotonic()
        answers = await _post_all(http, headers, keys)
        elapsed = time.monotonic() - started
        statuses = Counter(a.status_code for a in answers)
        assert statuses == {201: CONCURRENT}, f"{statuses} in {elapsed:.1f} s"
        assert elapsed < ALL_ANSWERED_WITHIN_S, f"{elapsed:.1f} s"
        replays = await _post_all(http, headers, keys[:5])
    assert [r.json()["id"] for r in replays] == [a.json()["id"] for a in answers[:5]]
    assert all(r.headers["idempotent-replayed"] == "true" for r in replays)
    assert await _projects_by_name(database_url) == Counter(dict.fromkeys(keys, 1))


async def test_killed_mid_write_then_retried_with_the_same_keys(
    database_url: str, db_kind: str, servers: Servers
) -> None:
    headers = await issue_key(database_url, Role.region, "440304")
    server = servers(database_url)
    server.start()
    done_keys = [f"done-{i}" for i in range(10)]
    flight_keys = [f"flight-{i}" for i in range(20)]
    async with httpx.AsyncClient(base_url=server.url, timeout=30) as http:
        done = await _post_all(http, headers, done_keys)
        assert {a.status_code for a in done} == {201}
        in_flight = asyncio.gather(
            *(
                http.post(BASE, json=payload(name=key), headers=_keyed(headers, key))
                for key in flight_keys
            ),
            return_exceptions=True,
        )
        if db_kind == "postgresql":
            # Each write is held after its claim, inside its transaction, when the process dies.
            async with _projects_locked(database_url):
                await _until(_a_write_waits(database_url), 10, "a write waiting on the lock")
                await asyncio.sleep(0.5)
                server.kill()
            await _until(_no_sessions(database_url), 10, "the killed server's sessions gone")
        else:
            # SQLite writes one at a time: the test holds the write lock, so every write is
            # queued on the busy timeout, none answered, when the process dies.
            blocker = sqlite3.connect(database_url.removeprefix("sqlite:///"), isolation_level=None)
            try:
                blocker.execute("BEGIN IMMEDIATE")
                await asyncio.sleep(1.0)
                server.kill()
            finally:
                blocker.execute("ROLLBACK")
                blocker.close()
        outcomes = await in_flight
    answered = {
        key: outcome.json()["id"]
        for key, outcome in zip(flight_keys, outcomes, strict=True)
        if isinstance(outcome, httpx.Response) and outcome.status_code == 201
    }
    assert len(answered) < len(flight_keys), "the kill came after every write had answered"
    server.start()
    async with httpx.AsyncClient(base_url=server.url, timeout=30) as http:
        started = time.monotonic()
        retried = [  # one after the other, as each client retries its own write
            await http.post(BASE, json=payload(name=key), headers=_keyed(headers, key))
            for key in done_keys + flight_keys
        ]
        elapsed = time.monotonic() - started
    statuses = Counter(a.status_code for a in retried)
    assert statuses == {201: len(retried)}, statuses
    assert elapsed < ALL_ANSWERED_WITHIN_S, f"{elapsed:.1f} s"
    ids = {key: a.json()["id"] for key, a in zip(done_keys + flight_keys, retried, strict=True)}
    assert [ids[key] for key in done_keys] == [a.json()["id"] for a in done]
    assert {key: ids[key] for key in answered} == answered
    assert await _projects_by_name(database_url) == Counter(
        dict.fromkeys(done_keys + flight_keys, 1)
    )


async def test_writes_cut_off_from_the_database_answer_503_and_their_keys_are_free(
    database_url: str, db_kind: str, servers: Servers
) -> None:
    if db_kind != "postgresql":
        pytest.skip("connections are dropped and refused by the PostgreSQL server")
    headers = await issue_key(database_url, Role.region, "440304")
    server = servers(database_url)
    server.start()
    keys = [f"dropped-{i}" for i in range(10)]
    database = database_url.rsplit("/", 1)[1]
    admin = await asyncpg.connect(PG_ADMIN_URL, timeout=5)
    try:
        async with httpx.AsyncClient(base_url=server.url, timeout=30) as http:
            async with _projects_locked(database_url) as blocker:
                writes = asyncio.ensure_future(_post_all(http, headers, keys))

                async def all_waiting() -> bool:
                    return await _sessions(database_url, waiting_on_lock=True) == len(keys)

                await _until(all_waiting, 10, "every write waiting on the lock")
                # The database goes away under the writes: their connections drop, and no new
                # one can be opened until it is back.
                await admin.execute(f'ALTER DATABASE "{database}" ALLOW_CONNECTIONS false')
                await blocker.execute(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                    " WHERE datname = current_database() AND pid <> pg_backend_pid()"
                )
            cut_off = await writes
            assert {(a.status_code, a.headers.get("retry-after")) for a in cut_off} == {(503, "1")}
            while_away = await http.post(
                BASE, json=payload(name=keys[0]), headers=_keyed(headers, keys[0])
            )
            assert while_away.status_code == 503, while_away.text
            await admin.execute(f'ALTER DATABASE "{database}" ALLOW_CONNECTIONS true')
            retried = [
                await http.post(BASE, json=payload(name=key), headers=_keyed(headers, key))
                for key in keys
            ]
    finally:
        await admin.execute(f'ALTER DATABASE "{database}" ALLOW_CONNECTIONS true')
        await admin.close()
    assert [a.status_code for a in retried] == [201] * len(keys)
    assert await _projects_by_name(database_url) == Counter(dict.fromkeys(keys, 1))


async def test_a_write_cut_by_the_statement_timeout_is_503_and_its_key_free(
    database_url: str, db_kind: str, servers: Servers
) -> None:
    if db_kind != "postgresql":
        pytest.skip("the statement timeout is PostgreSQL's")
    headers = _keyed(await issue_key(database_url, Role.region, "440304"), "cut")
    server = servers(database_url, db_statement_timeout_ms="500")
    server.start()
    async with httpx.AsyncClient(base_url=server.url, timeout=30) as http:
        async with _projects_locked(database_url):
            started = time.monotonic()
            cut = await http.post(BASE, json=payload(), headers=headers)
            elapsed = time.monotonic() - started
        assert cut.status_code == 503, cut.text
        assert cut.json()["code"] == "database_unavailable"
        assert cut.headers["retry-after"] == "1"
        assert 0.4 < elapsed < 5, elapsed
        again = await http.post(BASE, json=payload(), headers=headers)
        assert again.status_code == 201, again.text


async def test_an_exhausted_pool_answers_503_after_the_pool_timeout(
    database_url: str, db_kind: str, servers: Servers
) -> None:
    if db_kind != "postgresql":
        pytest.skip("the pool size is set for PostgreSQL")
    headers = await issue_key(database_url, Role.region, "440304")
    server = servers(database_url, db_pool_size="1", db_max_overflow="0", db_pool_timeout_s="1")
    server.start()
    async with httpx.AsyncClient(base_url=server.url, timeout=30) as http:
        async with _projects_locked(database_url):
            # The one connection is held by a write waiting on the lock.
            holder = asyncio.ensure_future(
                http.post(BASE, json=payload(), headers=_keyed(headers, "holder"))
            )
            await _until(_a_write_waits(database_url), 10, "the write waiting")
            started = time.monotonic()
            starved = await http.get(BASE)
            elapsed = time.monotonic() - started
        assert starved.status_code == 503, starved.text
        assert starved.json()["code"] == "database_unavailable"
        assert starved.headers["retry-after"] == "1"
        assert 0.9 < elapsed < 4, elapsed
        assert (await holder).status_code == 201
        assert (await http.get(BASE)).status_code == 200


async def test_an_unreachable_database_answers_503(
    db_kind: str, servers: Servers, tmp_path: Path
) -> None:
    if db_kind != "postgresql":
        pytest.skip("a PostgreSQL server that refuses connections")
    server = servers(f"postgresql://postgres@127.0.0.1:{free_port()}/nothing")
    server.start()  # starts without its database, and serves what needs none
    async with httpx.AsyncClient(base_url=server.url, timeout=30) as http:
        for response in (
            await http.get(BASE),
            await http.post(BASE, json=payload(), headers={"Authorization": "Bearer clk_x"}),
        ):
            assert response.status_code == 503, response.text
            assert response.json()["code"] == "database_unavailable"
            assert response.headers["retry-after"] == "1"
        assert (await http.get("/readyz")).status_code == 503
