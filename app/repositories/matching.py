"""Queries behind the matcher: the change log, library columns, active products, visibility."""

import asyncio
import functools
import operator
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

import numpy as np
from numpy.typing import NDArray
from sqlalchemy import (
    BigInteger,
    Float,
    Integer,
    Select,
    Table,
    Text,
    all_,
    bindparam,
    case,
    cast,
    func,
    literal_column,
    select,
    true,
)
from sqlalchemy import inspect as sa_inspect
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.ext.asyncio import AsyncSession

from app.models import (
    ConstructionStatus,
    MatchingChange,
    MatchingState,
    Objective,
    Product,
    ProductStatus,
    Project,
    ProjectStatus,
)


def _table(model: type[MatchingChange]) -> Table:
    table = model.__table__
    assert isinstance(table, Table)  # noqa: S101 - narrows the type for Core statements
    return table


class ProjectRow(NamedTuple):
    """A library project's matching columns, as loaded from the database."""

    id: uuid.UUID
    region_code: str
    objective: str
    categories_mask: int
    financing_types_mask: int
    construction_status: str
    remaining_cents: int
    tenor_months: int | None
    emission_reduction_tco2e: float | None
    carbon_sink_tco2e: float | None
    adaptation_beneficiaries: int | None
    third_party_verified: bool
    is_two_high: bool
    classifications: Any
    """[{scheme, code}], or its JSON text where a driver's own rows are read."""
    verified_reports: int = 0
    """Verified monitoring reports (MRV); with any, the matcher reads the verified figures."""
    verified_tco2e: float = 0.0
    """Verified emission reduction + carbon sink, cumulative over ``verified_days``."""
    verified_days: int = 0
    verified_beneficiaries: int = 0


class FeedPosition(NamedTuple):
    """How far a reader of ``matching_changes`` has read.

    ``horizon``: PostgreSQL — every entry of a transaction below this id has been read (the
    ``xmin`` of the snapshot it read with: all older transactions had finished); SQLite — the
    last id read (one writer at a time commits ids in order). ``seen``: the transactions at or
    above the horizon whose entries were read (PostgreSQL only; a transaction's entries become
    visible all at once, when it commits), so that a later read skips just those.
    """

    horizon: int
    seen: frozenset[int] = frozenset()


@dataclass(frozen=True)
class Changes:
    """What the change log holds beyond a position, and the position after reading it."""

    position: FeedPosition
    projects: list[uuid.UUID]
    products: bool
    # False: entries past the old position were pruned, or there were more than the limit.
    complete: bool

    @property
    def nothing_new(self) -> bool:
        return self.complete and not self.projects and not self.products


_CHANGES = _table(MatchingChange)
_PRUNED = select(MatchingState.position).where(MatchingState.name == "pruned").scalar_subquery()


_XIDS = ARRAY(BigInteger)


def _xid(expression: Any) -> Any:
    return cast(cast(expression, Text), BigInteger)  # xid8 casts to bigint only through text


def _feed_statement(postgresql: bool, skip_seen: bool = False) -> Select[Any]:
    """One statement, so that the log's entries and the head they are judged by come from the
    same snapshot: an entry invisible to it belongs to a transaction at or above the head."""
    if postgresql:
        # The oldest transaction still running, our own included: below it everything has
        # either committed (and is visible to this statement) or rolled back.
        own = _xid(func.pg_current_xact_id_if_assigned())
        head: Any = func.least(_xid(func.pg_snapshot_xmin(func.pg_current_snapshot())), own)
    else:
        head = select(func.coalesce(func.max(_CHANGES.c.id), 0)).scalar_subquery()
    horizon = func.coalesce(bindparam("horizon", type_=BigInteger), head)
    entries = select(_CHANGES.c.id, _CHANGES.c.kind, _CHANGES.c.object_id, _CHANGES.c.xid)
    if postgresql:
        # Our own uncommitted entries are read once they commit, never before.
        entries = entries.where(_CHANGES.c.xid >= horizon, _CHANGES.c.xid.is_distinct_from(own))
        if skip_seen:
            # A statement of its own: with the array PostgreSQL plans every execution afresh.
            entries = entries.where(_CHANGES.c.xid != all_(bindparam("seen", type_=_XIDS)))
    else:
        entries = entries.where(_CHANGES.c.id > horizon)
    # No order: beyond the limit the reader rebuilds anyway, and a sort costs more than the read.
    log = entries.limit(bindparam("limit")).subquery("log")
    state = select(head.label("head"), _PRUNED.label("pruned")).subquery("state")
    return select(state.c.head, state.c.pruned, *log.c).select_from(state.outerjoin(log, true()))


_FEED = {
    (True, False): _feed_statement(postgresql=True),
    (True, True): _feed_statement(postgresql=True, skip_seen=True),
    (False, False): _feed_statement(postgresql=False),
}


async def changes_since(session: AsyncSession, since: FeedPosition | None, limit: int) -> Changes:
    """The projects and whether products changed after ``since`` (up to ``limit`` entries), and
    the new position. ``since=None``: the position at the log's head, as a full read starts."""
    postgresql = session.get_bind().dialect.name == "postgresql"
    seen = since.seen if since is not None else frozenset()
    params: dict[str, Any] = {"horizon": None if since is None else since.horizon}
    params["limit"] = limit + 1
    if seen:
        params["seen"] = list(seen)
    rows = (await session.execute(_FEED[postgresql, bool(seen)], params)).all()
    head, pruned = int(rows[0].head), int(rows[0].pruned)
    fresh = [row for row in rows if row.id is not None]
    still_open = {xid for xid in seen if xid >= head}
    still_open.update(row.xid for row in fresh if row.xid is not None and row.xid >= head)
    return Changes(
        position=FeedPosition(head, frozenset(still_open)),
        projects=list(dict.fromkeys(row.object_id for row in fresh if row.kind == "project")),
        products=any(row.kind == "product" for row in fresh),
        complete=since is not None and pruned <= since.horizon and len(fresh) <= limit,
    )


async def library_rows(
    session: AsyncSession, ids: Sequence[uuid.UUID] | None = None
) -> list[ProjectRow]:
    """The matching columns of library projects (all, or those of ``ids``), money in cents, one
    row each: the patch path's read (``library_columns`` is the full load's)."""
    if ids is not None:
        out: list[ProjectRow] = []
        for start in range(0, len(ids), 1000):
            out += await _library_rows(session, ids[start : start + 1000])
        return out
    return await _library_rows(session, None)


def _matching_columns() -> tuple[Any, ...]:
    """The expressions behind ``ProjectRow``'s fields, in its order."""
    remaining_cents = cast(
        func.round((Project.financing_need - Project.financing_secured) * 100), BigInteger
    )
    return (
        Project.id,
        Project.region_code,
        Project.objective,
        Project.categories_mask,
        Project.financing_types_mask,
        Project.construction_status,
        remaining_cents,
        Project.tenor_months,
        Project.annual_emission_reduction_tco2e,
        Project.annual_carbon_sink_tco2e,
        Project.adaptation_beneficiaries,
        Project.third_party_verified,
        Project.is_two_high,
        Project.classifications,
        Project.verified_reports,
        cast(Project.verified_emission_reduction_tco2e + Project.verified_carbon_sink_tco2e, Float),
        Project.verified_days,
        Project.verified_adaptation_beneficiaries,
    )


async def _library_rows(session: AsyncSession, ids: Sequence[uuid.UUID] | None) -> list[ProjectRow]:
    stmt = select(*_matching_columns()).where(Project.status == ProjectStatus.in_library)
    if ids is not None:
        stmt = stmt.where(Project.id.in_(list(ids)))
    result = await session.execute(stmt)
    return [ProjectRow._make(row) for row in result.all()]


@dataclass(frozen=True)
class Coded:
    """A column of few distinct values, dictionary-encoded: row i holds ``values[codes[i]]``.
    The full load gets the codes from the database, so no Python object is made per row for
    the enums, and the classifications' JSON is decoded once per distinct text."""

    codes: NDArray[np.int32]
    values: tuple[Any, ...]

    @classmethod
    def of(cls, column: Sequence[Any]) -> "Coded":
        """Encode a column of values (hashable, or [{scheme, code}] lists as the patch rows'
        decoded JSON, keyed by their pairs; an empty list counts as None)."""
        keys = [_key(value) for value in column]
        index: dict[Any, int] = {}
        values: list[Any] = []
        for key, value in zip(keys, column, strict=True):
            if key not in index:
                index[key] = len(values)
                values.append(value)
        codes = np.fromiter(map(index.__getitem__, keys), dtype=np.int32, count=len(keys))
        return cls(codes=codes, values=tuple(values))

    def mapped(self, table: Callable[[Any], Any], dtype: Any) -> NDArray[Any]:
        """Each row's value through ``table``, computed once per distinct value."""
        out = np.empty(len(self.values), dtype=dtype)
        for k, value in enumerate(self.values):
            out[k] = table(value)
        return out[self.codes]

    def __len__(self) -> int:
        return len(self.codes)


def _key(value: Any) -> Any:
    if isinstance(value, list):
        return tuple((c["scheme"], c["code"]) for c in value) if value else None
    return value


@dataclass(frozen=True)
class ProjectColumns:
    """Library projects' matching columns, position i one project: ``ProjectRow``'s fields as
    columns, numbers as numpy arrays with the nulls the matcher reads as 0 (figures) or -1
    (tenor) already replaced, the ids as their big-endian 64-bit halves, the enums and the
    classifications dictionary-encoded. The full load reads these without a Python object per
    project."""

    id_halves: NDArray[np.uint64]
    """(n, 2): each id's high and low 64 bits (its order as text is their order)."""
    region_code: NDArray[np.int32]
    objective: Coded
    categories_mask: NDArray[np.uint32]
    financing_types_mask: NDArray[np.uint8]
    construction_status: Coded
    remaining_cents: NDArray[np.int64]
    tenor_months: NDArray[np.int64]
    """-1: no tenor stated."""
    emission_reduction_tco2e: NDArray[np.float64]
    carbon_sink_tco2e: NDArray[np.float64]
    adaptation_beneficiaries: NDArray[np.float64]
    third_party_verified: NDArray[np.bool_]
    is_two_high: NDArray[np.bool_]
    classifications: Coded
    """Per project: [{scheme, code}], its JSON text, or None ('[]' may read as None)."""
    verified_reports: NDArray[np.int64]
    verified_tco2e: NDArray[np.float64]
    verified_days: NDArray[np.int64]
    verified_beneficiaries: NDArray[np.float64]

    def __len__(self) -> int:
        return len(self.id_halves)

    @classmethod
    def of(cls, columns: Sequence[Sequence[Any]]) -> "ProjectColumns":
        """From one sequence per ``ProjectRow`` field, in its order (nulls as None or not)."""
        (
            ids,
            regions,
            objectives,
            categories,
            ftypes,
            construction,
            remaining,
            tenors,
            reductions,
            sinks,
            beneficiaries,
            verified,
            two_high,
            classifications,
            reports,
            verified_tco2e,
            days,
            verified_beneficiaries,
        ) = columns
        n = len(ids)

        def array(values: Sequence[Any], dtype: Any, null: Any = None) -> Any:
            if null is not None and None in values:
                values = [null if v is None else v for v in values]
            return np.array(values, dtype=dtype).reshape(n)

        return cls(
            id_halves=_halves(b"".join(i.bytes for i in ids)),
            region_code=array(regions, np.int32),
            objective=Coded.of(objectives),
            categories_mask=array(categories, np.uint32),
            financing_types_mask=array(ftypes, np.uint8),
            construction_status=Coded.of(construction),
            remaining_cents=array(remaining, np.int64),
            tenor_months=array(tenors, np.int64, -1),
            emission_reduction_tco2e=array(reductions, np.float64, 0.0),
            carbon_sink_tco2e=array(sinks, np.float64, 0.0),
            adaptation_beneficiaries=array(beneficiaries, np.float64, 0),
            third_party_verified=array(verified, np.bool_),
            is_two_high=array(two_high, np.bool_),
            classifications=Coded.of(classifications),
            verified_reports=array(reports, np.int64),
            verified_tco2e=array(verified_tco2e, np.float64),
            verified_days=array(days, np.int64),
            verified_beneficiaries=array(verified_beneficiaries, np.float64),
        )

    @classmethod
    def of_rows(cls, rows: Sequence[ProjectRow]) -> "ProjectColumns":
        if not rows:
            return cls.of([()] * len(ProjectRow._fields))
        return cls.of(list(zip(*rows, strict=True)))


def _halves(packed: bytes) -> NDArray[np.uint64]:
    out: NDArray[np.uint64] = np.frombuffer(packed, dtype=">u8").reshape(-1, 2).astype(np.uint64)
    return out


async def library_columns(session: AsyncSession) -> ProjectColumns:
    """Every library project's matching columns: the full load, read in bulk on the session's
    own connection through its driver, one row back whose every value is a whole column (no
    row nor Python object per project and number): PostgreSQL aggregates each fixed-width
    column into one bytea of its values' binary forms, SQLite each column into one text
    (``_sqlite_columns``); the enums come as codes, the JSON as text to parse once per distinct
    value. Equal to ``ProjectColumns.of_rows(library_rows(session))``."""
    connection = await session.connection()
    raw = await connection.get_raw_connection()
    driver: Any = raw.driver_connection
    postgresql = connection.dialect.name == "postgresql"
    if postgresql:
        parts = await _pg_library_parts(connection, driver)
    else:
        async with driver.execute(_sql(connection, library_columns_statement(False))) as cursor:
            parts = [list(await cursor.fetchone())]
    parts = [values for values in parts if values[0] is not None]  # no rows: every value null
    if not parts:
        return ProjectColumns.of([()] * len(ProjectRow._fields))
    # Each column's parts run together: bytes after bytes, the JSON texts' lists one after another.
    values = [functools.reduce(operator.add, column) for column in zip(*parts, strict=True)]
    return _bulk_columns(values, postgresql)


SPLIT_ROWS = 200_000
"""From this many library projects (PostgreSQL's estimate) the full load reads the library as
two id ranges over two connections at once. Building the columns is the backend's work, one
core's per statement (PostgreSQL 15 runs no ``string_agg`` in parallel workers): two statements
use both cores, and at a million projects the read is most of the re-match's wall time."""

# What decides the split, in one round trip: the library's size estimate (the partial index's
# entries), the ids' median by the planner's histogram (over every project, close enough for a
# split), and whether this transaction wrote anything: another connection would not see it.
_SPLIT_FACTS = """
SELECT (SELECT reltuples FROM pg_class WHERE oid = to_regclass('ix_projects_matching')),
       (SELECT histogram_bounds::text FROM pg_stats
         WHERE schemaname = current_schema() AND tablename = 'projects' AND attname = 'id'),
       pg_current_xact_id_if_assigned() IS NULL
"""


async def _pg_library_parts(connection: Any, driver: Any) -> list[list[Any]]:
    """The bulk read's values, as one part or as two id ranges read at once (``SPLIT_ROWS``)."""
    estimate, bounds, unwritten = await driver.fetchrow(_SPLIT_FACTS)
    middle = _median_id(bounds) if unwritten and (estimate or 0) >= SPLIT_ROWS else None
    if middle is None or not _pool_has_room(connection.engine):
        return [list(await driver.fetchrow(_sql(connection, library_columns_statement(True))))]
    low = _sql(connection, library_columns_statement(True, below=middle))
    high = _sql(connection, library_columns_statement(True, from_=middle))
    # Each statement reads the committed state as of its own start, after the caller's feed
    # position was read: each row is at least as new as that position, as with one statement.
    async with connection.engine.connect() as other:
        other_driver: Any = (await other.get_raw_connection()).driver_connection
        reads = [
            asyncio.ensure_future(driver.fetchrow(low)),
            asyncio.ensure_future(other_driver.fetchrow(high)),
        ]
        try:
            records = await asyncio.gather(*reads)
        except BaseException:
            # Neither connection goes back to its owner with a statement still running on it.
            for read in reads:
                read.cancel()
            await asyncio.gather(*reads, return_exceptions=True)
            raise
    return [list(record) for record in records]


def _median_id(bounds: str | None) -> uuid.UUID | None:
    """The middle of the histogram's bounds (``{id,id,...}``), or None before any ANALYZE."""
    if not bounds:
        return None
    ids = bounds.strip("{}").split(",")
    return uuid.UUID(ids[len(ids) // 2]) if len(ids) >= 3 else None


def _pool_has_room(engine: Any) -> bool:
    """Whether a second connection is free now. Requests waiting for the matching cache hold
    their connections; a rebuild must not wait for the pool (``db_pool_timeout_s``) behind them."""
    pool = engine.sync_engine.pool
    size, checked_out = getattr(pool, "size", None), getattr(pool, "checkedout", None)
    return size is None or checked_out is None or checked_out() < size()


# The enums' values in code order: the statement sends each row's code, not its text.
_OBJECTIVES = tuple(Objective)
_CONSTRUCTION = tuple(ConstructionStatus)

# How each of ``ProjectRow``'s fields comes back in the bulk read (after the id and the coded
# ones): PostgreSQL as the binary form of the SQL type below, SQLite as decimal text; then the
# dtype the matcher keeps.
_NUMBERS: dict[int, tuple[str, str, Any]] = {
    1: ("int4send", ">i4", np.int32),
    3: ("int4send", ">i4", np.uint32),
    4: ("int4send", ">i4", np.uint8),
    6: ("int8send", ">i8", np.int64),
    7: ("int4send", ">i4", np.int64),
    8: ("float8send", ">f8", np.float64),
    9: ("float8send", ">f8", np.float64),
    10: ("int4send", ">i4", np.float64),
    11: ("boolsend", "?", np.bool_),
    12: ("boolsend", "?", np.bool_),
    14: ("int4send", ">i4", np.int64),
    15: ("float8send", ">f8", np.float64),
    16: ("int4send", ">i4", np.int64),
    17: ("int4send", ">i4", np.float64),
}
_CODED = {2: _OBJECTIVES, 5: _CONSTRUCTION}
_JSON = 13


def library_columns_statement(
    postgresql: bool, *, below: uuid.UUID | None = None, from_: uuid.UUID | None = None
) -> Select[Any]:
    """The full load's one statement: an aggregate per column over the library's projects
    (those with ids in ``[from_, below)`` when given), every column listing them in the same
    order. Both databases read it from the covering index ``ix_projects_matching`` (migration
    0022), not from the wide rows."""
    expressions = list(_matching_columns())
    expressions[1] = cast(Project.region_code, Integer)  # six digits
    # Nulls as the matcher reads them, so that each column converts to numbers in one go.
    expressions[7] = func.coalesce(Project.tenor_months, -1)
    expressions[8] = func.coalesce(Project.annual_emission_reduction_tco2e, 0.0)
    expressions[9] = func.coalesce(Project.annual_carbon_sink_tco2e, 0.0)
    expressions[10] = func.coalesce(Project.adaptation_beneficiaries, 0)
    for k, values in _CODED.items():
        column = expressions[k]
        whens = [(column == value.value, code) for code, value in enumerate(values)]
        expressions[k] = case(*whens, else_=-1)
    if postgresql:
        # Most projects state no classification: NULL is None, no string made per project.
        expressions[_JSON] = func.nullif(cast(Project.classifications, Text), "[]")
        in_library = Project.status == ProjectStatus.in_library
        stmt = select(*_pg_aggregates(expressions)).where(in_library)
        if below is not None:
            stmt = stmt.where(Project.id < below)
        if from_ is not None:
            stmt = stmt.where(Project.id >= from_)
        return stmt
    # The partial index holds exactly the rows and columns read, but SQLite's statistics give
    # each status the same share of the table (an eighth over eight statuses), so it would
    # rather look the library up through ix_projects_status_region, a table lookup per
    # project. The library is most of the projects: say so.
    in_library = func.likelihood(Project.status == ProjectStatus.in_library, 0.9)
    return select(*_sqlite_aggregates(expressions)).where(in_library)


_NO_SEPARATOR: Any = literal_column("''::bytea")


def _pg_aggregates(expressions: list[Any]) -> list[Any]:
    # Each fixed-width value in its binary form (big-endian), run together: numpy reads a
    # column in one go, where an array's elements each became a Python object in asyncpg.
    aggregates = [func.string_agg(func.uuid_send(expressions[0]), _NO_SEPARATOR)]
    for k, expression in enumerate(expressions[1:], start=1):
        if k == _JSON:
            aggregates.append(func.array_agg(expression))
        elif k in _CODED:
            aggregates.append(func.string_agg(func.int4send(expression), _NO_SEPARATOR))
        else:
            send = _NUMBERS[k][0]
            value = cast(expression, Float) if send == "float8send" else expression
            aggregates.append(func.string_agg(getattr(func, send)(value), _NO_SEPARATOR))
    return aggregates


# The library columns SQLite aggregates into one text each: numbers joined by commas, parsed by
# numpy in C; floats written with 17 significant digits (SQLite's own text keeps 15, which does
# not give every double back), but zero as "0": printf is the slowest step of the statement, and
# most projects state no carbon sink and have no verified results; the JSON text joined by the
# unit separator, which JSON text (it escapes control characters) cannot hold; the ids' hex run
# together.
_SQLITE_FLOATS = frozenset({8, 9, 15})
_UNIT = "\x1f"


def _sqlite_aggregates(expressions: list[Any]) -> list[Any]:
    aggregates = [func.group_concat(expressions[0], "")]
    for k, expression in enumerate(expressions[1:], start=1):
        if k == _JSON:
            aggregates.append(func.group_concat(func.coalesce(expression, ""), _UNIT))
        elif k in _SQLITE_FLOATS:
            exact = case((expression == 0, "0"), else_=func.printf("%!.17g", expression))
            aggregates.append(func.group_concat(exact, ","))
        else:
            aggregates.append(func.group_concat(expression, ","))
    return aggregates


def _bulk_columns(values: list[Any], postgresql: bool) -> ProjectColumns:
    """The bulk read's one value per column as ``ProjectColumns``."""
    halves = _halves(values[0] if postgresql else bytes.fromhex(values[0]))
    n = len(halves)
    out: list[Any] = [halves]
    for k, value in enumerate(values[1:], start=1):
        column: Any
        if k == _JSON:
            texts = value if postgresql else value.split(_UNIT)
            if len(texts) != n:
                raise RuntimeError(f"library column {k}: {len(texts)} values for {n} projects")
            column = Coded.of([t or None for t in texts] if not postgresql else texts)
        else:
            dtype = np.int64 if k in _CODED else _NUMBERS[k][2]
            if postgresql:
                wire = ">i4" if k in _CODED else _NUMBERS[k][1]
                numbers = np.frombuffer(value, dtype=wire)
            else:
                numbers = np.fromstring(  # text mode (with ``sep``): parsed in C, not deprecated
                    value, sep=",", dtype=np.float64 if k in _SQLITE_FLOATS else np.int64
                )
            if len(numbers) != n:
                raise RuntimeError(f"library column {k}: {len(numbers)} values for {n} projects")
            numbers = numbers.astype(dtype)
            if k in _CODED:
                if (numbers < 0).any():
                    raise RuntimeError(f"library column {k}: a value outside {_CODED[k]}")
                column = Coded(numbers.astype(np.int32), tuple(v.value for v in _CODED[k]))
            else:
                column = numbers
        out.append(column)
    return ProjectColumns(*out)


def _sql(connection: Any, stmt: Select[Any]) -> str:
    return str(stmt.compile(connection.engine, compile_kwargs={"literal_binds": True}))


# What the matcher never reads of a product: its page's text, its quota, its bookkeeping.
_NOT_MATCHED = frozenset(
    {"description", "quota_total", "quota_used", "version", "created_at", "updated_at"}
)


@functools.cache
def _active_products_statement() -> Any:
    # Every other column, so that a criterion column added to the model is read without a
    # change here; by attribute name, so each row answers ``criteria_of`` as the model does.
    columns = [
        getattr(Product, attr.key)
        for attr in sa_inspect(Product).column_attrs
        if attr.key not in _NOT_MATCHED
    ]
    return select(*columns).where(Product.status == ProductStatus.active).order_by(Product.id)


async def active_products(session: AsyncSession) -> Sequence[Any]:
    """The active products' matching columns as plain rows (attributes named as the model's),
    in id order. Rows, not ORM objects: at 20,000 products the entities (identity map, instance
    state, the unread text and quota columns) cost 0.32-0.36 s of CPU per read against
    0.15-0.20 s, and the cache re-reads every product at startup and on any product's change."""
    return (await session.execute(_active_products_statement())).all()


_CARD_COLUMNS = (
    Project.id,
    Project.name,
    Project.library_code,
    Project.region_code,
    Project.objective,
    Project.categories_mask,
    Project.construction_status,
    Project.financing_need,
    Project.financing_secured,
    Project.tenor_months,
)


@functools.lru_cache(maxsize=256)  # page sizes: at most MAX_LIMIT
def _cards_statement(count: int) -> Any:
    # One statement per page size, its ids as plain parameters: compiled once and then found in
    # the compiled cache, where ``in_`` of a list (an expanding parameter) renders the page's
    # parameters again on every request.
    ids = [bindparam(f"id_{k}", type_=Project.id.type) for k in range(count)]
    return select(*_CARD_COLUMNS).where(Project.id.in_(ids))


async def project_cards(session: AsyncSession, ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, Any]:
    """What a match list shows of each project (public fields only)."""
    if not ids:
        return {}
    stmt = _cards_statement(len(ids))
    params = {f"id_{k}": value for k, value in enumerate(ids)}
    return {row.id: row for row in (await session.execute(stmt, params)).all()}


async def project_row(
    session: AsyncSession, project_id: uuid.UUID
) -> tuple[Project, ProjectRow] | None:
    """Any project (in the library or not) with its matching columns, or None."""
    project = await session.get(Project, project_id)
    if project is None:
        return None
    remaining = project.financing_need - project.financing_secured
    row = ProjectRow(
        id=project.id,
        region_code=project.region_code,
        objective=project.objective,
        categories_mask=project.categories_mask,
        financing_types_mask=project.financing_types_mask,
        construction_status=project.construction_status,
        remaining_cents=int((remaining * 100).to_integral_value()),
        tenor_months=project.tenor_months,
        emission_reduction_tco2e=project.annual_emission_reduction_tco2e,
        carbon_sink_tco2e=project.annual_carbon_sink_tco2e,
        adaptation_beneficiaries=project.adaptation_beneficiaries,
        third_party_verified=project.third_party_verified,
        is_two_high=project.is_two_high,
        classifications=project.classifications,
        verified_reports=project.verified_reports,
        verified_tco2e=float(
            project.verified_emission_reduction_tco2e + project.verified_carbon_sink_tco2e
        ),
        verified_days=project.verified_days,
        verified_beneficiaries=project.verified_adaptation_beneficiaries,
    )
    return project, row
