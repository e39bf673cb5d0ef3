"""What every connection of the app's engine is set to when it opens (app.db.create_engine):
SQLite's pragmas, among them the WAL's checkpoint mark that keeps an import's commits flat as
the table grows; PostgreSQL's per-statement time limit. Two connections are held at once, so
the second is one the pool opened while the first was in use."""

from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncConnection

from app.config import Settings
from app.db import SQLITE_WAL_AUTOCHECKPOINT_PAGES


async def _values(conn: AsyncConnection, statements: list[str]) -> list[str]:
    return [str((await conn.exec_driver_sql(s)).scalar_one()) for s in statements]


async def test_each_connection_is_set_up_for_its_database(
    app: FastAPI, settings: Settings, db_kind: str
) -> None:
    if db_kind == "postgresql":
        statement = "SELECT setting FROM pg_settings WHERE name = 'statement_timeout'"  # in ms
        expected = {statement: str(settings.db_statement_timeout_ms)}
    else:
        expected = {
            "PRAGMA journal_mode": "wal",
            "PRAGMA synchronous": "1",  # NORMAL
            "PRAGMA foreign_keys": "1",
            # a connection that has only read keeps SQLite's page cache (test_sqlite_page_cache)
            "PRAGMA cache_size": "-2000",
            "PRAGMA wal_autocheckpoint": "10000",  # SQLite's own is 1,000
        }
    engine = app.state.engine
    async with engine.connect() as first, engine.connect() as second:
        for conn in (first, second):
            assert await _values(conn, list(expected)) == list(expected.values())
    assert SQLITE_WAL_AUTOCHECKPOINT_PAGES == 10_000
