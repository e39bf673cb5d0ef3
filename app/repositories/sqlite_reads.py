"""The public reads of a SQLite database on sqlite3 itself: on the event loop, within a budget.

Through SQLAlchemy and aiosqlite a public list page on SQLite cost three thread hops (BEGIN, the
statement, ROLLBACK), SQLAlchemy's execution and result machinery, and result processors slower
than they need be; together about half of the request's CPU (bench/README.md). Here a statement
compiled once (``statements.DriverPlan``) runs on read-only sqlite3 connections, and its rows
come back as tuples of the values SQLAlchemy would have produced:

- on the event loop first, as the floor does, within a budget (``LOOP_BUDGET_STEPS`` of
  SQLite's work, and ``LOOP_BUDGET_S``): an indexed page takes about a millisecond, less than
  a thread hop costs. A thread hop for every read was tried first and served 0.27 × the floor at
  32 connections: each request's thread had to win the GIL back from the busy event loop (up to
  the 5 ms switch interval) before the loop could go on with it;
- a read still running past the budget is interrupted (``set_progress_handler``) and run again
  in a thread of this pool's own (so a slow page holds the loop, and with it every other
  request, for the budget at most, about 10 ms); the same when the loop's connection finds the
  database busy (it never waits for a lock: the pool's connections do, up to the busy timeout);
- bounded: ``THREADS`` threads, so public reads never hold more than that many (the default
  executor stays free for everything else, and keyed reads keep SQLAlchemy's own pool); a
  statement running past the statement timeout in a thread is interrupted too;
- each statement is its own snapshot (autocommit, as the PostgreSQL path): a write committed
  before the read began is in it (WAL: readers and the writer do not wait for one another);
- the conversion is SQLAlchemy's own result processor for every column type, except two whose
  processors were the larger part of the cost and have an exact cheaper equivalent: the UTC
  timestamps (``datetime.fromisoformat``, C, instead of a regular expression) and JSON
  (orjson, with ``json.loads`` for the few texts orjson refuses, such as NaN, so the value is
  always the one ``json.loads`` gives).
"""

import json
import logging
import sqlite3
import threading
import time
import weakref
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from typing import Any

import orjson
from sqlalchemy import JSON, Select, event
from sqlalchemy.engine import Dialect, Engine, make_url

from app.models.base import UTCDateTime

log = logging.getLogger("climatelib.sqlite_reads")

THREADS = 4
"""Threads (and connections) for the public reads of one database that run past the loop's
budget: two cores gain nothing from more."""
LOOP_BUDGET_STEPS = 20_000
"""How much work a read may do on the event loop, in SQLite virtual-machine steps: the list page
(an index walk that stops after 51 rows) takes about 6,000, a 200-row page about 14,000. Counted
in steps rather than time so that a busy machine does not push cheap pages off the loop (each
interruption wastes the work done, and would add load where there is already too much)."""
LOOP_BUDGET_S = 0.010
"""And at most this long, whatever the steps (a read that waits on the disk)."""
_PROGRESS_STEPS = 1_000
"""SQLite virtual-machine steps between two looks (a few microseconds of work)."""

Convert = Callable[[Any], Any] | None


class Interrupted(Exception):
    """A public read ran past the statement timeout and was stopped."""


def _utc_datetime(fallback: Convert) -> Callable[[Any], Any]:
    def convert(value: Any) -> Any:
        if value is None:
            return None
        try:
            # The stored text is naive UTC; read with its offset it is one C call (the result
            # is the same value with ``datetime.UTC`` as its zone, as UTCDateTime gives).
            return _from_iso(value + "+00:00")
        except (TypeError, ValueError):  # not the text SQLAlchemy stores: its own reading
            return fallback(value) if fallback is not None else value

    return convert


_from_iso = datetime.fromisoformat


def _json(value: Any) -> Any:
    if value is None:
        return None
    try:
        return orjson.loads(value)
    except orjson.JSONDecodeError:  # NaN, huge integers, lone surrogates: json.loads reads them
        return json.loads(value)


def converters(stmt: Select[Any], dialect: Dialect) -> tuple[Convert, ...]:
    """Per selected column, what turns sqlite3's value into SQLAlchemy's (None: as it is)."""
    out: list[Convert] = []
    for column in stmt.selected_columns:
        kind = column.type
        processor = kind._cached_result_processor(dialect, None)
        if isinstance(kind, UTCDateTime):
            out.append(_utc_datetime(processor))
        elif isinstance(kind, JSON) or isinstance(getattr(kind, "impl", None), JSON):
            out.append(_json)
        else:
            out.append(processor)
    return tuple(out)


RowConvert = Callable[[tuple[Any, ...]], tuple[Any, ...]]


def row_converter(convert: Sequence[Convert]) -> RowConvert | None:
    """One function turning a row into its converted tuple (None: every value as it is).

    Compiled once per statement into one tuple display, as the answer's dict display is
    (app/services/project_rows.py): a loop over the columns cost a third of a page's reading.
    """
    if all(f is None for f in convert):
        return None
    env: dict[str, Any] = {}
    items = []
    for i, f in enumerate(convert):
        if f is None:
            items.append(f"r[{i}]")
        else:
            env[f"f{i}"] = f
            items.append(f"f{i}(r[{i}])")
    source = f"def convert_row(r):\n    return ({', '.join(items)},)\n"
    exec(compile(source, "<convert_row>", "exec"), env)  # noqa: S102 - made from the types
    function: RowConvert = env["convert_row"]
    return function


def convert_rows(rows: list[tuple[Any, ...]], convert: RowConvert | None) -> list[Any]:
    return rows if convert is None else list(map(convert, rows))


class SqliteReads:
    """Read-only connections to one database file, and the threads that use them."""

    def __init__(self, path: str, busy_timeout_ms: int, statement_timeout_ms: int) -> None:
        self.path = path
        self.busy_timeout_ms = busy_timeout_ms
        self.timeout_s = statement_timeout_ms / 1000 if statement_timeout_ms > 0 else None
        self._idle: list[sqlite3.Connection] = []
        self._lock = threading.Lock()
        self._executor: ThreadPoolExecutor | None = None
        self._here: sqlite3.Connection | None = None  # the event loop's own

    def _connect(self, busy_timeout_ms: int | None = None) -> sqlite3.Connection:
        connection = sqlite3.connect(
            self.path,
            timeout=(self.busy_timeout_ms if busy_timeout_ms is None else busy_timeout_ms) / 1000,
            isolation_level=None,  # autocommit: each statement its own snapshot
            check_same_thread=False,  # used by one pool thread at a time, never two at once
        )
        connection.execute("PRAGMA query_only=ON")
        return connection

    def _take(self) -> sqlite3.Connection:
        with self._lock:
            if self._idle:
                return self._idle.pop()
        return self._connect()

    def _give_back(self, connection: sqlite3.Connection) -> None:
        with self._lock:
            if len(self._idle) < THREADS:
                self._idle.append(connection)
                return
        connection.close()

    def run_here(
        self, sql: str, args: Sequence[Any], convert: RowConvert | None
    ) -> list[Any] | None:
        """The statement's rows, read on the calling thread (the event loop) within
        ``LOOP_BUDGET_STEPS`` and ``LOOP_BUDGET_S``; None when it did more or found the
        database busy (run it in the pool then). One connection, never waiting for a lock:
        the loop never sleeps here."""
        connection = self._here
        if connection is None:
            connection = self._here = self._connect(busy_timeout_ms=0)
        deadline = time.monotonic() + LOOP_BUDGET_S
        looks = [LOOP_BUDGET_STEPS // _PROGRESS_STEPS]

        def over_budget() -> bool:
            looks[0] -= 1
            return looks[0] < 0 or time.monotonic() > deadline

        connection.set_progress_handler(over_budget, _PROGRESS_STEPS)
        try:
            rows = connection.execute(sql, args).fetchall()
        except sqlite3.OperationalError as exc:
            text = str(exc)
            if "interrupted" in text or "locked" in text or "busy" in text:
                return None
            raise
        finally:
            connection.set_progress_handler(None, 0)
        return convert_rows(rows, convert)

    def run(self, sql: str, args: Sequence[Any], convert: RowConvert | None) -> list[Any]:
        """The statement's rows, converted (in the calling thread: a pool thread)."""
        connection = self._take()
        deadline = None if self.timeout_s is None else time.monotonic() + self.timeout_s
        if deadline is not None:
            connection.set_progress_handler(lambda: time.monotonic() > deadline, _PROGRESS_STEPS)
        try:
            rows = connection.execute(sql, args).fetchall()
        except BaseException as exc:
            connection.close()  # its state is unknown: not kept
            if isinstance(exc, sqlite3.OperationalError) and "interrupted" in str(exc):
                raise Interrupted(f"a public read ran past {self.timeout_s} s") from exc
            raise
        if deadline is not None:
            connection.set_progress_handler(None, 0)
        self._give_back(connection)
        return convert_rows(rows, convert)

    def executor(self) -> ThreadPoolExecutor:
        with self._lock:
            if self._executor is None:
                self._executor = ThreadPoolExecutor(THREADS, thread_name_prefix="sqlite-read")
            return self._executor

    def close(self) -> None:
        """Close the idle connections and let the threads go (reopened on the next read)."""
        with self._lock:
            idle, self._idle = self._idle, []
            executor, self._executor = self._executor, None
            here, self._here = self._here, None
        if here is not None:
            idle.append(here)
        for connection in idle:
            connection.close()
        if executor is not None:
            executor.shutdown(wait=False)


_READS: "weakref.WeakKeyDictionary[Engine, SqliteReads]" = weakref.WeakKeyDictionary()


def install(engine: Engine, busy_timeout_ms: int, statement_timeout_ms: int) -> None:
    """Give a file-backed SQLite engine its public read pool (an in-memory database has none:
    another connection would see another database)."""
    database = make_url(str(engine.url)).database
    if database in (None, "", ":memory:") or str(database).startswith("file:"):
        return
    reads = SqliteReads(str(database), busy_timeout_ms, statement_timeout_ms)
    _READS[engine] = reads
    event.listen(engine, "engine_disposed", lambda _engine: reads.close())


def reads_of(engine: Engine) -> SqliteReads | None:
    return _READS.get(engine)
