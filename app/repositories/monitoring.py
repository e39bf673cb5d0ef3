"""Monitoring report queries. Who sees which report is decided here and nowhere else.

``readable_clause(principal)``: over reports joined to their project, a report is seen only by
those who may read the project; its region, its province's reviewer and the administrator see
every report (submitted, verified, rejected), everyone else the verified ones, the results the
project answer shows.
"""

import uuid
from collections.abc import Sequence
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import ColumnElement, Select, case, or_, select, true, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.auth import Principal
from app.models import MonitoringReport, Project, ReportStatus, Role
from app.repositories import projects
from app.repositories.pagination import SortKey, next_cursor, paginate
from app.repositories.reach import reach_clause

SORT = [
    SortKey(MonitoringReport.period_start, kind=date),
    SortKey(MonitoringReport.id, kind=uuid.UUID),
]


def readable_clause(principal: Principal) -> ColumnElement[bool]:
    if principal.role is Role.admin:
        return true()
    verified = MonitoringReport.status == ReportStatus.verified
    if principal.role in (Role.region, Role.reviewer):
        return projects.readable_clause(principal) & or_(verified, reach_clause(principal))
    return projects.readable_clause(principal) & verified


def readable(principal: Principal) -> Select[Any]:
    return (
        select(MonitoringReport)
        .join(Project, Project.id == MonitoringReport.project_id)
        .where(readable_clause(principal))
    )


async def list_readable(
    session: AsyncSession,
    principal: Principal,
    project_id: uuid.UUID,
    *,
    cursor: str | None,
    limit: int,
) -> tuple[list[MonitoringReport], str | None]:
    stmt = readable(principal).where(MonitoringReport.project_id == project_id)
    rows = list((await session.scalars(paginate(stmt, SORT, cursor, limit, "period"))).all())
    return rows[:limit], next_cursor(rows, SORT, limit, "period", lambda r: (r.period_start, r.id))


async def get(
    session: AsyncSession, project_id: uuid.UUID, report_id: uuid.UUID
) -> MonitoringReport | None:
    return await session.scalar(
        select(MonitoringReport).where(
            MonitoringReport.id == report_id, MonitoringReport.project_id == project_id
        )
    )


async def lock_project(session: AsyncSession, project_id: uuid.UUID) -> None:
    """Hold the project's row for the rest of the transaction (PostgreSQL; SQLite's writers
    are serialised already), so that two reports checked for overlap at once queue."""
    await session.execute(select(Project.id).where(Project.id == project_id).with_for_update())


async def overlapping(
    session: AsyncSession, project_id: uuid.UUID, start: date, end: date
) -> MonitoringReport | None:
    """A report of the project, not rejected, whose period shares a day with start–end."""
    return await session.scalar(
        select(MonitoringReport)
        .where(
            MonitoringReport.project_id == project_id,
            MonitoringReport.status != ReportStatus.rejected,
            MonitoringReport.period_start <= end,
            MonitoringReport.period_end >= start,
        )
        .order_by(MonitoringReport.period_start)
        .limit(1)
    )


async def add(session: AsyncSession, report: MonitoringReport) -> None:
    session.add(report)
    await session.flush()


async def decide(
    session: AsyncSession,
    report_id: uuid.UUID,
    status: ReportStatus,
    *,
    reason: str | None,
    reviewer: uuid.UUID | None,
    at: datetime,
) -> bool:
    """Move a submitted report to ``status``; False when it is no longer submitted (another
    reviewer was first)."""
    result = await session.execute(
        update(MonitoringReport)
        .where(MonitoringReport.id == report_id, MonitoringReport.status == ReportStatus.submitted)
        .values(status=status, reason=reason, reviewed_by=reviewer, reviewed_at=at, updated_at=at)
        .execution_options(synchronize_session=False)
    )
    return bool(getattr(result, "rowcount", 0))


VERIFIED_COLUMNS = (
    "verified_emission_reduction_tco2e",
    "verified_carbon_sink_tco2e",
    "verified_energy_saving_tce",
    "verified_credited_tco2e",
    "verified_adaptation_beneficiaries",
    "verified_reports",
    "verified_days",
)


async def verified_totals(session: AsyncSession, project_id: uuid.UUID) -> dict[str, Any]:
    row = (
        await session.execute(
            select(*(getattr(Project, c) for c in VERIFIED_COLUMNS)).where(Project.id == project_id)
        )
    ).one()
    return dict(zip(VERIFIED_COLUMNS, row, strict=True))


async def add_verified(
    session: AsyncSession,
    project_id: uuid.UUID,
    *,
    reduction: Decimal,
    sink: Decimal,
    saving: Decimal,
    credited: Decimal,
    beneficiaries: int,
    days: int,
) -> None:
    """Add a verified report to the project's verified totals, in one UPDATE (the database
    adds, so two verifications at once both count). The version moves with ``updated_at``, as
    every restamp of a project does (app/repositories/open_data.py, ``_restamp``): a writing
    key's ETag is the version and its view shows the verified figures."""
    p = Project
    await session.execute(
        update(p)
        .where(p.id == project_id)
        .values(
            verified_emission_reduction_tco2e=p.verified_emission_reduction_tco2e + reduction,
            verified_carbon_sink_tco2e=p.verified_carbon_sink_tco2e + sink,
            verified_energy_saving_tce=p.verified_energy_saving_tce + saving,
            verified_credited_tco2e=p.verified_credited_tco2e + credited,
            verified_adaptation_beneficiaries=case(
                (p.verified_adaptation_beneficiaries < beneficiaries, beneficiaries),
                else_=p.verified_adaptation_beneficiaries,
            ),
            verified_reports=p.verified_reports + 1,
            verified_days=p.verified_days + days,
            version=p.version + 1,
        )
        .execution_options(synchronize_session=False)
    )


async def verified_of(
    session: AsyncSession, project_ids: Sequence[uuid.UUID]
) -> Sequence[MonitoringReport]:
    """The verified reports of these projects, by project and period (public figures: the IATI
    export writes them as its results' actual values)."""
    stmt = (
        select(MonitoringReport)
        .where(
            MonitoringReport.project_id.in_(project_ids),
            MonitoringReport.status == ReportStatus.verified,
        )
        .order_by(MonitoringReport.project_id, MonitoringReport.period_start)
    )
    return (await session.scalars(stmt)).all()
