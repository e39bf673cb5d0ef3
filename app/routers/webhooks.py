"""Webhooks: subscribe a URL to events, list and remove subscriptions, follow and re-send
deliveries (docs/architecture.md, *Webhooks*)."""

import uuid
from datetime import timedelta
from typing import Annotated

from fastapi import APIRouter, Query, Request, Response

from app import idempotency
from app.auth import PrincipalDep
from app.db import SessionDep
from app.errors import responses
from app.schemas.common import DEFAULT_LIMIT, MAX_LIMIT, Page
from app.schemas.webhook import DeliveryRead, WebhookCreate, WebhookCreated, WebhookRead
from app.services import webhooks

router = APIRouter(prefix="/api/v1/webhooks", tags=["webhooks"])


@router.post(
    "",
    status_code=201,
    response_model=WebhookCreated,
    operation_id="create_webhook",
    summary="Subscribe a URL to events",
    responses=responses(401, 409, 422),
)
async def create_webhook(
    body: WebhookCreate,
    request: Request,
    session: SessionDep,
    principal: PrincipalDep,
    once: idempotency.SecretOnceDep,
) -> WebhookCreated:
    """Subscribe a URL for the caller's key; it hears only the events that key could read. The
    signing secret is in this answer only (a retry with the same Idempotency-Key answers 409
    secret_not_replayable and subscribes nothing more). A URL that is not http(s) or whose host
    resolves to a private, loopback or link-local address is refused (422
    ``webhook_url_not_allowed``)."""
    allow = request.app.state.settings.webhook_allow_private
    # Before the first write (the Idempotency-Key's claim): the host's lookup may be slow.
    vetted = await webhooks.vet(principal, body, allow_private=allow)
    return await once(
        body.model_dump(mode="json"), 201, lambda: webhooks.create(session, principal, vetted)
    )


@router.get(
    "",
    response_model=Page[WebhookRead],
    operation_id="list_webhooks",
    summary="List webhooks",
    responses=responses(400, 401),
)
async def list_webhooks(
    session: SessionDep,
    principal: PrincipalDep,
    cursor: str | None = None,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = DEFAULT_LIMIT,
) -> Page[WebhookRead]:
    """The caller's key's subscriptions, oldest first (an administrator's: all of them)."""
    return await webhooks.page(session, principal, cursor, limit)


@router.get(
    "/{webhook_id}",
    response_model=WebhookRead,
    operation_id="get_webhook",
    summary="Get a webhook",
    responses=responses(401, 404),
)
async def get_webhook(
    webhook_id: uuid.UUID, session: SessionDep, principal: PrincipalDep
) -> WebhookRead:
    """One subscription of the caller's key (an administrator: any)."""
    return WebhookRead.model_validate(await webhooks.load(session, principal, webhook_id))


@router.delete(
    "/{webhook_id}",
    status_code=204,
    operation_id="delete_webhook",
    summary="Delete a webhook",
    responses=responses(401, 404),
)
async def delete_webhook(
    webhook_id: uuid.UUID, session: SessionDep, principal: PrincipalDep
) -> Response:
    """Remove a subscription with its deliveries; nothing more is sent to it."""
    await webhooks.delete(session, principal, webhook_id)
    return Response(status_code=204)


@router.get(
    "/{webhook_id}/deliveries",
    response_model=Page[DeliveryRead],
    operation_id="list_webhook_deliveries",
    summary="List a webhook's deliveries",
    responses=responses(400, 401, 404),
)
async def list_webhook_deliveries(
    webhook_id: uuid.UUID,
    session: SessionDep,
    principal: PrincipalDep,
    cursor: str | None = None,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = DEFAULT_LIMIT,
) -> Page[DeliveryRead]:
    """Each event sent to the subscription, oldest first: its status and every try (when, the
    answer's status code or the error, how long it took)."""
    return await webhooks.deliveries(session, principal, webhook_id, cursor, limit)


@router.post(
    "/{webhook_id}/deliveries/{delivery_id}/resend",
    status_code=202,
    response_model=DeliveryRead,
    operation_id="resend_webhook_delivery",
    summary="Re-send a delivery",
    responses=responses(401, 404),
)
async def resend_webhook_delivery(
    webhook_id: uuid.UUID,
    delivery_id: uuid.UUID,
    request: Request,
    session: SessionDep,
    principal: PrincipalDep,
) -> DeliveryRead:
    """Send the delivery again, with the same webhook-id and body, retried as a new one would
    be; it is pending until the receiver answers 2xx."""
    window = timedelta(seconds=request.app.state.settings.webhook_retry_window_s)
    return await webhooks.resend(session, principal, webhook_id, delivery_id, retry_window=window)
