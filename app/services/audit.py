"""The audit trail (docs/architecture.md, *Audit trail*): every write appends an event here.

``record`` is the one way in. An event names the actor (key id, role, scope), the action, the
object and the request (the request id of app/observability.py), and what changed as
``{field: {"before": …, "after": …}}`` in JSON values; private fields (a contact) appear only
as ``{"changed": true}``. Events are appended in the writer's transaction, so an event exists
exactly when its write committed.
"""

import uuid
from collections.abc import Iterable, Mapping
from datetime import date, datetime
from decimal import Decimal
from enum import Enum
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from app.auth import Principal
from app.errors import Forbidden, Unauthorized
from app.models import Role
from app.models.base import utcnow
from app.observability import request_id_var
from app.repositories import audit as repo
from app.schemas.audit import AuditHead

Changes = dict[str, dict[str, Any]]


def json_safe(value: Any) -> Any:
    """A value as JSON holds it: decimals as strings, dates ISO, enums by value."""
    if isinstance(value, Enum):
        return json_safe(value.value)
    if isinstance(value, Decimal | uuid.UUID):
        return str(value)
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Mapping):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [json_safe(v) for v in value]
    if hasattr(value, "model_dump"):
        return value.model_dump(mode="json")
    return value


def changes(
    before: Mapping[str, Any],
    after: Mapping[str, Any],
    fields: Iterable[str],
    *,
    private: frozenset[str] = frozenset(),
) -> Changes:
    """The fields among ``fields`` whose value differs, before and after (private ones only
    as changed)."""
    out: Changes = {}
    for name in sorted(fields):
        old, new = before.get(name), after.get(name)
        if old == new:
            continue
        out[name] = (
            {"changed": True}
            if name in private
            else {"before": json_safe(old), "after": json_safe(new)}
        )
    return out


def event(
    principal: Principal,
    action: str,
    object_type: str,
    object_id: uuid.UUID,
    *,
    changes: Changes | None = None,
    from_status: str | None = None,
    to_status: str | None = None,
    reason: str | None = None,
    screening: Any = None,
    at: datetime | None = None,
) -> dict[str, Any]:
    """One event's column values (its id is given by the database when it is appended)."""
    return {
        "at": at or utcnow(),
        "actor_key_id": principal.key_id,
        "actor_role": principal.role.value if principal.role else "anonymous",
        "actor_scope": principal.scope,
        "action": action,
        "object_type": object_type,
        "object_id": object_id,
        "request_id": request_id_var.get(),
        "from_status": None if from_status is None else str(from_status),
        "to_status": None if to_status is None else str(to_status),
        "reason": reason,
        "screening": screening,
        "changes": changes or None,
    }


async def record(session: AsyncSession, *events: dict[str, Any]) -> None:
    """Append events (made by ``event``) to the store, in this order."""
    await repo.append(session, events)


async def head(session: AsyncSession, principal: Principal) -> AuditHead:
    """The latest link of the chain, for any key: it reveals a hash and a count of writes, and
    whoever records it outside the database should need no more than the least of keys."""
    if principal.is_anonymous:
        raise Unauthorized("The audit head needs an API key.")
    seal = await repo.head(session)
    if seal is None:
        return AuditHead(event_id=None, hash=None, algorithm=None, sealed_at=None)
    return AuditHead(
        event_id=seal.event_id, hash=seal.hash, algorithm=seal.algorithm, sealed_at=seal.sealed_at
    )


async def events(
    session: AsyncSession,
    principal: Principal,
    *,
    object_id: uuid.UUID | None,
    actor_key_id: uuid.UUID | None,
    since: datetime | None,
    cursor: str | None,
    limit: int,
) -> tuple[list[Any], str | None]:
    """The audit trail as ``principal`` may read it: the administrator everything, a reviewer
    its province's projects, a region (or pilot) key the projects it holds; nobody else."""
    if principal.is_anonymous:
        raise Unauthorized("The audit trail needs an API key.")
    if principal.role not in (Role.admin, Role.reviewer, Role.region):
        raise Forbidden("The audit trail is for administrators, reviewers and regions.")
    return await repo.page(
        session,
        principal,
        object_id=object_id,
        actor_key_id=actor_key_id,
        since=since,
        cursor=cursor,
        limit=limit,
    )
