"""API keys: issued, listed and revoked by administrators."""

import uuid
from typing import Annotated

from fastapi import APIRouter, Query, Response

from app import idempotency
from app.auth import AdminDep
from app.db import SessionDep
from app.errors import responses
from app.schemas.api_key import ApiKeyCreate, ApiKeyCreated, ApiKeyRead, ApiKeyRotate
from app.schemas.common import DEFAULT_LIMIT, MAX_LIMIT, Page
from app.services import api_keys

router = APIRouter(prefix="/api/v1/api-keys", tags=["api-keys"])


@router.post(
    "",
    status_code=201,
    response_model=ApiKeyCreated,
    operation_id="create_api_key",
    summary="Issue an API key",
    responses=responses(401, 403, 409, 422),
)
async def create_api_key(
    body: ApiKeyCreate, session: SessionDep, admin: AdminDep, once: idempotency.SecretOnceDep
) -> ApiKeyCreated:
    """Issue a key with one role and one scope; the secret is in this answer only (a retry with
    the same Idempotency-Key answers 409 secret_not_replayable, never the secret again)."""
    return await once(
        body.model_dump(mode="json"), 201, lambda: api_keys.issue(session, admin, body)
    )


@router.get(
    "",
    response_model=Page[ApiKeyRead],
    operation_id="list_api_keys",
    summary="List API keys",
    responses=responses(400, 401, 403),
)
async def list_api_keys(
    session: SessionDep,
    _admin: AdminDep,
    cursor: str | None = None,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = DEFAULT_LIMIT,
    include_revoked: bool = False,
) -> Page[ApiKeyRead]:
    """List keys, newest last; the secrets are never listed."""
    return await api_keys.list_keys(
        session, cursor=cursor, limit=limit, include_revoked=include_revoked
    )


@router.delete(
    "/{key_id}",
    status_code=204,
    operation_id="revoke_api_key",
    summary="Revoke an API key",
    responses=responses(401, 403, 404, 409),
)
async def revoke_api_key(key_id: uuid.UUID, session: SessionDep, admin: AdminDep) -> Response:
    """Revoke a key; requests with it answer 401 from now on. The last working admin key cannot
    be revoked (409 ``last_admin_key``): the service would have no administrator left."""
    await api_keys.revoke(session, admin, key_id)
    return Response(status_code=204)


@router.post(
    "/{key_id}/rotate",
    response_model=ApiKeyCreated,
    operation_id="rotate_api_key",
    summary="Rotate an API key's secret",
    responses=responses(401, 403, 404, 409, 422),
)
async def rotate_api_key(
    key_id: uuid.UUID,
    session: SessionDep,
    admin: AdminDep,
    once: idempotency.SecretOnceDep,
    body: ApiKeyRotate | None = None,
) -> ApiKeyCreated:
    """Issue a new secret for the key (same id, role and scope); the old secret keeps working for
    the grace period, so a deployment can switch without an outage. The new secret is in this
    answer only (a retry with the same Idempotency-Key answers 409 secret_not_replayable)."""
    rotate = body or ApiKeyRotate()
    return await once(
        rotate.model_dump(mode="json"), 200, lambda: api_keys.rotate(session, admin, key_id, rotate)
    )
