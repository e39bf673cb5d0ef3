"""Pilots (气候投融资试点): anyone reads; administrators register them and move them along."""

import uuid
from typing import Annotated

from fastapi import APIRouter, Query, Response

from app import idempotency
from app.auth import AdminDep, PrincipalDep
from app.db import SessionDep
from app.errors import responses
from app.models.pilot import PilotKind, PilotStatus
from app.openapi import KEY_OPTIONAL
from app.routers.query_types import (
    UPDATED_SINCE_DOC,
    UPDATED_UNTIL_DOC,
    Instant,
    updated_until_header,
)
from app.schemas.common import DEFAULT_LIMIT, MAX_LIMIT, Page
from app.schemas.pilot import (
    PilotCodesReplace,
    PilotCreate,
    PilotRead,
    PilotTransitionCreate,
    PilotTransitionRead,
    PilotUpdate,
)
from app.schemas.stats import Period, PilotEvaluation
from app.services import pilots, stats

router = APIRouter(prefix="/api/v1", tags=["pilots"])

Limit = Annotated[int, Query(ge=1, le=MAX_LIMIT, description="Page size.")]


@router.get(
    "/pilots",
    openapi_extra=KEY_OPTIONAL,
    response_model=Page[PilotRead],
    operation_id="list_pilots",
    summary="List pilots",
    responses={200: {"headers": UPDATED_UNTIL_DOC}, **responses(400, 401, 422)},
)
async def list_pilots(
    response: Response,
    session: SessionDep,
    _principal: PrincipalDep,
    status: Annotated[PilotStatus | None, Query(description="Only pilots in this status.")] = None,
    province: Annotated[
        str | None, Query(pattern=r"^\d{2}$", description="2-digit province code.")
    ] = None,
    kind: Annotated[PilotKind | None, Query(description="Only pilots of this kind.")] = None,
    batch: Annotated[int | None, Query(ge=1, le=100, description="Designation batch.")] = None,
    updated_since: Annotated[Instant | None, Query(description=UPDATED_SINCE_DOC)] = None,
    cursor: Annotated[str | None, Query(description="next_cursor of the previous page.")] = None,
    limit: Limit = DEFAULT_LIMIT,
) -> Page[PilotRead]:
    """List pilots by province and name, with the codes each covers."""
    page, until = await pilots.list_pilots(
        session,
        status=status,
        province=province,
        kind=kind,
        batch=batch,
        updated_since=updated_since,
        cursor=cursor,
        limit=limit,
    )
    response.headers.update(updated_until_header(until))
    return page


@router.post(
    "/pilots",
    status_code=201,
    response_model=PilotRead,
    operation_id="create_pilot",
    summary="Register a pilot",
    responses=responses(401, 403, 409, 422),
)
async def create_pilot(
    body: PilotCreate,
    session: SessionDep,
    admin: AdminDep,
    once: idempotency.CreateOnceDep,
) -> PilotRead:
    """Register a pilot in status applying with the current GB/T 2260 codes it covers."""
    return await once(
        body, PilotRead, lambda: pilots.create(session, admin, body), "/api/v1/pilots"
    )


@router.get(
    "/pilots/{pilot_id}",
    openapi_extra=KEY_OPTIONAL,
    response_model=PilotRead,
    operation_id="get_pilot",
    summary="Get a pilot",
    responses=responses(401, 404),
)
async def get_pilot(
    pilot_id: uuid.UUID, session: SessionDep, _principal: PrincipalDep
) -> PilotRead:
    """Get one pilot with the codes it covers and the actions its status allows."""
    return await pilots.get(session, pilot_id)


@router.patch(
    "/pilots/{pilot_id}",
    response_model=PilotRead,
    operation_id="update_pilot",
    summary="Update a pilot's references or codes",
    responses=responses(401, 403, 404, 422),
)
async def update_pilot(
    pilot_id: uuid.UUID, body: PilotUpdate, session: SessionDep, admin: AdminDep
) -> PilotRead:
    """Set the plan references or replace the codes the pilot covers; omitted fields stay."""
    return await pilots.update(session, admin, pilot_id, body)


@router.put(
    "/pilots/{pilot_id}/codes",
    response_model=PilotRead,
    operation_id="replace_pilot_codes",
    summary="Replace a pilot's codes",
    responses=responses(401, 403, 404, 422),
)
async def replace_pilot_codes(
    pilot_id: uuid.UUID, body: PilotCodesReplace, session: SessionDep, admin: AdminDep
) -> PilotRead:
    """Replace the codes a pilot covers, with coverage and validity; the edit enters its history."""
    return await pilots.replace_codes(session, admin, pilot_id, body)


@router.post(
    "/pilots/{pilot_id}/transitions",
    response_model=PilotRead,
    operation_id="transition_pilot",
    summary="Move a pilot through its designation process",
    responses=responses(401, 403, 404, 409, 422),
)
async def transition_pilot(
    pilot_id: uuid.UUID, body: PilotTransitionCreate, session: SessionDep, admin: AdminDep
) -> PilotRead:
    """Apply submit, approve, accept or disqualify; other steps answer 409 with the allowed ones."""
    return await pilots.transition(session, admin, pilot_id, body)


@router.get(
    "/pilots/{pilot_id}/history",
    openapi_extra=KEY_OPTIONAL,
    response_model=Page[PilotTransitionRead],
    operation_id="list_pilot_history",
    summary="A pilot's history",
    responses=responses(400, 401, 404),
)
async def list_pilot_history(
    pilot_id: uuid.UUID,
    session: SessionDep,
    _principal: PrincipalDep,
    cursor: Annotated[str | None, Query(description="next_cursor of the previous page.")] = None,
    limit: Limit = DEFAULT_LIMIT,
) -> Page[PilotTransitionRead]:
    """List the pilot's status changes and code edits, oldest first: who, when, what, why."""
    return await pilots.history(session, pilot_id, cursor=cursor, limit=limit)


@router.get(
    "/pilots/{pilot_id}/evaluation",
    openapi_extra=KEY_OPTIONAL,
    response_model=PilotEvaluation,
    operation_id="get_pilot_evaluation",
    summary="Evaluation figures of a pilot",
    responses=responses(401, 404, 422),
)
async def get_pilot_evaluation(
    pilot_id: uuid.UUID,
    session: SessionDep,
    principal: PrincipalDep,
    period: Annotated[
        Period, Query(description="Granularity of the per-period figures (by approval date).")
    ] = Period.quarter,
) -> PilotEvaluation:
    """Evaluation figures (定期评估) computed from the projects the caller may read."""
    return await stats.evaluate_pilot(session, principal, pilot_id, period)
