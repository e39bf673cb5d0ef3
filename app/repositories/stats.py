"""Aggregate queries over the library: one GROUP BY per dimension, the same SQL on both databases.

Every figure counts only the projects the caller may read, through the project
repository's ``readable_clause``: visibility is decided there alone.
Money is summed as integer cents on SQLite, whose NUMERIC is a float, so sums stay exact there too.
"""

import uuid
from typing import Any

from sqlalchemy import (
    ColumnElement,
    FromClause,
    Row,
    String,
    case,
    func,
    literal_column,
    select,
)
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import InstrumentedAttribute
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.functions import FunctionElement

from app.models.engagement import Engagement, EngagementStatus
from app.models.pilot import Pilot
from app.models.project import Project

P = Project


def pilot_members(pilot_id: uuid.UUID | None = None) -> FromClause:
    """(pilot_id, project_id) for every project that belongs to a pilot: by its ``pilot_id``,
    never by where its region code lies (DESIGN §3)."""
    stmt = select(P.pilot_id.label("pilot_id"), P.id.label("project_id")).where(
        P.pilot_id.is_not(None)
    )
    if pilot_id is not None:
        stmt = stmt.where(P.pilot_id == pilot_id)
    return stmt.subquery("pilot_members")


class _CentsSum(FunctionElement[Any]):
    """SUM of a money column in cents."""

    name = "cents_sum"
    inherit_cache = True


@compiles(_CentsSum)
def _cents_sum_default(element: _CentsSum, compiler: SQLCompiler, **kw: Any) -> str:
    return f"SUM(({compiler.process(element.clauses, **kw)}) * 100)"


@compiles(_CentsSum, "sqlite")
def _cents_sum_sqlite(element: _CentsSum, compiler: SQLCompiler, **kw: Any) -> str:
    # NUMERIC is stored as REAL on SQLite: round each value to whole cents, add integers.
    return f"SUM(CAST(ROUND(({compiler.process(element.clauses, **kw)}) * 100) AS INTEGER))"


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


MEASURES = (
    "projects",
    "total_investment",
    "financing_need",
    "financing_secured",
    "annual_emission_reduction_tco2e",
    "annual_carbon_sink_tco2e",
    "annual_energy_saving_tce",
)


def _measures() -> list[Any]:
    """The standard figures over the grouped rows."""
    return [
        func.count(P.id).label("projects"),
        _CentsSum(P.total_investment).label("total_investment"),
        _CentsSum(P.financing_need).label("financing_need"),
        _CentsSum(P.financing_secured).label("financing_secured"),
        func.sum(P.annual_emission_reduction_tco2e).label("annual_emission_reduction_tco2e"),
        func.sum(P.annual_carbon_sink_tco2e).label("annual_carbon_sink_tco2e"),
        func.sum(P.annual_energy_saving_tce).label("annual_energy_saving_tce"),
    ]


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

GRID_KEYS = ("status", "objective", "period")


async def figures_grid(session: AsyncSession, where: ColumnElement[bool], period: str) -> list[Any]:
    """The standard figures per (status, objective, approval period).

    Provinces come from ``figures_by_region`` instead: with them here PostgreSQL expects tens
    of thousands of groups and sorts on disk instead of hashing the few hundred there are.
    """
    keys = [P.status, P.objective, approval_period(period)]
    labelled: list[Any] = [key.label(name) for key, name in zip(keys, GRID_KEYS, strict=True)]
    stmt = select(*labelled, *_measures()).select_from(P).where(where).group_by(*keys)
    return list((await session.execute(stmt)).all())


async def figures_by_region(session: AsyncSession, where: ColumnElement[bool]) -> list[Any]:
    """The standard figures per region code and pilot_id (provinces are sets of codes; a pilot
    is its projects' pilot_id): one scan serves both dimensions."""
    keys = (P.region_code.label("key"), P.pilot_id.label("pilot_id"))
    stmt = select(*keys, *_measures()).select_from(P).where(where)
    return list((await session.execute(stmt.group_by(P.region_code, P.pilot_id))).all())


async def figures_by_categories_mask(
    session: AsyncSession, where: ColumnElement[bool]
) -> list[Any]:
    """The standard figures per combination of categories (a project counts in each of its)."""
    stmt = select(P.categories_mask.label("key"), *_measures()).select_from(P).where(where)
    return list((await session.execute(stmt.group_by(P.categories_mask))).all())


async def pilot_names(session: AsyncSession) -> list[tuple[uuid.UUID, str]]:
    rows = await session.execute(
        select(Pilot.id, Pilot.name).order_by(Pilot.province_code, Pilot.name, Pilot.id)
    )
    return [(pilot_id, name) for pilot_id, name in rows]


async def offer_funnel(
    session: AsyncSession, where: ColumnElement[bool], members: FromClause | None = None
) -> tuple[Row[Any], list[Row[Any]]]:
    """Offers on the counted projects: totals through the funnel, and not-financed by reason.

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
                _CentsSum(E.amount).label("offered_amount"),
                _CentsSum(E.financed_amount).label("financed_amount"),
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
    return totals, list(by_reason)
