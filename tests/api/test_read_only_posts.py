"""A POST that only reads (the matching preview) runs as a reader: it never waits for writers.

The database holds it to reading (tests/test_reads_only_sessions.py); the connection it used
writes again for the requests after it.

On SQLite a write request's transaction takes the database's one write lock at its first
statement; a POST declared read-only must not, or it queues behind every writer and answers 503
once the busy timeout has passed. On PostgreSQL the test locks the tables it reads against
writers (a lock readers pass) to hold it to the same promise.
"""

import sqlite3
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import event, text

from app.config import Settings
from tests.conftest import Keys
from tests.factories import institution, library_project

# Far below the busy timeout a writer would wait for.
BOUND_S = 0.5


@pytest.fixture
def settings(settings: Settings) -> Settings:
    # A writer gives up after 1 s: long enough to tell from the bound, short for a failing run.
    return settings.model_copy(update={"sqlite_busy_timeout_ms": 1000})


@asynccontextmanager
async def writers_locked_out(app: FastAPI, db_kind: str, database_url: str) -> AsyncIterator[None]:
    """Another connection holds what every writer needs while the block runs."""
    if db_kind == "sqlite":
        holder = sqlite3.connect(database_url.removeprefix("sqlite:///"), isolation_level=None)
        try:
            holder.execute("BEGIN IMMEDIATE")
            yield
        finally:
            holder.execute("ROLLBACK")
            holder.close()
        return
    async with app.state.sessions() as session:
        await session.execute(text("LOCK TABLE projects, products IN EXCLUSIVE MODE"))
        try:
            yield
        finally:
            await session.rollback()


async def test_a_preview_runs_while_another_connection_holds_the_write_lock(
    app: FastAPI, client: httpx.AsyncClient, keys: Keys, db_kind: str, database_url: str
) -> None:
    await library_project(app, region_code="440304")
    _, bank = await institution(client, keys)
    body = {"type": "green_loan", "region_prefixes": ["44"]}
    warm = await client.post("/api/v1/matching/preview", json=body, headers=bank)
    assert warm.status_code == 200, warm.text
    async with writers_locked_out(app, db_kind, database_url):
        began = time.monotonic()
        answer = await client.post("/api/v1/matching/preview", json=body, headers=bank)
        took = time.monotonic() - began
    assert answer.status_code == 200, answer.text
    assert answer.json()["count"] == 1
    assert took < BOUND_S, f"a read-only POST waited {took:.2f} s for the write lock"


async def test_a_writing_post_still_waits_for_the_write_lock(
    app: FastAPI, client: httpx.AsyncClient, keys: Keys, db_kind: str, database_url: str
) -> None:
    """The other side of the declaration: an undeclared POST (a product create) is a writer."""
    if db_kind != "sqlite":
        pytest.skip("the database-wide write lock is SQLite's")
    _, bank = await institution(client, keys)
    async with writers_locked_out(app, db_kind, database_url):
        blocked = await client.post(
            "/api/v1/products", json={"name": "绿色贷", "type": "green_loan"}, headers=bank
        )
    assert blocked.status_code == 503, blocked.text


async def test_the_connection_a_preview_used_writes_for_the_next_requests(
    app: FastAPI, client: httpx.AsyncClient, keys: Keys
) -> None:
    await library_project(app, region_code="440304")
    _, bank = await institution(client, keys)
    used: list[object] = []

    def checked_out(dbapi_connection: object, _record: object, _proxy: object) -> None:
        used.append(dbapi_connection)

    pool = app.state.engine.sync_engine.pool
    event.listen(pool, "checkout", checked_out)
    try:
        preview = await client.post(
            "/api/v1/matching/preview",
            json={"type": "green_loan", "region_prefixes": ["44"]},
            headers=bank,
        )
        assert preview.status_code == 200, preview.text
        assert preview.json()["count"] == 1
        used_by_preview = used[-1]
        for name in ("绿色贷", "碳减排贷"):
            created = await client.post(
                "/api/v1/products", json={"name": name, "type": "green_loan"}, headers=bank
            )
            assert created.status_code == 201, created.text
            assert used[-1] is used_by_preview  # the pool's one idle connection, handed out again
    finally:
        event.remove(pool, "checkout", checked_out)
    listed = await client.get("/api/v1/products", headers=bank)
    assert listed.status_code == 200, listed.text
    assert {p["name"] for p in listed.json()["items"]} == {"绿色贷", "碳减排贷"}
