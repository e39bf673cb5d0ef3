"""The public list's driver paths (asyncpg; SQLite's read pool of sqlite3 connections) answer
exactly what SQLAlchemy's execution answers: same status, bytes and headers."""

import asyncio
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import event

from app.repositories import sqlite_reads
from tests.conftest import Keys
from tests.factories import in_library, library_project

QUERIES = [
    "",
    "status=in_library&region_code=44&limit=50",
    "limit=2",
    "limit=1&sort=name",
    "sort=-financing_need&limit=3",
    "sort=updated_at",
    "region_code=4403",
    "region_code=33&status=in_library",
    "category=M2",
    "category=M2&category=A2",
    "status=in_library&status=draft&objective=mitigation",
    "objective=adaptation",
    "two_high=false&need_min=1000000",
    "q=%E5%85%89%E4%BC%8F",
    "bbox=113.7,22.4,114.7,22.9",
    "updated_since=2020-01-01T00:00:00Z",  # two statements (the watermark first)
    "status=draft",
]


@contextmanager
def through_sqlalchemy(app: FastAPI) -> Iterator[None]:
    """Every statement through SQLAlchemy's execution (a statement hook turns the driver paths
    off, app/repositories/statements.py)."""

    def hook(*args: Any) -> None:
        return None

    engine = app.state.engine.sync_engine
    event.listen(engine, "before_cursor_execute", hook)
    try:
        yield
    finally:
        event.remove(engine, "before_cursor_execute", hook)


@pytest.fixture
async def varied(app: FastAPI, client: httpx.AsyncClient, keys: Keys) -> None:
    """Library projects whose values cover the column kinds: money, timestamps with and
    without microseconds, JSON, masks, optional parts, and two regions."""
    futian = await keys.region("440304")
    await in_library(client, keys, futian)
    await in_library(
        client,
        keys,
        futian,
        name="Futian flood defences",
        objective="adaptation",
        categories=["A2", "A6"],
        industry_code="E4822",
        annual_emission_reduction_tco2e=None,
        adaptation_benefit="Protects 40,000 residents.",
        total_investment="90000000.00",
        financing_need="60000000.00",
    )
    await library_project(
        app,
        region_code="330102",
        library_code="CIF-330102-2026-90001",
        name="Kiln waste-heat retrofit",
        categories=["M3"],
        financing_need=Decimal("8000000.10"),
        approved_at=datetime(2026, 5, 1, 8, 30, 0, tzinfo=UTC),
    )
    await library_project(
        app,
        name="福田光伏屋顶 二期",
        library_code="CIF-440304-2026-90002",
        approved_at=datetime(2026, 5, 1, 8, 30, 0, 123456, tzinfo=UTC),
        financing_need=Decimal("0.00"),
        annual_emission_reduction_tco2e=0.1,
    )


def _headers(response: httpx.Response, db_kind: str) -> list[tuple[str, str]]:
    """The headers but the request id (and on PostgreSQL the watermark's value, which is the
    database's clock at each read)."""
    out = []
    for key, value in response.headers.items():
        if key == "x-request-id":
            continue
        if key == "x-updated-until" and db_kind == "postgresql":
            value = "(a time)"
        out.append((key, value))
    return sorted(out)


@pytest.mark.usefixtures("varied")
async def test_driver_paths_answer_what_sqlalchemy_answers(
    app: FastAPI, client: httpx.AsyncClient, db_kind: str
) -> None:
    for query in QUERIES:
        pages = 0
        url: str | None = f"/api/v1/projects?{query}"
        while url is not None and pages < 6:
            fast = await client.get(url)
            with through_sqlalchemy(app):
                slow = await client.get(url)
            assert fast.status_code == slow.status_code == 200, (query, fast.text)
            assert fast.content == slow.content, query
            assert _headers(fast, db_kind) == _headers(slow, db_kind), query
            cursor = fast.json()["next_cursor"]
            url = None if cursor is None else f"/api/v1/projects?{query}&cursor={cursor}"
            pages += 1
    assert (await client.get("/api/v1/projects?limit=50")).json()["items"]


async def test_sqlite_public_list_reads_on_the_pool(
    app: FastAPI, client: httpx.AsyncClient, db_kind: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    if db_kind != "sqlite":
        pytest.skip("SQLite's read pool")
    reads = sqlite_reads.reads_of(app.state.engine.sync_engine)
    assert reads is not None
    calls: list[str] = []
    run_here = reads.run_here

    def counted(sql: str, *args: Any) -> Any:
        calls.append(sql)
        return run_here(sql, *args)

    monkeypatch.setattr(reads, "run_here", counted)
    monkeypatch.setattr(reads, "run", None)  # not needed: the page is read on the loop
    await library_project(app)
    response = await client.get("/api/v1/projects?status=in_library&region_code=44")
    assert response.status_code == 200
    assert len(response.json()["items"]) == 1
    assert len(calls) == 1
    # A write is in the very next read (each read its own snapshot).
    await library_project(app, name="第二个项目")
    again = await client.get("/api/v1/projects?status=in_library&region_code=44")
    assert [p["name"] for p in again.json()["items"]] == ["第二个项目", "福田光伏屋顶"]
    assert again.headers["etag"] != response.headers["etag"]
    assert len(calls) == 2


async def test_an_etag_from_one_path_holds_on_the_other(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    await library_project(app)
    url = "/api/v1/projects?region_code=44"
    etag = (await client.get(url)).headers["etag"]
    with through_sqlalchemy(app):
        assert (await client.get(url, headers={"If-None-Match": etag})).status_code == 304
    assert (await client.get(url, headers={"If-None-Match": etag})).status_code == 304


def test_a_read_past_the_statement_timeout_is_interrupted(tmp_path: Any) -> None:
    path = str(tmp_path / "slow.db")
    sqlite3.connect(path).close()
    reads = sqlite_reads.SqliteReads(path, busy_timeout_ms=100, statement_timeout_ms=50)
    slow = (
        "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 100000000) "
        "SELECT count(*) FROM n"
    )
    try:
        with pytest.raises(sqlite_reads.Interrupted):
            reads.run(slow, (), None)
        # The pool serves the next read.
        assert reads.run("SELECT ?", (7,), None) == [(7,)]
    finally:
        reads.close()


async def test_a_read_past_the_loop_budget_goes_to_a_thread(
    app: FastAPI,
    client: httpx.AsyncClient,
    db_kind: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    if db_kind != "sqlite":
        pytest.skip("SQLite's read pool")
    reads = sqlite_reads.reads_of(app.state.engine.sync_engine)
    assert reads is not None
    await library_project(app)
    expected = (await client.get("/api/v1/projects?region_code=44")).content
    monkeypatch.setattr(sqlite_reads, "LOOP_BUDGET_STEPS", 0)  # every read is past it
    monkeypatch.setattr(sqlite_reads, "_PROGRESS_STEPS", 1)
    threads: list[str] = []
    run = reads.run

    def in_thread(*args: Any) -> Any:
        threads.append(threading.current_thread().name)
        return run(*args)

    monkeypatch.setattr(reads, "run", in_thread)
    response = await client.get("/api/v1/projects?region_code=44")
    assert response.status_code == 200
    assert response.content == expected
    assert len(threads) == 1 and threads[0].startswith("sqlite-read")
    # The same past the time budget.
    monkeypatch.setattr(sqlite_reads, "LOOP_BUDGET_STEPS", 10**9)
    monkeypatch.setattr(sqlite_reads, "LOOP_BUDGET_S", -1.0)
    again = await client.get("/api/v1/projects?region_code=44")
    assert again.content == expected
    assert len(threads) == 2


def test_the_read_pool_is_read_only(tmp_path: Any) -> None:
    path = str(tmp_path / "ro.db")
    with sqlite3.connect(path) as setup:
        setup.execute("CREATE TABLE t (x)")
    reads = sqlite_reads.SqliteReads(path, busy_timeout_ms=100, statement_timeout_ms=0)
    try:
        with pytest.raises(sqlite3.OperationalError):
            reads.run("INSERT INTO t VALUES (1)", (), None)
    finally:
        reads.close()


async def test_json_and_timestamps_read_as_sqlalchemy_reads_them() -> None:
    convert = sqlite_reads._utc_datetime(None)
    assert convert("2026-05-01 08:30:00.000000") == datetime(2026, 5, 1, 8, 30, tzinfo=UTC)
    assert convert("2026-05-01 08:30:00.123000") == datetime(
        2026, 5, 1, 8, 30, 0, 123000, tzinfo=UTC
    )
    assert convert(None) is None
    assert sqlite_reads._json('{"a": [1, 2.5, "x"]}') == {"a": [1, 2.5, "x"]}
    nan = sqlite_reads._json('{"a": NaN}')["a"]
    assert nan != nan  # json.loads's reading, which orjson refuses
    await asyncio.sleep(0)
