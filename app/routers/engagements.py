"""Offers and the financing funnel: institutions offer, regions choose, institutions report."""

import uuid
from typing import Annotated

from fastapi import APIRouter, Query, Request

from app import idempotency
from app.auth import PrincipalDep, require_roles
from app.db import SessionDep
from app.errors import responses
from app.models import EngagementStatus, Role
from app.schemas.common import DEFAULT_LIMIT, MAX_LIMIT, Page
from app.schemas.engagement import (
    EngagementCreate,
    EngagementRead,
    EngagementTransition,
    PaymentCreate,
    PaymentRead,
)
from app.services import engagements, payments

router = APIRouter(prefix="/api/v1", tags=["engagements"])


@router.post(
    "/engagements",
    status_code=201,
    response_model=EngagementRead,
    operation_id="create_engagement",
    summary="Make an offer on a library project",
    responses=responses(401, 403, 404, 409, 422),
    dependencies=[require_roles(Role.institution)],  # type: ignore[list-item]
)
async def create_engagement(
    body: EngagementCreate,
    session: SessionDep,
    principal: PrincipalDep,
    once: idempotency.CreateOnceDep,
) -> EngagementRead:
    """Offer terms on a library project that one of the caller's active products matches."""
    return await once(
        body,
        EngagementRead,
        lambda: engagements.create(session, principal, body),
        "/api/v1/engagements",
    )


@router.get(
    "/engagements",
    response_model=Page[EngagementRead],
    operation_id="list_engagements",
    summary="List engagements",
    responses=responses(400, 401),
)
async def list_engagements(
    session: SessionDep,
    principal: PrincipalDep,
    project_id: uuid.UUID | None = None,
    product_id: uuid.UUID | None = None,
    status: EngagementStatus | None = None,
    cursor: str | None = None,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = DEFAULT_LIMIT,
) -> Page[EngagementRead]:
    """List the caller's engagements: an institution its offers, a region those on its projects."""
    return await engagements.list_engagements(
        session,
        principal,
        project_id=project_id,
        product_id=product_id,
        status=status,
        cursor=cursor,
        limit=limit,
    )


@router.get(
    "/engagements/{engagement_id}",
    response_model=EngagementRead,
    operation_id="get_engagement",
    summary="Get an engagement",
    responses=responses(401, 404),
)
async def get_engagement(
    engagement_id: uuid.UUID, session: SessionDep, principal: PrincipalDep
) -> EngagementRead:
    """Get one engagement the caller is party to."""
    return await engagements.get(session, principal, engagement_id)


@router.post(
    "/engagements/{engagement_id}/transitions",
    response_model=EngagementRead,
    operation_id="transition_engagement",
    summary="Accept, decline or report on an offer",
    responses=responses(401, 403, 404, 409, 422),
)
async def transition_engagement(
    engagement_id: uuid.UUID,
    body: EngagementTransition,
    request: Request,
    session: SessionDep,
    principal: PrincipalDep,
) -> EngagementRead:
    """Take a funnel step: accept/decline (region); contact … financed (institution)."""
    return await engagements.transition(
        session,
        principal,
        engagement_id,
        body,
        contact_deadline_days=request.app.state.settings.contact_deadline_days,
    )


@router.post(
    "/engagements/{engagement_id}/disbursements",
    status_code=201,
    response_model=PaymentRead,
    operation_id="create_disbursement",
    summary="Record a disbursement (放款) or repayment",
    responses=responses(401, 403, 404, 409, 422),
    dependencies=[require_roles(Role.institution)],  # type: ignore[list-item]
)
async def create_disbursement(
    engagement_id: uuid.UUID,
    body: PaymentCreate,
    session: SessionDep,
    principal: PrincipalDep,
    once: idempotency.CreateOnceDep,
) -> PaymentRead:
    """Money paid out under the signed contract (``kind`` disbursement, the default) or paid
    back (``kind`` repayment), recorded by the offering institution on a financed engagement.

    Disbursements never add up to more than the signed amount, repayments never to more than
    was disbursed (422); an engagement not financed answers 409.
    """
    return await once(
        body,
        PaymentRead,
        lambda: payments.record(session, principal, engagement_id, body),
        f"/api/v1/engagements/{engagement_id}/disbursements",
    )


@router.get(
    "/engagements/{engagement_id}/disbursements",
    response_model=Page[PaymentRead],
    operation_id="list_disbursements",
    summary="List an engagement's disbursements and repayments",
    responses=responses(400, 401, 404),
)
async def list_disbursements(
    engagement_id: uuid.UUID,
    session: SessionDep,
    principal: PrincipalDep,
    cursor: Annotated[str | None, Query(description="next_cursor of the previous page.")] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = DEFAULT_LIMIT,
) -> Page[PaymentRead]:
    """Every disbursement and repayment of the engagement, in the order recorded."""
    return await payments.list_payments(
        session, principal, engagement_id, cursor=cursor, limit=limit
    )


@router.get(
    "/engagements/{engagement_id}/disbursements/{payment_id}",
    response_model=PaymentRead,
    operation_id="get_disbursement",
    summary="Get a disbursement or repayment",
    responses=responses(401, 404),
)
async def get_disbursement(
    engagement_id: uuid.UUID, payment_id: uuid.UUID, session: SessionDep, principal: PrincipalDep
) -> PaymentRead:
    """One disbursement or repayment of an engagement the caller is party to."""
    return await payments.get(session, principal, engagement_id, payment_id)
