"""The audit trail: every write the service has taken, as its readers may see it."""

import uuid
from typing import Annotated

from fastapi import APIRouter, Query

from app.auth import PrincipalDep
from app.db import SessionDep
from app.errors import responses
from app.routers.query_types import Instant
from app.schemas.audit import AuditEventRead, AuditHead
from app.schemas.common import DEFAULT_LIMIT, MAX_LIMIT, Page
from app.services import audit

router = APIRouter(prefix="/api/v1/audit", tags=["audit"])


@router.get(
    "",
    response_model=Page[AuditEventRead],
    operation_id="list_audit_events",
    summary="The audit trail",
    responses=responses(400, 401, 403, 422),
)
async def list_audit_events(
    session: SessionDep,
    principal: PrincipalDep,
    object_id: Annotated[uuid.UUID | None, Query(description="Only this object's events.")] = None,
    actor_key_id: Annotated[
        uuid.UUID | None, Query(description="Only the events of this key.")
    ] = None,
    since: Annotated[Instant | None, Query(description="Only events at or after this.")] = None,
    cursor: Annotated[str | None, Query(description="next_cursor of the previous page.")] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = DEFAULT_LIMIT,
) -> Page[AuditEventRead]:
    """Every write, oldest first: who (key id, role, scope), when, what, to which object, in
    which request, and what changed. The administrator reads everything; a reviewer the events
    of its province's projects; a region the events of its own projects."""
    rows, next_cursor = await audit.events(
        session,
        principal,
        object_id=object_id,
        actor_key_id=actor_key_id,
        since=since,
        cursor=cursor,
        limit=limit,
    )
    return Page[AuditEventRead](
        items=[AuditEventRead.model_validate(r) for r in rows], next_cursor=next_cursor
    )


@router.get(
    "/head",
    response_model=AuditHead,
    operation_id="get_audit_head",
    summary="The latest link of the audit chain",
    responses=responses(401),
)
async def get_audit_head(session: SessionDep, principal: PrincipalDep) -> AuditHead:
    """The latest sealed event's id and its link's hash, algorithm and sealing time, for any key:
    record it outside the database; `climatelib audit verify` then proves the trail up to it is
    unchanged. Events are sealed within about a second of their commit."""
    return await audit.head(session, principal)
