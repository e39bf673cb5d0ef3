"""A ``reads_only`` session (app/db.py, ``READS_ONLY``) is held to reading by the database: on
SQLite its connection runs with PRAGMA query_only until it goes back to the pool, on PostgreSQL
its transaction is READ ONLY. A write in one fails at once; the connection it held writes again
in the next session."""

import pytest
from fastapi import FastAPI
from sqlalchemy import exc as sa_exc
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from app.db import READS_ONLY, WRITE

_INSERT = text("INSERT INTO library_sequences (region_code, year, last_value) VALUES (:r, :y, 1)")
_written = iter(range(1000, 10_000))


async def _write(session: AsyncSession) -> None:
    await session.execute(_INSERT, {"r": "440304", "y": next(_written)})


async def _read_only_now(session: AsyncSession, db_kind: str) -> bool:
    if db_kind == "sqlite":
        return bool((await session.execute(text("PRAGMA query_only"))).scalar_one())
    shown: str = (await session.execute(text("SHOW transaction_read_only"))).scalar_one()
    return shown == "on"


async def _rows(app: FastAPI) -> int:
    async with app.state.sessions() as session:
        counted = await session.execute(text("SELECT count(*) FROM library_sequences"))
        return int(counted.scalar_one())


async def _dbapi_connection(session: AsyncSession) -> object:
    connection = await session.connection()
    raw = await connection.get_raw_connection()
    return raw.dbapi_connection


async def test_a_write_in_a_reads_only_session_fails_loudly(app: FastAPI, db_kind: str) -> None:
    before = await _rows(app)
    async with app.state.sessions(execution_options=READS_ONLY) as session:
        assert await _read_only_now(session, db_kind)
        with pytest.raises(sa_exc.DBAPIError) as failed:
            await _write(session)
        await session.rollback()
    message = str(failed.value.orig).lower()
    assert "readonly" in message or "read-only" in message, message
    assert await _rows(app) == before


async def test_the_same_pooled_connection_writes_after_a_reads_only_session(
    app: FastAPI, db_kind: str
) -> None:
    before = await _rows(app)
    async with app.state.sessions(execution_options=READS_ONLY) as reader:
        read_with = await _dbapi_connection(reader)
        assert await _read_only_now(reader, db_kind)
    # A writer's session (as a POST's), then a plain reader's (as a GET's): neither inherits it.
    for options in (WRITE, {}):
        async with app.state.sessions(execution_options=options) as session:
            assert await _dbapi_connection(session) is read_with  # the pool's one idle connection
            assert not await _read_only_now(session, db_kind)
            await _write(session)
            await session.commit()
    assert await _rows(app) == before + 2


async def test_a_writer_never_inherits_query_only_left_on_by_a_missed_reset(
    app: FastAPI, db_kind: str
) -> None:
    """The pool's return resets the flag; should it not have run (a connection returned outside
    SQLAlchemy's greenlet), the next begin turns the flag off itself."""
    if db_kind != "sqlite":
        pytest.skip("PostgreSQL's READ ONLY ends with the transaction")
    async with app.state.engine.connect() as connection:
        # Left ON behind the pool's back, as the recorded state says it is.
        await connection.exec_driver_sql("PRAGMA query_only=ON")
        connection.info["climatelib_sqlite_query_only"] = True
        await connection.rollback()
    async with app.state.sessions(execution_options=WRITE) as session:
        assert not await _read_only_now(session, db_kind)
        await _write(session)
        await session.commit()
