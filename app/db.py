"""Engines and sessions: one async engine per process, one session (one transaction) per request.

A request holds at most one connection, waits a bounded time for it when all are in use, and
every failure that means "the database cannot serve now" (unreachable, dropped, pool exhausted,
statement timed out, locked) answers 503 with ``Retry-After`` instead of an internal error.
"""

import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Annotated, Any

import anyio
import orjson
from fastapi import Depends, Request
from sqlalchemy import event
from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import ExceptionContext, make_url
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.orm import Session

from app.config import Settings
from app.errors import DatabaseUnavailable, is_unavailable
from app.repositories import sqlite_reads

log = logging.getLogger("climatelib.db")

_ASYNC_DRIVERS = {"postgresql": "postgresql+asyncpg", "postgres": "postgresql+asyncpg"}


def async_url(url: str) -> str:
    """Turn a plain database URL into one with the async driver the service uses."""
    parsed = make_url(url)
    backend = parsed.get_backend_name()
    if parsed.drivername in _ASYNC_DRIVERS:
        parsed = parsed.set(drivername=_ASYNC_DRIVERS[parsed.drivername])
    elif backend == "postgresql":
        parsed = parsed.set(drivername="postgresql+asyncpg")
    elif backend == "sqlite":
        parsed = parsed.set(drivername="sqlite+aiosqlite")
    else:
        raise ValueError(f"unsupported database {backend!r}: use SQLite or PostgreSQL")
    return parsed.render_as_string(hide_password=False)


def is_sqlite(engine: AsyncEngine) -> bool:
    return engine.dialect.name == "sqlite"


def create_engine(settings: Settings) -> AsyncEngine:
    url = async_url(settings.database_url)
    if url.startswith("sqlite"):
        in_memory = make_url(url).database in (None, "", ":memory:")
        engine = create_async_engine(
            url,
            hide_parameters=True,  # a failing write's parameters hold contact names and phones
            connect_args={"timeout": settings.sqlite_busy_timeout_ms / 1000},
            # An in-memory database is one shared connection, not a pool to wait for.
            **({} if in_memory else {"pool_timeout": settings.db_pool_timeout_s}),
        )
        _configure_sqlite(engine, settings.sqlite_busy_timeout_ms)
        # The public reads' own sqlite3 connections (app/repositories/sqlite_reads.py).
        sqlite_reads.install(
            engine.sync_engine, settings.sqlite_busy_timeout_ms, settings.db_statement_timeout_ms
        )
        return engine
    engine = create_async_engine(
        url,
        hide_parameters=True,  # a failing write's parameters hold contact names and phones
        connect_args={
            "timeout": settings.db_connect_timeout_s,
            # Sent with the connection's startup packet: no round trip per connection. Per
            # statement, so a batch of 1,000 rows or a full re-match (many statements, or one
            # that reads every project in about a second) stays far below it.
            "server_settings": {"statement_timeout": str(settings.db_statement_timeout_ms)},
        },
        # JSON columns (a project's screening reasons, in every list row) decoded by orjson:
        # the standard library's decoder was 8 % of a list request's CPU. PostgreSQL only
        # stores valid JSON, which orjson reads exactly as json.loads does (SQLite keeps
        # whatever text it was given, NaN included, which orjson would refuse).
        json_deserializer=orjson.loads,
        # Connections opened under load are kept, not closed: SQLAlchemy closes an overflow
        # connection whenever it comes back to a pool that already holds pool_size idle ones,
        # which under steady load (a request holds its connection only while it queries) meant
        # 30 new connections a second, each with its TLS attempt and setup: -22 % list
        # throughput at 32 connections. The ceiling (pool size + overflow) is unchanged, and
        # connections are still opened only as concurrency asks for them.
        pool_size=settings.db_pool_size + settings.db_max_overflow,
        max_overflow=0,
        # With every connection in use a request waits this long, then answers 503: a burst
        # queues briefly instead of piling up behind the default 30 s.
        pool_timeout=settings.db_pool_timeout_s,
        # No pre-ping: it costs a round trip on every checkout, i.e. every request. A
        # connection the server dropped fails its request once; the dialect recognises the
        # disconnect and invalidates the pool, so the next requests reconnect.
        pool_pre_ping=False,
    )
    _report_unreachable_as_disconnect(engine)
    return engine


def _report_unreachable_as_disconnect(engine: AsyncEngine) -> None:
    """Make every failure to open a connection (refused, unreachable, timed out, or turned away
    by the server: starting up, shutting down, too many connections, database closed) a
    ``DBAPIError`` flagged as a disconnect, like a connection the server dropped. asyncpg raises
    a plain ``OSError`` for the first kinds, which nothing took for the database being away (the
    app would not even start while it was)."""
    sync_engine = engine.sync_engine

    @event.listens_for(sync_engine, "do_connect")
    def _connect(dialect: Any, _record: Any, cargs: Any, cparams: Any) -> Any:
        try:
            return dialect.connect(*cargs, **cparams)
        except OSError as exc:  # TimeoutError is one too
            raise dialect.loaded_dbapi.OperationalError(
                f"cannot connect to the database: {exc!r}"
            ) from exc

    @event.listens_for(sync_engine, "handle_error")
    def _unreachable(context: ExceptionContext) -> None:
        if context.connection is None:  # raised while connecting
            context.is_disconnect = True
            # Nothing to recycle: pooled connections that died too fail (and go) one by one.
            context.invalidate_pool_on_disconnect = False


def _configure_sqlite(engine: AsyncEngine, busy_timeout_ms: int) -> None:
    sync_engine = engine.sync_engine

    @event.listens_for(sync_engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        # pysqlite's own transaction handling is switched off so that BEGIN is ours to emit:
        # writes need BEGIN IMMEDIATE, or two writers deadlock on the lock upgrade instead of
        # waiting for each other through the busy timeout.
        dbapi_conn.isolation_level = None
        cursor = dbapi_conn.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={int(busy_timeout_ms)}")
        cursor.execute("PRAGMA synchronous=NORMAL")
        # Page cache of up to 32 MiB (default 2 MiB): an import's inserts land at random places
        # in the projects' indexes (UUID keys), and once those outgrow the cache every chunk
        # reads them back from the OS (INSERT INTO projects 96 -> 224 ms a chunk by 100,000
        # rows). Pages are allocated as used, so only a connection that touches that much
        # holds it; the bound is pool ceiling (5 + 10 overflow) x 32 MiB, in practice the
        # one or two connections that write, since SQLite serialises writers.
        cursor.execute("PRAGMA cache_size=-32768")
        cursor.close()

    @event.listens_for(sync_engine, "begin")
    def _on_begin(conn: Any) -> None:
        mode = conn.get_execution_options().get("sqlite_begin", "DEFERRED")
        conn.exec_driver_sql(f"BEGIN {mode}")


def session_factory(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False, autoflush=False)


_READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})

# session.info: what to undo outside the database should this transaction not commit.
_UNDO = "db.undo"

Undo = Callable[[AsyncSession, bool], Awaitable[None]]


def undo_unless_committed(session: AsyncSession, undo: Undo) -> None:
    """Have ``undo(session, certain)`` run if the request's transaction does not commit.

    For effects outside the database (a stored file) made before the commit. ``certain`` is
    True when the transaction was rolled back before committing; False when the commit itself
    failed, which may still have landed (a connection lost after COMMIT was sent), so the undo
    must check before removing what a committed row could point to. The session it gets is
    rolled back and usable for that check (it fails if the database is down: the undo then
    leaves the effect for a maintenance sweep). Only ``get_session`` runs these.
    """
    session.info.setdefault(_UNDO, []).append(undo)


@event.listens_for(Session, "after_commit")
def _committed(session: Session) -> None:
    # Whatever was registered is now pointed to by committed rows: never undo it.
    session.info.pop(_UNDO, None)


async def _run_undo(session: AsyncSession, *, certain: bool) -> None:
    undos: list[Undo] = session.info.pop(_UNDO, [])
    if not undos:
        return
    # A cancelled request (client gone) still cleans up after itself.
    with anyio.CancelScope(shield=True):
        if not certain:
            try:
                await session.rollback()
            except Exception:  # the undo's own check reports the database
                log.warning("rollback after a failed commit failed", exc_info=True)
        for undo in undos:
            try:
                await undo(session, certain)
            except Exception:  # a failed undo must not hide the request's error
                log.warning(
                    "could not undo an effect of a transaction that did not commit", exc_info=True
                )


async def get_session(request: Request) -> AsyncIterator[AsyncSession]:
    """Yield the request's session; commit when the handler succeeds, roll back otherwise.

    Used with ``scope="function"`` so the commit happens before the response is sent: a client
    never sees a 2xx for a write that did not land. A database that cannot serve now turns into
    ``DatabaseUnavailable`` (503), whether it fails the checkout, a statement or the commit.
    """
    factory: async_sessionmaker[AsyncSession] = request.app.state.sessions
    async with factory() as session:
        try:
            if request.method not in _READ_METHODS:
                # Only SQLite reads this option (see _configure_sqlite): writers take the lock
                # up front.
                await session.connection(execution_options={"sqlite_begin": "IMMEDIATE"})
            try:
                yield session
            except BaseException:
                try:
                    await session.rollback()
                finally:
                    await _run_undo(session, certain=True)
                raise
            try:
                await session.commit()
            except BaseException:
                await _run_undo(session, certain=False)
                raise
        except Exception as exc:
            if not is_unavailable(exc):
                raise
            log.warning(
                "database unavailable: %s",
                type(exc.orig if isinstance(exc, sa_exc.DBAPIError) else exc).__name__,
                extra={"path": request.url.path},
            )
            raise DatabaseUnavailable(
                "The database is unavailable for a moment; retry the request.",
                headers={"Retry-After": "1"},
            ) from exc


SessionDep = Annotated[AsyncSession, Depends(get_session, scope="function")]
