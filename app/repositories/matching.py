"""Queries behind the matcher: the change log, library columns, active products, visibility."""

import functools
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

import numpy as np
from asyncpg.pgproto.pgproto import UUID as _FastUUID
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
    select,
    true,
)
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.ext.asyncio import AsyncSession

from app.models import MatchingChange, MatchingState, Product, ProductStatus, Project, ProjectStatus


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
class ProjectColumns:
    """Library projects' matching columns, position i one project: ``ProjectRow``'s fields as
    columns, numbers as numpy arrays with the nulls the matcher reads as 0 (figures) or -1
    (tenor) already replaced. The full load reads these without a Python object per row."""

    ids: Sequence[uuid.UUID]
    region_code: NDArray[np.int32]
    objective: Sequence[str]
    categories_mask: NDArray[np.uint32]
    financing_types_mask: NDArray[np.uint8]
    construction_status: Sequence[str]
    remaining_cents: NDArray[np.int64]
    tenor_months: NDArray[np.int64]
    """-1: no tenor stated."""
    emission_reduction_tco2e: NDArray[np.float64]
    carbon_sink_tco2e: NDArray[np.float64]
    adaptation_beneficiaries: NDArray[np.float64]
    third_party_verified: NDArray[np.bool_]
    is_two_high: NDArray[np.bool_]
    classifications: Sequence[Any]
    """Per project: [{scheme, code}], its JSON text, or None."""
    verified_reports: NDArray[np.int64]
    verified_tco2e: NDArray[np.float64]
    verified_days: NDArray[np.int64]
    verified_beneficiaries: NDArray[np.float64]

    def __len__(self) -> int:
        return len(self.ids)

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
            ids=ids,
            region_code=array(regions, np.int32),
            objective=objectives,
            categories_mask=array(categories, np.uint32),
            financing_types_mask=array(ftypes, np.uint8),
            construction_status=construction,
            remaining_cents=array(remaining, np.int64),
            tenor_months=array(tenors, np.int64, -1),
            emission_reduction_tco2e=array(reductions, np.float64, 0.0),
            carbon_sink_tco2e=array(sinks, np.float64, 0.0),
            adaptation_beneficiaries=array(beneficiaries, np.float64, 0),
            third_party_verified=array(verified, np.bool_),
            is_two_high=array(two_high, np.bool_),
            classifications=classifications,
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


async def library_columns(session: AsyncSession) -> ProjectColumns:
    """Every library project's matching columns: the full load, read in bulk on the session's
    own connection through its driver, one row back whose every value is a whole column (no
    row nor Python object per project and value): PostgreSQL aggregates each column into an
    array, SQLite into one text (``_sqlite_columns``). The JSON stays text, for the matcher to
    parse once per distinct value. Equal to ``ProjectColumns.of_rows(library_rows(session))``."""
    connection = await session.connection()
    raw = await connection.get_raw_connection()
    driver: Any = raw.driver_connection
    postgresql = connection.dialect.name == "postgresql"
    sql = _sql(connection, library_columns_statement(postgresql))
    if postgresql:
        record = await driver.fetchrow(sql)
        if record[0] is None:  # no rows: every aggregate is null
            return ProjectColumns.of([()] * len(ProjectRow._fields))
        return ProjectColumns.of(list(record))
    async with driver.execute(sql) as cursor:
        texts = await cursor.fetchone()
    if texts[0] is None:
        return ProjectColumns.of([()] * len(ProjectRow._fields))
    return ProjectColumns.of(_sqlite_columns(texts))


def library_columns_statement(postgresql: bool) -> Select[Any]:
    """The full load's one statement: an aggregate per column over the library's projects,
    every column listing them in the same order. Both databases read it from the covering
    index ``ix_projects_matching`` (migration 0022), not from the wide rows."""
    expressions = list(_matching_columns())
    expressions[1] = cast(Project.region_code, Integer)  # six digits
    # Nulls as the matcher reads them, so that each column converts to numbers in one go.
    expressions[7] = func.coalesce(Project.tenor_months, -1)
    expressions[8] = func.coalesce(Project.annual_emission_reduction_tco2e, 0.0)
    expressions[9] = func.coalesce(Project.annual_carbon_sink_tco2e, 0.0)
    expressions[10] = func.coalesce(Project.adaptation_beneficiaries, 0)
    if postgresql:
        expressions[13] = cast(Project.classifications, Text)
        in_library = Project.status == ProjectStatus.in_library
        return select(*(func.array_agg(e) for e in expressions)).where(in_library)
    # The partial index holds exactly the rows and columns read, but SQLite's statistics give
    # each status the same share of the table (an eighth over eight statuses), so it would
    # rather look the library up through ix_projects_status_region, a table lookup per
    # project. The library is most of the projects: say so.
    in_library = func.likelihood(Project.status == ProjectStatus.in_library, 0.9)
    return select(*_sqlite_aggregates(expressions)).where(in_library)


# The library columns SQLite aggregates into one text each: numbers joined by commas, parsed by
# numpy in C; floats written with 17 significant digits (SQLite's own text keeps 15, which does
# not give every double back), but zero as "0": printf is the slowest step of the statement, and
# most projects state no carbon sink and have no verified results; text joined by the unit
# separator, which neither the enum values nor JSON text (it escapes control characters) can
# hold; the ids' hex run together.
_SQLITE_FLOATS = frozenset({8, 9, 15})
_SQLITE_TEXTS = frozenset({2, 5, 13})
_UNIT = "\x1f"


def _sqlite_aggregates(expressions: list[Any]) -> list[Any]:
    aggregates = [func.group_concat(expressions[0], "")]
    for k, expression in enumerate(expressions[1:], start=1):
        if k in _SQLITE_TEXTS:
            aggregates.append(func.group_concat(func.coalesce(expression, ""), _UNIT))
        elif k in _SQLITE_FLOATS:
            exact = case((expression == 0, "0"), else_=func.printf("%!.17g", expression))
            aggregates.append(func.group_concat(exact, ","))
        else:
            aggregates.append(func.group_concat(expression, ","))
    return aggregates


def _sqlite_columns(texts: Sequence[str]) -> list[Sequence[Any]]:
    packed = bytes.fromhex(texts[0])
    n = len(packed) // 16
    # asyncpg's UUID: a uuid.UUID built in C, ten times faster than the standard one, and what
    # the PostgreSQL load returns anyway
    columns: list[Sequence[Any]] = [
        list(map(_FastUUID, [packed[16 * i : 16 * i + 16] for i in range(n)]))
    ]
    for k, text in enumerate(texts[1:], start=1):
        values: Any
        if k in _SQLITE_TEXTS:
            values = text.split(_UNIT)
        else:
            values = np.fromstring(  # text mode (with ``sep``): parsed in C, not deprecated
                text, sep=",", dtype=np.float64 if k in _SQLITE_FLOATS else np.int64
            )
        if len(values) != n:
            raise RuntimeError(f"library column {k}: {len(values)} values for {n} projects")
        columns.append(values)
    return columns


def _sql(connection: Any, stmt: Select[Any]) -> str:
    return str(stmt.compile(connection.engine, compile_kwargs={"literal_binds": True}))


async def active_products(session: AsyncSession) -> Sequence[Product]:
    stmt = select(Product).where(Product.status == ProductStatus.active).order_by(Product.id)
    return (await session.scalars(stmt)).all()


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
