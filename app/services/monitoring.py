"""Monitoring reports (MRV, 监测报告): what a project delivered, reported and verified.

The project's region files a report per period on a project in the library or exited (not
exited as ``cancelled``); the province's reviewer or the administrator verifies it or rejects it
with a reason. Verification adds the report's figures to the project's verified totals (the
project answer's ``verified``, the statistics' verified figures, the matcher's verified basis).
Each rule a report can break has its own code (RULES below); every step is an event in the
project's history.
"""

import uuid
from datetime import date
from decimal import Decimal
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from app.auth import Principal
from app.errors import Forbidden, NotFound, RuleViolation, Unauthorized, field_error
from app.models import ExitReason, MonitoringReport, Project, ProjectStatus, ReportStatus, Role
from app.models.base import utcnow
from app.repositories import documents as documents_repo
from app.repositories import monitoring as repo
from app.repositories import projects as projects_repo
from app.schemas.monitoring import (
    MonitoringReportCreate,
    MonitoringReportRead,
    MonitoringReportTransition,
)
from app.services import audit, lifecycle

FIGURES = ("emission_reduction_tco2e", "carbon_sink_tco2e", "energy_saving_tce")
REPORTED = (
    "period_start",
    "period_end",
    *FIGURES,
    "adaptation_beneficiaries",
    "methodology",
    "verifier",
    "carbon_credit_scheme",
    "credited_tco2e",
    "document_id",
)


def today() -> date:
    return utcnow().date()


def _refuse(code: str, message: str, *fields: str, **extra: Any) -> RuleViolation:
    errors = [field_error(["body", f], code, message) for f in fields] or None
    return RuleViolation(message, code=code, errors=errors, **extra)


async def _project(session: AsyncSession, principal: Principal, project_id: uuid.UUID) -> Project:
    project = await projects_repo.get_readable(session, principal, project_id)
    if project is None:
        raise NotFound(
            "No such project, or it is not visible to this key.", code="project_not_found"
        )
    return project


def _check_project(project: Project) -> None:
    if project.status == ProjectStatus.exited and project.exit_reason == ExitReason.cancelled:
        raise _refuse(
            "project_cancelled",
            "The project exited as cancelled: it delivers no results to report.",
        )
    if project.status not in (ProjectStatus.in_library, ProjectStatus.exited):
        raise _refuse(
            "project_not_in_library",
            f"Results are reported on projects in the library or exited, not {project.status}.",
        )


def _check_figures(body: MonitoringReportCreate) -> None:
    negative = [f for f in (*FIGURES, "credited_tco2e") if getattr(body, f) < 0]
    if body.adaptation_beneficiaries < 0:
        negative.append("adaptation_beneficiaries")
    if negative:
        raise _refuse("negative_figure", "A reported figure cannot be negative.", *negative)
    if all(getattr(body, f) == 0 for f in FIGURES) and body.adaptation_beneficiaries == 0:
        raise _refuse(
            "all_figures_zero",
            "A report states at least one result above zero.",
            *FIGURES,
            "adaptation_beneficiaries",
        )
    if body.credited_tco2e > body.emission_reduction_tco2e + body.carbon_sink_tco2e:
        raise _refuse(
            "credited_above_reported",
            "Credited tonnes are part of the reduction and sink reported, never more.",
            "credited_tco2e",
        )
    if body.credited_tco2e > 0 and body.carbon_credit_scheme is None:
        raise _refuse(
            "credit_scheme_required",
            "Credited tonnes name the scheme they were issued under.",
            "carbon_credit_scheme",
        )


def _check_period(body: MonitoringReportCreate, project: Project) -> None:
    if body.period_end < body.period_start:
        raise _refuse("period_end_before_start", "The period ends before it starts.", "period_end")
    if body.period_end > today():
        raise _refuse("period_in_future", "A report covers a period that has ended.", "period_end")
    if project.start_date is not None and body.period_start < project.start_date:
        raise _refuse(
            "period_before_project_start",
            f"The period starts before the project does ({project.start_date.isoformat()}).",
            "period_start",
        )


def present(report: MonitoringReport) -> MonitoringReportRead:
    return MonitoringReportRead.model_validate(report)


async def submit(
    session: AsyncSession,
    principal: Principal,
    project_id: uuid.UUID,
    body: MonitoringReportCreate,
) -> MonitoringReportRead:
    """File a monitoring report for a period (the project's region)."""
    if principal.is_anonymous:
        raise Unauthorized("Reporting results needs an API key.")
    project = await _project(session, principal, project_id)
    if not projects_repo.can_edit(principal, project.region_code, project.pilot_id):
        raise Forbidden("Only the project's region reports its results.", code="not_project_region")
    _check_project(project)
    _check_figures(body)
    _check_period(body, project)
    if body.document_id is not None:
        document = await documents_repo.get_of_project(session, project.id, body.document_id)
        if document is None:
            raise _refuse(
                "document_not_of_project",
                "The document is not one of this project's.",
                "document_id",
            )
    await repo.lock_project(session, project.id)
    other = await repo.overlapping(session, project.id, body.period_start, body.period_end)
    if other is not None:
        raise _refuse(
            "period_overlap",
            f"The period overlaps report {other.id} ({other.period_start.isoformat()} to "
            f"{other.period_end.isoformat()}, {other.status}).",
            "period_start",
            "period_end",
            overlapping_report_id=str(other.id),
        )
    report = MonitoringReport(
        project_id=project.id,
        created_by=principal.key_id,
        status=ReportStatus.submitted,
        **body.model_dump(),
    )
    await repo.add(session, report)
    shown = present(report)
    await audit.record(
        session,
        audit.event(
            principal,
            "monitoring_report_submit",
            "project",
            project.id,
            changes={
                "monitoring_report": {
                    "before": None,
                    "after": {"id": str(report.id), **audit.json_safe(body.model_dump())},
                }
            },
            from_status=project.status,
            to_status=project.status,
        ),
    )
    return shown


async def list_reports(
    session: AsyncSession,
    principal: Principal,
    project_id: uuid.UUID,
    *,
    cursor: str | None,
    limit: int,
) -> tuple[list[MonitoringReportRead], str | None]:
    """The project's reports the caller may see, by period."""
    await _project(session, principal, project_id)
    rows, after = await repo.list_readable(
        session, principal, project_id, cursor=cursor, limit=limit
    )
    return [present(r) for r in rows], after


ACTIONS = {"verify": ReportStatus.verified, "reject": ReportStatus.rejected}


async def transition(
    session: AsyncSession,
    principal: Principal,
    project_id: uuid.UUID,
    report_id: uuid.UUID,
    body: MonitoringReportTransition,
) -> MonitoringReportRead:
    """Verify a submitted report (its figures join the project's verified results) or reject
    it with a reason (the province's reviewer or the administrator)."""
    if principal.is_anonymous:
        raise Unauthorized("Reviewing a report needs an API key.")
    project = await _project(session, principal, project_id)
    report = await repo.get(session, project.id, report_id)
    if report is None:
        raise NotFound("No such report of this project.", code="monitoring_report_not_found")
    is_reviewer = principal.role is Role.reviewer and project.region_code.startswith(
        principal.region_prefixes
    )
    if not (principal.role is Role.admin or is_reviewer):
        raise Forbidden(
            "Reports are verified by the project's provincial reviewer or the administrator.",
            code="not_your_action",
        )
    if report.status != ReportStatus.submitted:
        raise lifecycle.not_possible(body.action, report.status, [])
    if body.action == "reject":
        lifecycle.ensure_reason(body.action, body.reason)
    target = ACTIONS[body.action]
    now = utcnow()
    if not await repo.decide(
        session, report.id, target, reason=body.reason, reviewer=principal.key_id, at=now
    ):
        # Another reviewer decided it since it was read.
        raise lifecycle.not_possible(body.action, "a decided report", [])
    changes: audit.Changes = {
        "monitoring_report_id": {"before": None, "after": str(report.id)},
        "monitoring_report_status": {"before": ReportStatus.submitted.value, "after": target.value},
    }
    if target is ReportStatus.verified:
        before = await repo.verified_totals(session, project.id)
        await repo.add_verified(
            session,
            project.id,
            reduction=report.emission_reduction_tco2e,
            sink=report.carbon_sink_tco2e,
            saving=report.energy_saving_tce,
            credited=report.credited_tco2e,
            beneficiaries=report.adaptation_beneficiaries,
            days=(report.period_end - report.period_start).days + 1,
        )
        after = await repo.verified_totals(session, project.id)
        changes |= audit.changes(_json(before), _json(after), repo.VERIFIED_COLUMNS)
    await audit.record(
        session,
        audit.event(
            principal,
            f"monitoring_report_{body.action}",
            "project",
            project.id,
            changes=changes,
            from_status=project.status,
            to_status=project.status,
            reason=body.reason,
        ),
    )
    await session.refresh(report)
    return present(report)


def _json(totals: dict[str, Any]) -> dict[str, Any]:
    return {k: f"{Decimal(v):.3f}" if not isinstance(v, int) else v for k, v in totals.items()}
