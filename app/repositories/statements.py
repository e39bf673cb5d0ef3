"""Statements built once per shape and reused: the read path of the lists.

A list request states values (filters, a cursor, a page size), but its statement depends only on
the request's *shape*: which filters are given (and how many values a list filter has), the
sort, whether a cursor is given, and the caller's visibility. Building a 40-column select with
its clauses cost more than running the indexed query, so each shape's statement is built once,
with bind parameters, and later requests only bind their values. A reused statement also keeps
its compiled form in SQLAlchemy's compiled cache (its cache key is memoised on the object), so
neither construction nor compilation is paid per request.

A statement is also compiled once (``DriverPlan``) and run on the driver: SQLAlchemy's execution
context and result objects were the larger part of what a list page cost beyond the floor. The
bind values go through their types' bind processors as SQLAlchemy would send them.

- PostgreSQL: straight on the asyncpg connection, which returns the columns' own Python values
  (the engine's JSON codec decodes JSON on the connection), so no result processing is skipped.
- SQLite, for a public read (a connection not started, app/routers/public_read.py): on
  read-only sqlite3 connections, on the event loop within a budget and past it in a thread
  (app/repositories/sqlite_reads.py), rows converted to the values SQLAlchemy would give.
  A statement that cannot run so, or a session's connection, goes through SQLAlchemy.

A list's repository describes each filter as a ``Term``; ``Statements`` keeps the statements.
"""

import asyncio
import logging
import sqlite3
from collections.abc import Callable, Hashable, Mapping, Sequence
from dataclasses import dataclass
from threading import Lock
from typing import Any

from sqlalchemy import ColumnElement, Select
from sqlalchemy.engine import Dialect
from sqlalchemy.ext.asyncio import AsyncConnection

from app.errors import DatabaseUnavailable
from app.repositories import sqlite_reads

log = logging.getLogger("climatelib.statements")


@dataclass(frozen=True, slots=True)
class Term:
    """One condition of a list's WHERE clause: ``shape`` says what its statement depends on,
    ``params`` its values by bind parameter name, and ``build`` makes its clause, with bind
    parameters of those names (called only when a statement of a new shape is built)."""

    shape: Hashable
    params: dict[str, Any]
    build: Callable[[], ColumnElement[bool]]

    def clause(self) -> ColumnElement[bool]:
        return self.build()


class Statements:
    """A list's statements by shape. Bounded: shapes are few (the filters a client combines, the
    keys' visibilities), and past ``limit`` the cache starts afresh rather than grow."""

    def __init__(self, name: str, limit: int = 2048) -> None:
        self.name = name
        self.limit = limit
        self._by_shape: dict[Hashable, Select[Any]] = {}
        self._lock = Lock()

    def get(self, shape: Hashable, build: Callable[[], Select[Any]]) -> Select[Any]:
        stmt = self._by_shape.get(shape)
        if stmt is None:
            stmt = build()
            with self._lock:
                if len(self._by_shape) >= self.limit:
                    self._by_shape.clear()
                self._by_shape[shape] = stmt
        return stmt

    def __len__(self) -> int:
        return len(self._by_shape)


@dataclass(frozen=True, slots=True)
class DriverPlan:
    """A statement compiled for asyncpg: its SQL, its bind names in the driver's order, the
    values fixed at build (processed), and the bind processors of the others."""

    sql: str
    order: tuple[str, ...]
    fixed: Mapping[str, Any]
    processors: Mapping[str, Callable[[Any], Any] | None]
    results: sqlite_reads.RowConvert | None = None  # SQLite: sqlite3's values → SQLAlchemy's
    converts: tuple[sqlite_reads.Convert, ...] = ()  # SQLite: the same, per column

    def args(self, params: Mapping[str, Any]) -> list[Any]:
        values = []
        for name in self.order:
            if name in self.fixed:
                values.append(self.fixed[name])
                continue
            value = params[name]
            process = self.processors[name]
            values.append(value if process is None or value is None else process(value))
        return values


_PLANS: dict[tuple[int, str], tuple[Select[Any], DriverPlan | None]] = {}
_PLANS_LOCK = Lock()


def driver_plan(stmt: Select[Any], dialect: Dialect) -> DriverPlan | None:
    """The statement compiled once for the driver; None when it cannot run that way (a bind
    expanded at execution, such as an IN of a list value)."""
    key = (id(stmt), dialect.name)
    held = _PLANS.get(key)
    if held is not None and held[0] is stmt:
        return held[1]
    compiled = stmt.compile(dialect=dialect)
    order = tuple(compiled.positiontup or ())
    plan: DriverPlan | None = None
    if "POSTCOMPILE" not in compiled.string and order:
        binds = {name: compiled.binds[name] for name in order}
        processors = {n: b.type._cached_bind_processor(dialect) for n, b in binds.items()}
        fixed = {}
        for name, bind in binds.items():
            if bind.value is not None or not bind.required:
                value = bind.effective_value
                process = processors[name]
                fixed[name] = value if process is None or value is None else process(value)
        converts = sqlite_reads.converters(stmt, dialect) if dialect.name == "sqlite" else ()
        results = sqlite_reads.row_converter(converts) if converts else None
        plan = DriverPlan(compiled.string, order, fixed, processors, results, converts)
    with _PLANS_LOCK:
        if len(_PLANS) >= 4096:
            _PLANS.clear()
        _PLANS[key] = (stmt, plan)
    return plan


async def fetch(
    connection: AsyncConnection, stmt: Select[Any], params: Mapping[str, Any]
) -> Sequence[Any]:
    """The rows of ``stmt`` with ``params``, read by index: on PostgreSQL straight from asyncpg
    (records), on SQLite for a connection not started yet (a public read's) from its read pool
    (tuples), elsewhere through SQLAlchemy (rows)."""
    rows, raw = await fetch_raw(connection, stmt, params)
    if raw is not None:
        return sqlite_reads.convert_rows(list(rows), raw.results)
    return rows


async def fetch_raw(
    connection: AsyncConnection, stmt: Select[Any], params: Mapping[str, Any]
) -> tuple[Sequence[Any], DriverPlan | None]:
    """``fetch``, but SQLite's read-pool rows left as sqlite3 gave them: with the plan whose
    ``converts`` turn them into SQLAlchemy's values (None: the rows are those values already).
    For a caller that turns the rows into JSON straight from the driver's values (the public
    page, app/services/project_rows.py ``public_answers``)."""
    dialect = connection.sync_engine.dialect  # known before the connection is started
    # A statement hook on the engine (tests inject failures so) sees every statement: with one
    # listening, statements go through SQLAlchemy.
    started = connection.sync_connection
    hooked = bool(
        (started if started is not None else connection.sync_engine).dispatch.before_cursor_execute
    )
    if dialect.driver == "asyncpg" and not hooked:
        plan = driver_plan(stmt, dialect)
        if plan is not None:
            raw = await connection.get_raw_connection()
            driver: Any = raw.driver_connection
            try:
                records: Sequence[Any] = await driver.fetch(plan.sql, *plan.args(params))
            except Exception as exc:
                # The driver's own errors say nothing SQLAlchemy would: run the statement the
                # usual way, whose error marks a lost connection (and the database being away:
                # 503) or says what failed, as every other read's does.
                log.debug("driver read failed, read again through SQLAlchemy: %r", exc)
            else:
                return records, None
    elif dialect.name == "sqlite" and started is None and not hooked:
        reads = sqlite_reads.reads_of(connection.sync_engine)
        plan = driver_plan(stmt, dialect) if reads is not None else None
        if reads is not None and plan is not None:
            args = plan.args(params)
            try:
                here = reads.run_here(plan.sql, args, None)
                if here is not None:
                    return here, plan
                loop = asyncio.get_running_loop()
                pooled = await loop.run_in_executor(
                    reads.executor(), reads.run, plan.sql, args, None
                )
                return pooled, plan
            except sqlite_reads.Interrupted as exc:
                # Not read again: the same statement would run as long.
                raise DatabaseUnavailable(
                    "The read took too long; retry the request.", headers={"Retry-After": "1"}
                ) from exc
            except sqlite3.Error as exc:
                log.debug("sqlite3 read failed, read again through SQLAlchemy: %r", exc)
    if connection.sync_connection is None:
        await connection.start()
    rows: Sequence[Any] = (await connection.execute(stmt, params)).all()
    return rows, None
