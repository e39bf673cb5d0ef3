"""A database that drops its connections or stays locked gets a 503 to retry, never a 500."""

import asyncio
import sqlite3

import asyncpg
import httpx
import pytest
from fastapi import FastAPI

from app.config import Settings
from app.main import create_app
from tests.conftest import PG_ADMIN_URL, Keys


async def test_dropped_connections_answer_503_then_recover(
    app: FastAPI, client: httpx.AsyncClient, keys: Keys, db_kind: str, database_url: str
) -> None:
    if db_kind != "postgresql":
        pytest.skip("connections are dropped by the PostgreSQL server")
    headers = await keys.admin()
    assert (await client.get("/api/v1/api-keys", headers=headers)).status_code == 200
    database = database_url.rsplit("/", 1)[1]
    admin = await asyncpg.connect(PG_ADMIN_URL)
    try:
        await admin.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1", database
        )
    finally:
        await admin.close()
    statuses = [(await client.get("/api/v1/api-keys", headers=headers)).status_code]
    for _ in range(20):  # each pooled connection fails once, then the pool reconnects
        if statuses[-1] == 200:
            break
        statuses.append((await client.get("/api/v1/api-keys", headers=headers)).status_code)
    assert 503 in statuses, statuses  # the first request on a dropped connection
    assert set(statuses) <= {200, 503}
    assert statuses[-1] == 200


async def test_sqlite_lock_past_the_busy_timeout_answers_503(
    db_kind: str, database_url: str
) -> None:
    if db_kind != "sqlite":
        pytest.skip("SQLite's file lock")
    # No background writers (import, webhook and audit-seal workers): the lock is taken only
    # by the blocker below, so the key's write before it never meets the 100 ms busy timeout.
    quiet = Settings(
        database_url=database_url,
        sqlite_busy_timeout_ms=100,
        import_worker=False,
        webhook_worker=False,
        audit_seal_interval_s=0,
    )
    app = create_app(quiet)
    path = database_url.removeprefix("sqlite:///")
    async with app.router.lifespan_context(app):
        # A real key: the key's lookup reads without the write lock (a WAL reader is never
        # locked out), so only a request that gets as far as writing meets the lock.
        headers = await Keys(app).admin()
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            # It waits for the lock as long as it takes (nothing else writes now), not 5 s.
            blocker = sqlite3.connect(path, isolation_level=None, timeout=60)
            try:
                blocker.execute("BEGIN EXCLUSIVE")
                response = await client.post(
                    "/api/v1/institutions",
                    json={"name": "x", "uscc": "91350100M000100Y43", "type": "bank"},
                    headers=headers,
                )
            finally:
                blocker.execute("ROLLBACK")
                blocker.close()
            await asyncio.sleep(0)
            assert response.status_code == 503
            assert response.json()["code"] == "database_unavailable"
            assert response.headers["retry-after"] == "1"
