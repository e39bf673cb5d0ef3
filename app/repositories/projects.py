"""Project queries. Visibility is decided here and nowhere else (docs/architecture.md,
*Visibility*).

``readable(principal)`` is the statement every get, list, update and transition starts from
(Polar's ``get_readable_statement``): a row outside it does not exist for the caller (404).
Within it, ``can_see_full`` / ``can_see_contact`` decide how much of a row is shown and
``can_edit`` whether the caller may change it (403 otherwise).
"""

import uuid
from collections.abc import Iterable
from dataclasses import replace
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import ColumnElement, Select, and_, or_, select, true
from sqlalchemy.ext.asyncio import AsyncSession

from app.auth import Principal
from app.models import AuditEvent, Project, ProjectStatus, Role
from app.models.flags import CATEGORIES, FINANCING_TYPES
from app.models.project import TwoHighOutcome
from app.models.project_query import ProjectFilters
from app.repositories import audit, integrity, places
from app.repositories.engagements import projects_with_contact
from app.repositories.feed import updated_until
from app.repositories.pagination import SortKey, cursor_until, next_cursor, paginate
from app.repositories.reach import in_reach, reach_clause


def readable_clause(principal: Principal) -> ColumnElement[bool]:
    """The WHERE clause of the projects this principal may see at all."""
    # Exited projects (出库) stay public records with their final status.
    public = Project.status.in_((ProjectStatus.in_library, ProjectStatus.exited))
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


def _filtered(stmt: Select[Any], f: ProjectFilters) -> Select[Any]:
    if f.status:
        stmt = stmt.where(Project.status.in_(f.status))
    if f.objective:
        stmt = stmt.where(Project.objective.in_(f.objective))
    if f.categories:
        wanted = CATEGORIES.exact_mask(f.categories)
        stmt = stmt.where(Project.categories_mask.op("&")(wanted) != 0)
    if f.region_code:
        stmt = stmt.where(Project.region_code.startswith(f.region_code, autoescape=True))
    if f.industry_code:
        stmt = stmt.where(Project.industry_code.startswith(f.industry_code, autoescape=True))
    if f.pilot_id is not None:
        stmt = stmt.where(Project.pilot_id == f.pilot_id)
    if f.construction_status:
        stmt = stmt.where(Project.construction_status.in_(f.construction_status))
    if f.financing_types:
        wanted = FINANCING_TYPES.mask(f.financing_types)
        stmt = stmt.where(Project.financing_types_mask.op("&")(wanted) != 0)
    if f.need_min is not None:
        stmt = stmt.where(Project.financing_need >= f.need_min)
    if f.need_max is not None:
        stmt = stmt.where(Project.financing_need <= f.need_max)
    if f.two_high is not None:
        stmt = stmt.where(Project.is_two_high.is_(f.two_high))
    if f.two_high_outcome:
        stmt = stmt.where(Project.two_high_outcome.in_([o.value for o in f.two_high_outcome]))
    if f.two_high_transition is not None:
        transition = Project.two_high_outcome == TwoHighOutcome.two_high_transition.value
        stmt = stmt.where(transition if f.two_high_transition else ~transition)
    if f.q:
        stmt = stmt.where(
            or_(
                Project.name.icontains(f.q, autoescape=True),
                Project.summary.icontains(f.q, autoescape=True),
            )
        )
    if f.bbox is not None:
        stmt = stmt.where(places.bbox_clause(f.bbox))
    if f.updated_since is not None:
        stmt = stmt.where(Project.updated_at >= f.updated_since)
    if f.updated_until is not None:
        stmt = stmt.where(Project.updated_at <= f.updated_until)
    if f.flag is not None:
        stmt = stmt.where(integrity.flag_clause(f.flag_basis))
    return stmt


async def list_rows(
    session: AsyncSession,
    principal: Principal,
    filters: ProjectFilters,
    *,
    sort: str,
    cursor: str | None,
    limit: int,
) -> tuple[list[Any], str | None, datetime | None]:
    """One page of visible projects as plain rows, the cursor of the next page, and for an
    ``updated_since`` read its watermark (app/repositories/feed.py): the next read's
    ``updated_since``. The first page fixes it, the cursor carries it to the others."""
    keys = SORTS[sort]
    # Core execution on the session's connection: plain rows, none of the ORM's per-row work.
    # A public list on PostgreSQL needs no transaction (one statement, two for an updated_since
    # read, each with a snapshot of its own): autocommit spares the BEGIN/COMMIT round trips.
    if not session.in_transaction() and session.get_bind().dialect.name == "postgresql":
        connection = await session.connection(execution_options={"isolation_level": "AUTOCOMMIT"})
    else:
        connection = await session.connection()
    if filters.updated_since is not None and filters.updated_until is None:
        until = cursor_until(cursor) if cursor else None
        if until is None:
            until = await updated_until(connection, Project.updated_at, filters.updated_since)
        filters = replace(filters, updated_until=until)
    base = _LIST_BASE.where(readable_clause(principal))
    stmt = paginate(_filtered(base, filters), keys, cursor, limit, sort)
    rows = list((await connection.execute(stmt)).all())
    after = next_cursor(
        rows,
        keys,
        limit,
        sort,
        lambda r: [r._mapping[k.column.key] for k in keys],
        filters.updated_until,
    )
    return rows[:limit], after, filters.updated_until


async def feed_bound(session: AsyncSession, filters: ProjectFilters) -> ProjectFilters:
    """The filters with the watermark of their ``updated_since`` read fixed (unchanged without
    one): for a read in several sessions, such as the export's pages."""
    if filters.updated_since is None or filters.updated_until is not None:
        return filters
    connection = await session.connection()
    until = await updated_until(connection, Project.updated_at, filters.updated_since)
    return replace(filters, updated_until=until)
