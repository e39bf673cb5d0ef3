"""SQLite's page cache per connection: SQLite's default for a connection that has only read, up
to 32 MiB once it has written (app/db.py, ``_grow_cache``): a large cache on every pooled
connection filled each with the same pages under a read load."""

import pytest
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncConnection

from app.db import SQLITE_WRITER_CACHE_KIB, WRITE

SQLITE_DEFAULT_CACHE = -2000  # PRAGMA cache_size: negative, in KiB


async def _cache_size(connection: AsyncConnection) -> int:
    return int((await connection.exec_driver_sql("PRAGMA cache_size")).scalar_one())


async def test_only_a_connection_that_writes_grows_its_cache(app: FastAPI, db_kind: str) -> None:
    if db_kind != "sqlite":
        pytest.skip("the page cache is SQLite's")
    engine = app.state.engine
    async with engine.connect() as reader:
        assert await _cache_size(reader) == SQLITE_DEFAULT_CACHE
        await reader.rollback()
    async with engine.connect() as writer:
        writer = await writer.execution_options(**WRITE)
        await writer.exec_driver_sql("SELECT 1")  # begins the write transaction
        assert await _cache_size(writer) == -SQLITE_WRITER_CACHE_KIB
        await writer.rollback()
    # The same connection (handed out again first) keeps it for its next transactions.
    async with engine.connect() as again:
        assert await _cache_size(again) == -SQLITE_WRITER_CACHE_KIB
