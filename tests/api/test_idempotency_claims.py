"""An Idempotency-Key claim lives in its request's transaction: one connection per request, a
concurrent retry answered at once, and no claim outliving the request that made it."""

import asyncio
import time
from collections.abc import AsyncIterator
from datetime import timedelta

import asyncpg
import httpx
import pytest
from fastapi import FastAPI

from app.config import Settings
from app.idempotency import ABANDONED_AFTER, request_hash
from app.main import create_app
from app.models import IdempotencyRecord
from app.models.base import utcnow
from app.schemas.project import ProjectCreate
from tests.conftest import Keys
from tests.factories import PROJECTS as BASE
from tests.factories import project_payload as payload


@pytest.fixture
def postgres_only(db_kind: str) -> None:
    if db_kind != "postgresql":
        pytest.skip("SQLite runs one writer at a time: a retry waits for the first to finish")


@pytest.fixture
async def one_connection_app(database_url: str) -> AsyncIterator[FastAPI]:
    """The app with a pool of one connection that no request waits more than a second for."""
    app = create_app(
        Settings(
            database_url=database_url,
            db_pool_size=1,
            db_max_overflow=0,
            db_pool_timeout_s=1,
            log_level="WARNING",
        )
    )
    async with app.router.lifespan_context(app):
        yield app


async def test_a_keyed_create_needs_one_connection(
    db_kind: str, one_connection_app: FastAPI
) -> None:
    if db_kind != "postgresql":
        pytest.skip("the pool size is set for PostgreSQL")
    transport = httpx.ASGITransport(app=one_connection_app)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        region = {**await Keys(one_connection_app).region("440304"), "Idempotency-Key": "one"}
        first = await client.post(BASE, json=payload(), headers=region)
        assert first.status_code == 201, first.text
        again = await client.post(BASE, json=payload(), headers=region)
        assert again.json()["id"] == first.json()["id"]


@pytest.mark.usefixtures("postgres_only")
async def test_a_retry_while_the_first_is_at_work_answers_409_at_once(
    client: httpx.AsyncClient, keys: Keys, database_url: str
) -> None:
    region = {**await keys.region("440304"), "Idempotency-Key": "slow"}
    blocker = await asyncpg.connect(database_url, timeout=5)
    try:
        # The first request claims its key, then waits on this lock to insert its project.
        transaction = blocker.transaction()
        await transaction.start()
        await blocker.execute("LOCK TABLE projects IN SHARE ROW EXCLUSIVE MODE")
        first = asyncio.ensure_future(client.post(BASE, json=payload(), headers=region))
        deadline = time.monotonic() + 10
        while not await blocker.fetchval(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
            " AND wait_event_type = 'Lock'"
        ):
            assert time.monotonic() < deadline, "the first request never reached the lock"
            await asyncio.sleep(0.05)
        started = time.monotonic()
        retry = await client.post(BASE, json=payload(), headers=region)
        assert time.monotonic() - started < 1
        assert retry.status_code == 409
        assert retry.json()["code"] == "idempotency_key_in_progress"
        assert retry.headers["retry-after"] == "1"
        await transaction.rollback()
    finally:
        await blocker.close()
    created = await first
    assert created.status_code == 201
    replay = await client.post(BASE, json=payload(), headers=region)
    assert replay.status_code == 201 and replay.json()["id"] == created.json()["id"]


async def test_an_unanswered_claim_is_free_once_its_lease_ends(
    client: httpx.AsyncClient, keys: Keys, app: FastAPI
) -> None:
    """A record claimed and committed without an answer (an earlier version did that, then died)
    holds its key for the lease only."""
    region = await keys.region("440304")
    body = payload()
    digest = request_hash("POST", BASE, ProjectCreate(**body).model_dump(mode="json"))
    async with app.state.sessions.begin() as session:
        ages = {"fresh": timedelta(0), "stale": ABANDONED_AFTER + timedelta(seconds=1)}
        for key, age in ages.items():
            session.add(
                IdempotencyRecord(
                    principal="region:440304",
                    key=key,
                    request_hash=digest,
                    created_at=utcnow() - age,
                )
            )
    assert ABANDONED_AFTER <= timedelta(seconds=30)
    fresh = await client.post(BASE, json=body, headers={**region, "Idempotency-Key": "fresh"})
    assert fresh.status_code == 409
    stale = await client.post(BASE, json=body, headers={**region, "Idempotency-Key": "stale"})
    assert stale.status_code == 201
