"""Aggregate queries over the library: one GROUP BY per dimension, the same SQL on both databases.

Every figure counts only the projects the caller may read, through the project
repository's ``readable_clause``: visibility is decided there alone.
Every decimal figure is summed as whole units (cents, kilograms: app/repositories/sums.py), so no
float reaches an answer on either database.
"""

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

from sqlalchemy import (
    ColumnElement,
    FromClause,
    Row,
    String,
    case,
    func,
    literal_column,
    null,
    or_,
    select,
)
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import InstrumentedAttribute
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.functions import FunctionElement

from app.models.engagement import Engagement, EngagementStatus, PaymentKind
from app.models.engagement import Payment as Pay
from app.models.pilot import Pilot
from app.models.project import BENEFITS_VOID, Project, ProjectStatus, has_verified_results
from app.repositories.sums import CentsSum, KilogramsSum

P = Project


def pilot_members(pilot_id: uuid.UUID | None = None) -> FromClause:
    """(pilot_id, project_id) for every project that belongs to a pilot: by its ``pilot_id``,
    never by where its region code lies (services/pilot_membership.py)."""
    stmt = select(P.pilot_id.label("pilot_id"), P.id.label("project_id")).where(
        P.pilot_id.is_not(None)
    )
    if pilot_id is not None:
        stmt = stmt.where(P.pilot_id == pilot_id)
    return stmt.subquery("pilot_members")


class _ApprovalPeriod(FunctionElement[str]):
    """The UTC month, quarter or year of a timestamp, as text: 2026-07, 2026-Q3, 2026."""

    type = String()
    inherit_cache = True
    period: str


class _Month(_ApprovalPeriod):
    name = "approval_month"
    inherit_cache = True
    period = "month"


class _Quarter(_ApprovalPeriod):
    name = "approval_quarter"
    inherit_cache = True
    period = "quarter"


class _Year(_ApprovalPeriod):
    name = "approval_year"
    inherit_cache = True
    period = "year"


_PG_FORMATS = {"month": "YYYY-MM", "quarter": 'YYYY-"Q"Q', "year": "YYYY"}


@compiles(_ApprovalPeriod)
def _period_default(element: _ApprovalPeriod, compiler: SQLCompiler, **kw: Any) -> str:
    column = compiler.process(element.clauses, **kw)
    # Literal formats (no bound parameters), so GROUP BY repeats the select expression exactly.
    return f"to_char(({column}) AT TIME ZONE 'UTC', '{_PG_FORMATS[element.period]}')"


@compiles(_ApprovalPeriod, "sqlite")
def _period_sqlite(element: _ApprovalPeriod, compiler: SQLCompiler, **kw: Any) -> str:
    # SQLite keeps UTC timestamps as text 'YYYY-MM-DD HH:MM:SS.ffffff'.
    column = compiler.process(element.clauses, **kw)
    if element.period == "year":
        return f"substr({column}, 1, 4)"
    if element.period == "month":
        return f"substr({column}, 1, 7)"
    return (
        f"(substr({column}, 1, 4) || '-Q' || ((CAST(substr({column}, 6, 2) AS INTEGER) + 2) / 3))"
    )


_PERIODS: dict[str, type[_ApprovalPeriod]] = {"month": _Month, "quarter": _Quarter, "year": _Year}


def approval_period(period: str) -> ColumnElement[str]:
    """The approval period (``month``, ``quarter`` or ``year``) of a project, as text."""
    return _PERIODS[str(period)](P.approved_at)


def province_of_project() -> ColumnElement[str]:
    return func.substr(P.region_code, literal_column("1"), literal_column("2"), type_=String)


Unit = Literal["count", "cny", "tonnes"]


@dataclass(frozen=True)
class Measure:
    """One figure: its name in the answer, its unit, and its SQL aggregate over projects.

    This table is the one definition of the figures: every grouping selects all of them, the
    service converts each by its unit, and the answer's ``Figures`` declares one field per
    measure. A further figure (verified results, a precomputed fast path) is a row here.
    """

    name: str
    unit: Unit
    aggregate: Callable[[], ColumnElement[Any]]


def benefits_count() -> ColumnElement[bool]:
    """Whether a project's climate benefits count: not an exit as cancelled or non-compliant."""
    void = sorted(reason.value for reason in BENEFITS_VOID)
    return or_(
        P.status != ProjectStatus.exited, P.exit_reason.is_(None), P.exit_reason.not_in(void)
    )


def _benefit(column: Any) -> ColumnElement[Any]:
    return case((benefits_count(), column), else_=null())


MEASURES: tuple[Measure, ...] = (
    Measure("projects", "count", lambda: func.count(P.id)),
    Measure("total_investment", "cny", lambda: CentsSum(P.total_investment)),
    Measure("financing_need", "cny", lambda: CentsSum(P.financing_need)),
    Measure("financing_secured", "cny", lambda: CentsSum(P.financing_secured)),
    Measure("benefit_projects", "count", lambda: func.count(_benefit(P.id))),
    Measure(
        "annual_emission_reduction_tco2e",
        "tonnes",
        lambda: KilogramsSum(_benefit(P.annual_emission_reduction_tco2e)),
    ),
    Measure(
        "annual_carbon_sink_tco2e",
        "tonnes",
        lambda: KilogramsSum(_benefit(P.annual_carbon_sink_tco2e)),
    ),
    Measure(
        "annual_energy_saving_tce",
        "tonnes",
        lambda: KilogramsSum(_benefit(P.annual_energy_saving_tce)),
    ),
    # Verified results (MRV): the sums of verified monitoring reports kept on each project.
    Measure(
        "verified_projects",
        "count",
        lambda: func.count(case((benefits_count() & has_verified_results(), P.id))),
    ),
    Measure(
        "verified_emission_reduction_tco2e",
        "tonnes",
        lambda: KilogramsSum(_benefit(P.verified_emission_reduction_tco2e)),
    ),
    Measure(
        "verified_carbon_sink_tco2e",
        "tonnes",
        lambda: KilogramsSum(_benefit(P.verified_carbon_sink_tco2e)),
    ),
    Measure(
        "verified_energy_saving_tce",
        "tonnes",
        lambda: KilogramsSum(_benefit(P.verified_energy_saving_tce)),
    ),
    Measure(
        "verified_credited_tco2e",
        "tonnes",
        lambda: KilogramsSum(_benefit(P.verified_credited_tco2e)),
    ),
)


def _measures() -> list[Any]:
    """The figures over the grouped rows, one column per measure."""
    return [measure.aggregate().label(measure.name) for measure in MEASURES]


async def figures(
    session: AsyncSession,
    where: ColumnElement[bool],
    *,
    key: ColumnElement[Any] | InstrumentedAttribute[Any] | None = None,
    members: FromClause | None = None,
) -> list[Any]:
    """The standard figures over the matching projects, in total or per ``key`` (ordered by it).

    With ``members`` (see ``pilot_members``) only the projects located in those pilots count,
    and ``key`` may be ``members.c.pilot_id``.
    """
    columns = ([key.label("key")] if key is not None else []) + _measures()
    stmt = select(*columns)
    if members is not None:
        stmt = stmt.select_from(members).join(P, P.id == members.c.project_id)
    else:
        stmt = stmt.select_from(P)
    stmt = stmt.where(where)
    if key is not None:
        stmt = stmt.where(key.is_not(None)).group_by(key).order_by(key)
    return list((await session.execute(stmt)).all())


# The overview's groupings, read in three scans of the projects instead of one per dimension:
# each query groups by the finest keys of several dimensions (a few thousand groups at most), and
# the service adds the groups up per dimension. Every scan of the library costs the same
# per-row arithmetic, whatever it groups by, so fewer scans are what makes the overview fast.

GRID_KEYS = ("status", "exit_reason", "objective", "period")


async def figures_grid(session: AsyncSession, where: ColumnElement[bool], period: str) -> list[Any]:
    """The standard figures per (status, exit reason, objective, approval period).

    Provinces come from ``figures_by_region`` instead: with them here PostgreSQL expects tens
    of thousands of groups and sorts on disk instead of hashing the few hundred there are.
    """
    keys = [P.status, P.exit_reason, P.objective, approval_period(period)]
    labelled: list[Any] = [key.label(name) for key, name in zip(keys, GRID_KEYS, strict=True)]
    stmt = select(*labelled, *_measures()).select_from(P).where(where).group_by(*keys)
    return list((await session.execute(stmt)).all())


async def figures_by_region(session: AsyncSession, where: ColumnElement[bool]) -> list[Any]:
    """The standard figures per region code and pilot_id (provinces are sets of codes; a pilot
    is its projects' pilot_id): one scan serves both dimensions."""
    keys = (P.region_code.label("key"), P.pilot_id.label("pilot_id"))
    stmt = select(*keys, *_measures()).select_from(P).where(where)
    return list((await session.execute(stmt.group_by(P.region_code, P.pilot_id))).all())


async def figures_by_categories(session: AsyncSession, where: ColumnElement[bool]) -> list[Any]:
    """The standard figures per (categories mask, primary category): the service attributes each
    project to its primary category once, and counts its mentions of every listed one."""
    keys = [P.categories_mask, P.primary_category]
    stmt = (
        select(P.categories_mask.label("mask"), P.primary_category.label("primary"), *_measures())
        .select_from(P)
        .where(where)
        .group_by(*keys)
    )
    return list((await session.execute(stmt)).all())


async def pilot_names(session: AsyncSession) -> list[tuple[uuid.UUID, str]]:
    rows = await session.execute(
        select(Pilot.id, Pilot.name).order_by(Pilot.province_code, Pilot.name, Pilot.id)
    )
    return [(pilot_id, name) for pilot_id, name in rows]


async def offer_funnel(
    session: AsyncSession, where: ColumnElement[bool], members: FromClause | None = None
) -> tuple[Row[Any], Row[Any], list[Row[Any]]]:
    """Offers on the counted projects: totals through the funnel, money paid out and back under
    the signed contracts, and not-financed by reason.

    Counts and sums only, no institution or person: public figures carry no personal data.
    """
    E = Engagement
    base = select().select_from(E).join(P, P.id == E.project_id)
    if members is not None:
        base = base.join(members, members.c.project_id == P.id)
    base = base.where(where)
    totals = (
        await session.execute(
            base.add_columns(
                func.count(E.id).label("offers"),
                func.sum(case((E.accepted_at.is_not(None), 1), else_=0)).label("accepted"),
                func.sum(case((E.status == EngagementStatus.declined, 1), else_=0)).label(
                    "declined"
                ),
                func.sum(case((E.status == EngagementStatus.financed, 1), else_=0)).label(
                    "financed"
                ),
                CentsSum(E.amount).label("offered_amount"),
                CentsSum(E.financed_amount).label("signed_amount"),
            )
        )
    ).one()
    reason = E.not_financed_reason
    by_reason = (
        await session.execute(
            base.add_columns(reason.label("reason"), func.count(E.id).label("n"))
            .where(E.status == EngagementStatus.not_financed)
            .group_by(reason)
            .order_by(reason)
        )
    ).all()
    payments: Any = (
        await session.execute(
            select(
                CentsSum(case((Pay.kind == PaymentKind.disbursement, Pay.amount))).label(
                    "disbursed"
                ),
                CentsSum(case((Pay.kind == PaymentKind.repayment, Pay.amount))).label("repaid"),
            )
            .select_from(Pay)
            .join(E, E.id == Pay.engagement_id)
            .join(P, P.id == E.project_id)
            .where(where, *_members_of(members))
        )
    ).one()
    return totals, payments, list(by_reason)


def _members_of(members: FromClause | None) -> list[ColumnElement[bool]]:
    if members is None:
        return []
    return [P.id.in_(select(members.c.project_id))]
