"""Monitoring reports (MRV): results reported per period, verified by reviewers."""

import uuid
from typing import Annotated

from fastapi import APIRouter, Query

from app import idempotency
from app.auth import PrincipalDep
from app.db import SessionDep
from app.errors import responses
from app.openapi import KEY_OPTIONAL
from app.schemas.common import DEFAULT_LIMIT, MAX_LIMIT, Page
from app.schemas.monitoring import (
    MonitoringReportCreate,
    MonitoringReportRead,
    MonitoringReportTransition,
)
from app.services import monitoring

router = APIRouter(prefix="/api/v1", tags=["monitoring"])


@router.post(
    "/projects/{project_id}/monitoring-reports",
    status_code=201,
    response_model=MonitoringReportRead,
    operation_id="create_monitoring_report",
    summary="Report a project's results for a period",
    responses=responses(401, 403, 404, 409, 422),
)
async def create_monitoring_report(
    project_id: uuid.UUID,
    body: MonitoringReportCreate,
    session: SessionDep,
    principal: PrincipalDep,
    once: idempotency.CreateOnceDep,
) -> MonitoringReportRead:
    """File the results a library or exited project delivered over a period (its region)."""
    return await once(
        body,
        MonitoringReportRead,
        lambda: monitoring.submit(session, principal, project_id, body),
        f"/api/v1/projects/{project_id}/monitoring-reports",
    )


@router.get(
    "/projects/{project_id}/monitoring-reports",
    response_model=Page[MonitoringReportRead],
    openapi_extra=KEY_OPTIONAL,
    operation_id="list_monitoring_reports",
    summary="List a project's monitoring reports",
    responses=responses(400, 401, 404),
)
async def list_monitoring_reports(
    project_id: uuid.UUID,
    session: SessionDep,
    principal: PrincipalDep,
    cursor: str | None = None,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = DEFAULT_LIMIT,
) -> Page[MonitoringReportRead]:
    """The project's reports by period: all of them for its region, reviewer and the
    administrator, the verified ones for everyone else who reads the project."""
    items, after = await monitoring.list_reports(
        session, principal, project_id, cursor=cursor, limit=limit
    )
    return Page[MonitoringReportRead](items=items, next_cursor=after)


@router.post(
    "/projects/{project_id}/monitoring-reports/{report_id}/transitions",
    response_model=MonitoringReportRead,
    operation_id="review_monitoring_report",
    summary="Verify or reject a monitoring report",
    responses=responses(401, 403, 404, 409, 422),
)
async def review_monitoring_report(
    project_id: uuid.UUID,
    report_id: uuid.UUID,
    body: MonitoringReportTransition,
    session: SessionDep,
    principal: PrincipalDep,
) -> MonitoringReportRead:
    """verify (its figures join the project's verified results) or reject (reason required)."""
    return await monitoring.transition(session, principal, project_id, report_id, body)
