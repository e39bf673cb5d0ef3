"""Engines and sessions: one async engine per process, one session (one transaction) per request.

A request holds at most one connection, waits a bounded time for it when all are in use, and
every failure that means "the database cannot serve now" (unreachable, dropped, pool exhausted,
statement timed out, locked) answers 503 with ``Retry-After`` instead of an internal error.
"""

import asyncio
import logging
import sqlite3
import time
import weakref
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Annotated, Any, TypeVar

import anyio
import orjson
from fastapi import Depends, Request
from sqlalchemy import event
from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import Connection, ExceptionContext, make_url
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.orm import Session
from sqlalchemy.util import await_
from sqlalchemy.util.concurrency import in_greenlet

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
            # An in-memory database is one shared connection, not a pool to wait for. The
            # connection given back last is handed out first: a writer's grown page cache
            # (_grow_cache) stays with the writes while the process is quiet.
            **(
                {}
                if in_memory
                else {"pool_timeout": settings.db_pool_timeout_s, "pool_use_lifo": True}
            ),
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


# Execution options of a write transaction (read on SQLite by _configure_sqlite; PostgreSQL has
# no use for them). WRITE takes SQLite's write lock as the transaction begins (its first statement,
# not its first write: no read-to-write upgrade to deadlock on); BULK_WRITE is one of a long run of
# back-to-back write transactions (an import job's chunks) and lets other writers in between.
WRITE: dict[str, Any] = {"sqlite_begin": "IMMEDIATE"}
BULK_WRITE: dict[str, Any] = {"sqlite_begin": "IMMEDIATE", "sqlite_bulk": True}
_READ: dict[str, Any] = {"sqlite_begin": "DEFERRED"}
# A reader's transaction that the database itself keeps from writing (``reads_only``): on SQLite
# the connection runs with PRAGMA query_only for the transaction (_configure_sqlite), on
# PostgreSQL the driver begins it READ ONLY (asyncpg's transaction option, no extra round trip).
# Each dialect ignores the other's option; both are undone before the connection is pooled again.
READS_ONLY: dict[str, Any] = {"sqlite_query_only": True, "postgresql_readonly": True}

# The longest a writer waits between two tries for the lock while another process holds it.
SQLITE_LOCK_POLL_S = 0.002
# How long the lock stays free, after this process last let it go, before a bulk writer takes
# it again: several tries of any other process's waiting writer.
SQLITE_BULK_GAP_S = 0.01

# WAL frames (pages) after which a commit checkpoints the WAL into the database (see
# _configure_sqlite; SQLite's default is 1,000).
SQLITE_WAL_AUTOCHECKPOINT_PAGES = 10_000

# The page cache of a connection that has written, at most (see _grow_cache; a connection that
# has only read keeps SQLite's default, 2,000 KiB).
SQLITE_WRITER_CACHE_KIB = 32 * 1024

_HOLDS = "climatelib_sqlite_gate"  # connection-record info: the gate turn this connection holds
_BUSY = "climatelib_sqlite_busy_ms"  # connection-record info: the busy timeout it is set to
_GROWN = "climatelib_sqlite_cache_grown"  # connection-record info: its cache is a writer's
_QUERY_ONLY = "climatelib_sqlite_query_only"  # connection-record info: PRAGMA query_only is ON


class SqliteWriteGate:
    """Writers take SQLite's one write lock in the order they asked for it, not by chance.

    SQLite's own waiters sleep in its busy handler between tries, up to 100 ms apart, so they
    are served in no order: a writer that comes straight back, like an import job's next chunk,
    takes the lock again before a waiter's next try, and can go on doing so until the job ends
    (another region's creates waited 2 s at p99 during a 100,000-row job; a cancel lost to the
    next chunk one run in five). So:

    - within a process, write transactions queue on a FIFO lock (one per event loop) before
      their BEGIN IMMEDIATE and leave it once they have committed or rolled back: a writer waits
      only for those that asked before it, an import chunk included;
    - between processes (several server workers on one file) the queue's head tries BEGIN
      IMMEDIATE itself, at most SQLITE_LOCK_POLL_S apart, instead of in the busy handler; a bulk
      writer (BULK_WRITE) takes the lock again only once it has been free for
      SQLITE_BULK_GAP_S, which is long enough for any other process's waiting writer to get in;
    - the whole wait is bounded by the busy timeout as before: past it BEGIN IMMEDIATE fails
      with "database is locked", a 503 (app.errors.is_unavailable).

    The gate only orders writers; SQLite's lock still excludes them, so a writer that bypasses
    the gate (a sync connection, another program) is merely served out of turn.
    """

    def __init__(self, timeout_s: float) -> None:
        self.timeout_s = timeout_s
        self.released_at = 0.0
        self._locks: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Lock] = (
            weakref.WeakKeyDictionary()
        )

    def _lock(self) -> tuple[asyncio.AbstractEventLoop, asyncio.Lock]:
        loop = asyncio.get_running_loop()
        lock = self._locks.get(loop)
        if lock is None:
            lock = self._locks[loop] = asyncio.Lock()
        return loop, lock

    def begin(self, conn: Connection, bulk: bool) -> None:
        """BEGIN IMMEDIATE in this writer's turn; runs in SQLAlchemy's greenlet (``begin``)."""
        deadline = time.monotonic() + self.timeout_s
        if bulk:
            pause = self.released_at + SQLITE_BULK_GAP_S - time.monotonic()
            if pause > 0:
                await_(asyncio.sleep(pause))
        loop, lock = self._lock()
        try:
            if lock.locked():
                await_(asyncio.wait_for(lock.acquire(), max(deadline - time.monotonic(), 0)))
            else:
                await_(lock.acquire())
        except TimeoutError:
            # Those before it held the lock past the busy timeout: fail as SQLite itself would.
            _set_busy_timeout(conn, 0)
            conn.exec_driver_sql("BEGIN IMMEDIATE")
            return
        conn.info[_HOLDS] = (loop, lock)
        try:
            self._begin_immediate(conn, deadline)
        except BaseException:
            self.release(conn.info)
            raise

    @staticmethod
    def _begin_immediate(conn: Connection, deadline: float) -> None:
        # No busy timeout while trying: a try that finds the lock taken comes back at once. It
        # needs none inside the transaction either (a WAL writer holding the lock never waits);
        # a read transaction on this connection sets it back (_configure_sqlite).
        _set_busy_timeout(conn, 0)
        cursor = conn.connection.cursor()
        delay = SQLITE_LOCK_POLL_S / 8
        try:
            while time.monotonic() < deadline:
                try:
                    cursor.execute("BEGIN IMMEDIATE")
                    return
                except sqlite3.OperationalError as exc:
                    if exc.sqlite_errorcode & 0xFF != sqlite3.SQLITE_BUSY:
                        break  # not the lock: let the statement below raise it as SQLAlchemy's
                await_(asyncio.sleep(delay))
                delay = min(delay * 2, SQLITE_LOCK_POLL_S)
        finally:
            cursor.close()
        conn.exec_driver_sql("BEGIN IMMEDIATE")  # past the deadline: "database is locked"

    def release(self, info: dict[Any, Any] | None) -> None:
        """Let the next writer of this process go (idempotent: commit, rollback, or the pool)."""
        held = info.pop(_HOLDS, None) if info is not None else None
        if held is None:
            return
        self.released_at = time.monotonic()
        loop, lock = held
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is loop:
            lock.release()
        elif not loop.is_closed():  # a connection given back by the garbage collector
            loop.call_soon_threadsafe(lock.release)


def _info(pooled: Any) -> dict[Any, Any] | None:
    """The connection record's info of a pooled connection (an ad hoc one, as the dialect's
    first connect uses, has none)."""
    try:
        info: dict[Any, Any] | None = pooled.info
    except (AttributeError, NotImplementedError):
        return None
    return info


def _set_busy_timeout(conn: Connection, ms: int) -> None:
    if conn.info.get(_BUSY) != ms:
        conn.exec_driver_sql(f"PRAGMA busy_timeout={int(ms)}")
        conn.info[_BUSY] = ms


def _grow_cache(conn: Connection) -> None:
    """Give a connection about to write a page cache of up to 32 MiB, kept from then on.

    An import's inserts land at random places in ix_projects_owner_uscc (and, before ids were
    time-ordered, in every index keyed by a project id), and once those outgrow SQLite's default
    2 MiB every chunk reads them back from the OS (INSERT INTO projects 96 -> 224 ms a chunk by
    100,000 rows with UUID4 ids). Readers gain nothing like it, and when every connection had
    the large cache, each of the pool's (5 + 10 overflow) filled its own with the same pages
    under a read load: 130 MB more RSS at 100,000 projects than with the default. Only
    connections that write grow it now; the pool hands out the connection returned last first
    (``pool_use_lifo``), so the writes of a quiet process keep to one connection and its warm
    cache."""
    if not conn.info.get(_GROWN):
        conn.exec_driver_sql(f"PRAGMA cache_size=-{SQLITE_WRITER_CACHE_KIB}")
        conn.info[_GROWN] = True


def _set_query_only(conn: Connection, on: bool) -> None:
    if bool(conn.info.get(_QUERY_ONLY)) != on:
        conn.exec_driver_sql(f"PRAGMA query_only={'ON' if on else 'OFF'}")
        conn.info[_QUERY_ONLY] = on


def _configure_sqlite(engine: AsyncEngine, busy_timeout_ms: int) -> None:
    sync_engine = engine.sync_engine
    gate = SqliteWriteGate(busy_timeout_ms / 1000)

    @event.listens_for(sync_engine, "connect")
    def _on_connect(dbapi_conn: Any, record: Any) -> None:
        # pysqlite's own transaction handling is switched off so that BEGIN is ours to emit:
        # writes need BEGIN IMMEDIATE, or two writers deadlock on the lock upgrade instead of
        # waiting for each other through the busy timeout.
        dbapi_conn.isolation_level = None
        cursor = dbapi_conn.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={int(busy_timeout_ms)}")
        record.info[_BUSY] = int(busy_timeout_ms)
        cursor.execute("PRAGMA synchronous=NORMAL")
        # A checkpoint once the WAL holds about 40 MiB, not SQLite's 4 MiB (1,000 pages).
        # ix_projects_owner_uscc takes inserts at random places (so did the primary key and
        # audit_events (object_id, id) with UUID4 ids), so a chunk of 1,000 rows dirties ever
        # more of its pages as the table grows (WAL frames a chunk of projects and their events
        # from 0 to 100,000 rows: 615 -> 2,604 with UUID4 ids, 519 -> 1,143 with UUIDv7s), and
        # at 1,000 pages every chunk's commit copied them all back into the database and synced
        # it: commit 6 -> 70 ms a chunk. Checkpointed every few chunks instead, a page rewritten
        # by several of them is copied once, and commits stay flat. The WAL file keeps its
        # largest size (a 50 MB upload already makes it that big); the commit that crosses the
        # mark (a chunk or any other writer) runs the checkpoint, tens of milliseconds.
        cursor.execute(f"PRAGMA wal_autocheckpoint={SQLITE_WAL_AUTOCHECKPOINT_PAGES}")
        cursor.close()

    @event.listens_for(sync_engine, "begin")
    def _on_begin(conn: Connection) -> None:
        options = conn.get_execution_options()
        mode = options.get("sqlite_begin", "DEFERRED")
        # Set for a reads_only session, and off for any other: should a return to the pool
        # have failed to reset it (below), a writer still never inherits it.
        _set_query_only(conn, bool(options.get("sqlite_query_only")))
        if mode == "IMMEDIATE":
            _grow_cache(conn)
        if mode == "IMMEDIATE" and in_greenlet():
            gate.begin(conn, bulk=bool(options.get("sqlite_bulk")))
            return
        _set_busy_timeout(conn, busy_timeout_ms)
        conn.exec_driver_sql(f"BEGIN {mode}")

    # The turn ends once COMMIT or ROLLBACK has run (the pool's rollback on return included),
    # not before, so the next writer of this process finds the lock free. Connection events fire
    # before the statement, hence the dialect's own methods, wrapped for this engine alone.
    dialect = sync_engine.dialect
    do_commit, do_rollback = dialect.do_commit, dialect.do_rollback

    def _commit(dbapi_connection: Any) -> None:
        try:
            do_commit(dbapi_connection)
        finally:
            gate.release(_info(dbapi_connection))

    def _rollback(dbapi_connection: Any) -> None:
        try:
            do_rollback(dbapi_connection)
        finally:
            gate.release(_info(dbapi_connection))

    dialect.do_commit = _commit  # type: ignore[method-assign]
    dialect.do_rollback = _rollback  # type: ignore[method-assign]

    # A connection dropped or closed mid-transaction never commits nor rolls back.
    @event.listens_for(sync_engine, "invalidate")
    def _on_invalidate(_dbapi_conn: Any, record: Any, _exc: Any) -> None:
        gate.release(getattr(record, "info", None))

    @event.listens_for(sync_engine, "checkin")
    def _on_checkin(dbapi_conn: Any, record: Any) -> None:
        info = getattr(record, "info", None)
        gate.release(info)
        # A reader's query_only ends with its session: the pool holds only connections that can
        # write. Statements on aiosqlite need SQLAlchemy's greenlet, which every return through a
        # session runs in; a connection returned from elsewhere keeps the flag in its info, and
        # the next begin turns it off, as it does when the reset fails here.
        if info is not None and info.get(_QUERY_ONLY) and dbapi_conn is not None and in_greenlet():
            try:
                cursor = dbapi_conn.cursor()
                try:
                    cursor.execute("PRAGMA query_only=OFF")
                finally:
                    cursor.close()
            except Exception:  # a broken connection fails its next request as it would anyway
                log.warning("could not reset query_only on a pooled connection", exc_info=True)
                return
            info[_QUERY_ONLY] = False


def session_factory(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False, autoflush=False)


_READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})

_READS_ONLY = "climatelib_reads_only"  # the attribute ``reads_only`` sets on an endpoint

_Endpoint = TypeVar("_Endpoint", bound=Callable[..., Any])


def reads_only(endpoint: _Endpoint) -> _Endpoint:
    """Declare a route that only reads although its method is not GET (a POST whose question
    is too large for a query string: the matching preview).

    Its session is a reader's, as a GET's is: on SQLite it takes no write lock (a write request's
    session does at its first statement), so it neither waits for writers nor makes them wait,
    and never answers 503 for a lock it did not need. Nothing it runs may write, and the
    database holds it to that (``READS_ONLY``): on SQLite its connection runs with PRAGMA
    query_only until it goes back to the pool, on PostgreSQL its transaction is READ ONLY, so a
    write by mistake fails at once (a 500; the log names the read-only refusal) instead of
    taking the lock mid-transaction."""
    setattr(endpoint, _READS_ONLY, True)
    return endpoint


def _session_options(request: Request) -> dict[str, Any]:
    if request.method in _READ_METHODS:
        return {}
    if getattr(request.scope.get("endpoint"), _READS_ONLY, False):
        return READS_ONLY
    return WRITE


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


@asynccontextmanager
async def read_apart(session: AsyncSession) -> AsyncIterator[None]:
    """Run the block's statements, which only read, outside the request's write transaction.

    On SQLite a write request's transaction holds the database's one write lock from its first
    statement to its commit. Reads that come before anything is written and may be followed by
    slow work (authentication, before a host name's lookup) run here instead in a read
    transaction of their own (no lock), ended with the block; the write transaction begins at
    the next statement. Anywhere else (PostgreSQL, a read request, a transaction already begun)
    the block simply runs in the request's transaction."""
    if (
        session.in_transaction()
        or session.sync_session.execution_options.get("sqlite_begin") != "IMMEDIATE"
        or session.get_bind().dialect.name != "sqlite"
    ):
        yield
        return
    await session.connection(execution_options=_READ)
    try:
        yield
    finally:
        # Only reads ran: nothing to commit. Objects loaded here come back expired; the write
        # transaction reads what it relies on again.
        await session.rollback()


async def get_session(request: Request) -> AsyncIterator[AsyncSession]:
    """Yield the request's session; commit when the handler succeeds, roll back otherwise.

    Used with ``scope="function"`` so the commit happens before the response is sent: a client
    never sees a 2xx for a write that did not land. A database that cannot serve now turns into
    ``DatabaseUnavailable`` (503), whether it fails the checkout, a statement or the commit.
    """
    factory: async_sessionmaker[AsyncSession] = request.app.state.sessions
    # A write request's transaction begins at its first statement, not here: on SQLite it then
    # takes the write lock (BEGIN IMMEDIATE, read by _configure_sqlite; PostgreSQL ignores the
    # option), so whatever the request waits on before it (the body, authentication's reads in
    # ``read_apart``, a host name's lookup) holds no lock other writers wait for.
    # (Session-wide execution options, applied to each connection the session takes, are
    # SQLAlchemy 2.1's.)
    async with factory(execution_options=_session_options(request)) as session:
        try:
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
