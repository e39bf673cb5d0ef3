"""The guard tests: limits and rate limits, in process on a migrated SQLite copy (the middleware
never touches the database, so one engine is enough), and against real uvicorn processes."""

import os
import shutil
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path

import httpx
import pytest
import redis
from fastapi import FastAPI
from redis.exceptions import RedisError

from app.config import Settings
from app.main import create_app
from app.migrate import upgrade

REDIS_URL = os.environ.get("CLIMATELIB_TEST_REDIS_URL", "redis://127.0.0.1:6379/9")
REQUIRE_REDIS = os.environ.get("CLIMATELIB_TEST_REQUIRE_REDIS", "") not in ("", "0", "false")


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("guard") / "template.db"
    upgrade(f"sqlite:///{path}")
    return path


@pytest.fixture
def sqlite_url(sqlite_template: Path, tmp_path: Path) -> str:
    path = tmp_path / "guard.db"
    shutil.copyfile(sqlite_template, path)
    return f"sqlite:///{path}"


@pytest.fixture
def limited(sqlite_url: str) -> Settings:
    """Settings with every limit on and small enough to reach in a test."""
    return Settings(
        database_url=sqlite_url,
        log_level="WARNING",
        rate_limit_per_key=5,
        rate_limit_per_address=4,
        rate_limit_expensive=2,
        rate_limit_auth_failures=3,
    )


@asynccontextmanager
async def running(settings: Settings) -> AsyncIterator[tuple[FastAPI, httpx.AsyncClient]]:
    """The app with its lifespan, and a client whose peer address is 127.0.0.1."""
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(
            app=app, raise_app_exceptions=False, client=("127.0.0.1", 50000)
        )
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
            yield app, http


@pytest.fixture
def redis_prefix() -> Iterator[str]:
    """A Redis key prefix of this test alone; its keys are deleted afterwards."""
    problem = _redis_problem()
    if problem is not None:
        message = f"Redis at {REDIS_URL} does not answer ({problem})"
        if REQUIRE_REDIS:
            pytest.fail(message + "; CLIMATELIB_TEST_REQUIRE_REDIS is set", pytrace=False)
        pytest.skip(message)
    prefix = f"climatelib-test:{uuid.uuid4().hex[:12]}:"
    yield prefix
    _delete_prefix(prefix)


def _redis_problem() -> str | None:
    try:
        with redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2) as client:
            client.ping()
    except (RedisError, OSError) as exc:
        return f"{type(exc).__name__}: {exc}"
    return None


def _delete_prefix(prefix: str) -> None:
    with redis.Redis.from_url(REDIS_URL) as client:
        keys = list(client.scan_iter(match=prefix + "*"))
        if keys:
            client.delete(*keys)
