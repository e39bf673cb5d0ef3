"""Project queries. Visibility is decided here and nowhere else (docs/architecture.md,
*Visibility*).

``readable(principal)`` is the statement every get, list, update and transition starts from
(Polar's ``get_readable_statement``): a row outside it does not exist for the caller (404).
Within it, ``can_see_full`` / ``can_see_contact`` decide how much of a row is shown and
``can_edit`` whether the caller may change it (403 otherwise).
"""

import uuid
from collections.abc import Callable, Hashable, Iterable, Sequence
from dataclasses import replace
from datetime import datetime
from decimal import Decimal
from enum import Enum
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Integer,
    Select,
    String,
    and_,
    bindparam,
    literal,
    or_,
    select,
    true,
)
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from app.auth import Principal
from app.models import AuditEvent, Project, ProjectStatus, Role
from app.models.flags import CATEGORIES, FINANCING_TYPES
from app.models.project import TwoHighOutcome
from app.models.project_query import ProjectFilters
from app.repositories import audit, integrity, places
from app.repositories.engagements import projects_with_contact
from app.repositories.feed import updated_until
from app.repositories.pagination import (
    SortKey,
    cursor_params,
    cursor_until,
    decode_cursor,
    next_cursor,
    paginate_bound,
)
from app.repositories.reach import in_reach, reach_clause
from app.repositories.sqlite_reads import convert_rows
from app.repositories.statements import DriverPlan, Statements, Term, fetch_raw

PUBLIC_STATUSES = (ProjectStatus.in_library, ProjectStatus.exited)


def readable_clause(principal: Principal) -> ColumnElement[bool]:
    """The WHERE clause of the projects this principal may see at all."""
    # Exited projects (出库) stay public records with their final status.
    # Two literals, not a list value: a list would be expanded at every execution.
    public = Project.status.in_([literal(s.value) for s in PUBLIC_STATUSES])
    if principal.role is Role.admin:
        return true()
    if principal.role is Role.region:
        return or_(reach_clause(principal), public)
    if principal.role is Role.reviewer:
        # A reviewer takes projects in from submission on: drafts stay the region's own, and so
        # does a draft the region withdrew without ever submitting it.
        submitted_once = audit.ever_submitted(Project.id)
        reviewed = or_(
            Project.status.not_in([ProjectStatus.draft, ProjectStatus.withdrawn]),
            and_(Project.status == ProjectStatus.withdrawn, submitted_once),
        )
        return or_(and_(reach_clause(principal), reviewed), public)
    return public


def readable(principal: Principal, *columns: Any) -> Select[Any]:
    """Projects (or the given columns of them) that this principal may see."""
    stmt = select(*columns) if columns else select(Project)
    return stmt.where(readable_clause(principal))


def can_see_full(
    principal: Principal, region_code: str, pilot_id: uuid.UUID | None, status: str
) -> bool:
    """Whether the caller sees a visible project with every field (its own scope), not as public."""
    if principal.role is Role.admin:
        return True
    if principal.role is Role.region:
        return in_reach(principal, region_code, pilot_id)
    if principal.role is Role.reviewer:
        return status != ProjectStatus.draft and region_code.startswith(principal.region_prefixes)
    return False


def can_see_contact(
    principal: Principal,
    region_code: str,
    pilot_id: uuid.UUID | None,
    status: str,
    *,
    granted: bool = False,
) -> bool:
    """Whether the contact person is shown: full views do; the public never.

    ``granted`` comes from ``contact_grants``: an institution whose offer the owner accepted.
    """
    return can_see_full(principal, region_code, pilot_id, status) or (
        granted and principal.role is Role.institution
    )


async def contact_grants(
    session: AsyncSession, principal: Principal, project_ids: Iterable[uuid.UUID]
) -> frozenset[uuid.UUID]:
    """Projects among ``project_ids`` whose contact this institution has been granted: those
    whose owner accepted one of its offers."""
    institution_id = principal.institution_id
    if institution_id is None:
        return frozenset()
    return await projects_with_contact(session, institution_id, project_ids)


def can_edit(principal: Principal, region_code: str, pilot_id: uuid.UUID | None) -> bool:
    """Whether the caller may change a visible project: the region whose scope holds it."""
    return principal.role is Role.region and in_reach(principal, region_code, pilot_id)


async def get_readable(
    session: AsyncSession, principal: Principal, project_id: uuid.UUID
) -> Project | None:
    """The project as an ORM object when the caller may see it."""
    result = await session.scalars(readable(principal).where(Project.id == project_id))
    return result.one_or_none()


async def history(
    session: AsyncSession, project_id: uuid.UUID, *, cursor: str | None, limit: int
) -> tuple[list[AuditEvent], str | None]:
    """A page of the project's history (its events in the audit store), oldest first."""
    return await audit.of_object(session, "project", project_id, cursor=cursor, limit=limit)


# Columns read for lists: every column an answer may show, none of the ORM's per-row work.
# Plain table columns: ORM-annotated ones make SQLAlchemy re-match result columns on every call.
_NEVER_SHOWN = frozenset({"source_scope", "created_by"})
LIST_COLUMNS = tuple(column for column in Project.__table__.c if column.key not in _NEVER_SHOWN)

# Built once: constructing a 42-column select costs more than running the indexed query.
_LIST_BASE = select(*LIST_COLUMNS)

SORTS: dict[str, list[SortKey]] = {
    "created_at": [SortKey(Project.created_at, kind=datetime), SortKey(Project.id, kind=uuid.UUID)],
    "-created_at": [
        SortKey(Project.created_at, True, datetime),
        SortKey(Project.id, True, uuid.UUID),
    ],
    "updated_at": [SortKey(Project.updated_at, kind=datetime), SortKey(Project.id, kind=uuid.UUID)],
    "-updated_at": [
        SortKey(Project.updated_at, True, datetime),
        SortKey(Project.id, True, uuid.UUID),
    ],
    "financing_need": [
        SortKey(Project.financing_need, kind=Decimal),
        SortKey(Project.id, kind=uuid.UUID),
    ],
    "-financing_need": [
        SortKey(Project.financing_need, True, Decimal),
        SortKey(Project.id, True, uuid.UUID),
    ],
    "name": [SortKey(Project.name, kind=str), SortKey(Project.id, kind=uuid.UUID)],
    "-name": [SortKey(Project.name, True, str), SortKey(Project.id, True, uuid.UUID)],
}
DEFAULT_SORT = "-created_at"


# ---- the list's statement, built once per shape ------------------------------------------------
#
# A list request states values; the statement depends only on which filters are given (and how
# many values each list filter has), the sort, whether a cursor is given and the caller's
# visibility. ``_terms`` is the one place a filter becomes SQL: each term names its shape and
# its values, and builds its clause (with bind parameters of those names) only when a statement
# of a new shape is built. ``app/repositories/statements.py`` keeps the statements.


def _escape_like(value: str) -> str:
    """``value`` for a LIKE with ESCAPE '/', as SQLAlchemy's autoescape writes it."""
    return value.replace("/", "//").replace("%", "/%").replace("_", "/_")


def _plain(value: Any) -> Any:
    return value.value if isinstance(value, Enum) else value


def _any_of(name: str, column: Any, values: Sequence[Any]) -> Term:
    names = [f"f_{name}_{i}" for i in range(len(values))]
    return Term(
        (name, len(names)),
        dict(zip(names, map(_plain, values), strict=True)),
        lambda: column.in_([bindparam(n, type_=column.type) for n in names]),
    )


def _one(name: str, value: Any, clause: Callable[[Any], ColumnElement[bool]], type_: Any) -> Term:
    key = f"f_{name}"
    return Term(name, {key: value}, lambda: clause(bindparam(key, type_=type_)))


def _prefix(name: str, column: Any, value: str) -> Term:
    return _one(name, _escape_like(value), lambda p: column.startswith(p, escape="/"), String())


def _terms(f: ProjectFilters) -> list[Term]:
    """The list's filters as terms of its WHERE clause: adding a filter is one entry here (and
    its query parameter in app/routers/project_params.py)."""
    p = Project
    terms: list[Term] = []
    if f.status:
        terms.append(_any_of("status", p.status, f.status))
    if f.objective:
        terms.append(_any_of("objective", p.objective, f.objective))
    if f.categories:
        mask = CATEGORIES.exact_mask(f.categories)
        terms.append(
            _one("categories", mask, lambda m: p.categories_mask.op("&")(m) != 0, Integer())
        )
    if f.region_code:
        terms.append(_prefix("region_code", p.region_code, f.region_code))
    if f.industry_code:
        terms.append(_prefix("industry_code", p.industry_code, f.industry_code))
    if f.pilot_id is not None:
        terms.append(_one("pilot_id", f.pilot_id, lambda v: p.pilot_id == v, p.pilot_id.type))
    if f.construction_status:
        terms.append(_any_of("construction_status", p.construction_status, f.construction_status))
    if f.financing_types:
        mask = FINANCING_TYPES.mask(f.financing_types)
        terms.append(
            _one(
                "financing_types", mask, lambda m: p.financing_types_mask.op("&")(m) != 0, Integer()
            )
        )
    need = p.financing_need
    if f.need_min is not None:
        terms.append(_one("need_min", f.need_min, lambda v: need >= v, need.type))
    if f.need_max is not None:
        terms.append(_one("need_max", f.need_max, lambda v: need <= v, need.type))
    if f.two_high is not None:
        # A constant of the shape: a boolean literal per value, as is_() writes it.
        two_high = f.two_high
        terms.append(Term(("two_high", two_high), {}, lambda: p.is_two_high.is_(two_high)))
    if f.two_high_outcome:
        terms.append(_any_of("two_high_outcome", p.two_high_outcome, f.two_high_outcome))
    if f.two_high_transition is not None:
        transition = TwoHighOutcome.two_high_transition.value
        terms.append(
            _one(
                f"two_high_transition_{f.two_high_transition}",
                transition,
                (lambda v: p.two_high_outcome == v)
                if f.two_high_transition
                else (lambda v: p.two_high_outcome != v),
                String(),
            )
        )
    if f.q:
        text = _escape_like(f.q)
        terms.append(
            Term(
                "q",
                {"f_q_name": text, "f_q_summary": text},
                lambda: or_(
                    p.name.icontains(bindparam("f_q_name", type_=String()), escape="/"),
                    p.summary.icontains(bindparam("f_q_summary", type_=String()), escape="/"),
                ),
            )
        )
    if f.bbox is not None:
        terms.append(places.bbox_term(f.bbox))
    stamp = p.updated_at
    if f.updated_since is not None:
        terms.append(_one("updated_since", f.updated_since, lambda v: stamp >= v, stamp.type))
    if f.updated_until is not None:
        terms.append(_one("updated_until", f.updated_until, lambda v: stamp <= v, stamp.type))
    if f.flag is not None:
        # The flag's clause holds what the service resolved for this request (bounds, ids):
        # a statement of its own, never kept (shape None).
        basis = f.flag_basis
        terms.append(Term(None, {}, lambda: integrity.flag_clause(basis)))
    return terms


def visibility_key(principal: Principal) -> Hashable:
    """What ``readable_clause`` depends on: principals alike in it share statements."""
    return (principal.role, principal.region_prefixes, principal.pilot_id)


_LIST_STATEMENTS = Statements("projects")


def list_statement(
    principal: Principal, filters: ProjectFilters, sort: str, cursor: str | None, limit: int
) -> tuple[Select[Any], dict[str, Any]]:
    """The page's statement (built once per shape, then reused) and its parameters."""
    keys = SORTS[sort]
    terms = _terms(filters)
    params: dict[str, Any] = {"limit": limit + 1}
    for term in terms:
        params.update(term.params)
    if cursor:
        params.update(cursor_params(keys, decode_cursor(cursor, sort, keys)))
    shape = (visibility_key(principal), tuple(t.shape for t in terms), sort, bool(cursor))

    def build() -> Select[Any]:
        stmt = _LIST_BASE.where(readable_clause(principal), *(t.clause() for t in terms))
        return paginate_bound(stmt, keys, bool(cursor))

    if any(t.shape is None for t in terms):
        return build(), params
    return _LIST_STATEMENTS.get(shape, build), params


_KEY_INDEX = {column.key: i for i, column in enumerate(LIST_COLUMNS)}
ID_INDEX = _KEY_INDEX["id"]
"""Where a list row holds the project's id (rows are read by index: driver records or rows)."""


async def list_rows_on(
    connection: AsyncConnection,
    principal: Principal,
    filters: ProjectFilters,
    *,
    sort: str,
    cursor: str | None,
    limit: int,
) -> tuple[list[Any], str | None, datetime | None]:
    """One page of visible projects as plain rows (``LIST_COLUMNS`` in order), the cursor of
    the next page, and for an ``updated_since`` read its watermark (app/repositories/feed.py):
    the next read's ``updated_since``. The first page fixes it, the cursor carries it to the
    others. Runs on ``connection``: the session's, or one of its own for a public read."""
    rows, raw, after, until = await list_raw_on(
        connection, principal, filters, sort=sort, cursor=cursor, limit=limit
    )
    if raw is not None:
        rows = convert_rows(rows, raw.results)
    return rows, after, until


async def list_raw_on(
    connection: AsyncConnection,
    principal: Principal,
    filters: ProjectFilters,
    *,
    sort: str,
    cursor: str | None,
    limit: int,
) -> tuple[list[Any], DriverPlan | None, str | None, datetime | None]:
    """``list_rows_on`` with the rows as the driver gave them (statements.fetch_raw): SQLite's
    read pool's not yet converted, and the plan that converts them (None: converted)."""
    keys = SORTS[sort]
    if filters.updated_since is not None and filters.updated_until is None:
        until = cursor_until(cursor) if cursor else None
        if until is None:
            until = await updated_until(connection, Project.updated_at, filters.updated_since)
        filters = replace(filters, updated_until=until)
    stmt, params = list_statement(principal, filters, sort, cursor, limit)
    fetched, raw = await fetch_raw(connection, stmt, params)
    rows = list(fetched)
    indexes = [_KEY_INDEX[k.column.key] for k in keys]
    convert = raw.results if raw is not None else None

    def key_values(row: Any) -> list[Any]:
        values = row if convert is None else convert(row)  # only the cursor's row
        return [values[i] for i in indexes]

    after = next_cursor(rows, keys, limit, sort, key_values, filters.updated_until)
    return rows[:limit], raw, after, filters.updated_until


async def list_rows(
    session: AsyncSession,
    principal: Principal,
    filters: ProjectFilters,
    *,
    sort: str,
    cursor: str | None,
    limit: int,
) -> tuple[list[Any], str | None, datetime | None]:
    """``list_rows_on`` the session's connection."""
    # A public list on PostgreSQL needs no transaction (one statement, two for an updated_since
    # read, each with a snapshot of its own): autocommit spares the BEGIN/COMMIT round trips.
    if not session.in_transaction() and session.get_bind().dialect.name == "postgresql":
        connection = await session.connection(execution_options={"isolation_level": "AUTOCOMMIT"})
    else:
        connection = await session.connection()
    return await list_rows_on(connection, principal, filters, sort=sort, cursor=cursor, limit=limit)


async def feed_bound(session: AsyncSession, filters: ProjectFilters) -> ProjectFilters:
    """The filters with the watermark of their ``updated_since`` read fixed (unchanged without
    one): for a read in several sessions, such as the export's pages."""
    if filters.updated_since is None or filters.updated_until is not None:
        return filters
    connection = await session.connection()
    until = await updated_until(connection, Project.updated_at, filters.updated_since)
    return replace(filters, updated_until=until)
