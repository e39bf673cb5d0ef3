"""Issuing, listing and revoking API keys: one role and one scope each."""

import re
import uuid
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from app.auth import PILOT_SCOPE_PREFIX, Principal, digest, generate_key
from app.errors import Conflict, NotFound, RuleViolation, field_error
from app.models import ApiKey, Role
from app.models.base import utcnow
from app.reference.regions import RegionLevel, region_table
from app.repositories import api_keys as repo
from app.repositories import institutions as institutions_repo
from app.repositories import pilots as pilots_repo
from app.schemas.api_key import ApiKeyCreate, ApiKeyCreated, ApiKeyRead, ApiKeyRotate
from app.schemas.common import Page
from app.services import audit

_SCOPE_LOC = ["body", "scope"]
CONSOLE = Principal(role=Role.admin, scope="console")
"""Who acts when keys are made or revoked from the command line or at start-up (bootstrap): the
operator, with the database's own rights, recorded in the audit trail under this scope."""


def _bad_scope(message: str) -> RuleViolation:
    return RuleViolation(
        message, code="invalid_scope", errors=[field_error(_SCOPE_LOC, "invalid_scope", message)]
    )


async def _check_scope(session: AsyncSession, role: Role, scope: str | None) -> None:
    if role is Role.admin:
        if scope:
            raise _bad_scope("An admin key has no scope.")
        return
    if not scope:
        raise _bad_scope(f"A {role.value} key needs a scope.")
    if role is Role.reviewer:
        region = region_table().get(scope + "0000") if re.fullmatch(r"\d{2}", scope) else None
        if region is None or region.level is not RegionLevel.province:
            raise _bad_scope("A reviewer's scope is a 2-digit province code, e.g. 44.")
    elif role is Role.region:
        if scope.startswith(PILOT_SCOPE_PREFIX):
            pilot_id = _uuid_or_none(scope.removeprefix(PILOT_SCOPE_PREFIX))
            if pilot_id is None or await pilots_repo.get(session, pilot_id) is None:
                raise _bad_scope("No pilot with that id.")
        elif not region_table().is_current(scope):
            raise _bad_scope("A region's scope is a current GB/T 2260 code or pilot:<id>.")
    elif role is Role.institution:
        institution_id = _uuid_or_none(scope)
        if institution_id is None or await institutions_repo.get(session, institution_id) is None:
            raise _bad_scope("An institution's scope is the id of an existing institution.")


def _uuid_or_none(text: str) -> uuid.UUID | None:
    try:
        return uuid.UUID(text)
    except ValueError:
        return None


async def create(
    session: AsyncSession,
    *,
    name: str,
    role: Role,
    scope: str | None,
    created_by: uuid.UUID | None = None,
    key: str | None = None,
    expires_at: datetime | None = None,
    actor: Principal = CONSOLE,
) -> tuple[ApiKey, str]:
    """Issue a key; the secret is returned here and never again."""
    await _check_scope(session, role, scope)
    if expires_at is not None and expires_at <= utcnow():
        message = "A key's expiry must lie in the future."
        raise RuleViolation(
            message,
            code="expiry_in_past",
            errors=[field_error(["body", "expires_at"], "expiry_in_past", message)],
        )
    secret = key or generate_key()
    record = ApiKey(
        name=name,
        role=role,
        scope=scope,
        prefix=secret[:12],
        digest=digest(secret),
        created_by=created_by,
        expires_at=expires_at,
    )
    await repo.add(session, record)
    values = {"role": role.value, "scope": scope, "name": name, "expires_at": expires_at}
    await _audit(session, actor, "create", record, values)
    return record, secret


async def _audit(
    session: AsyncSession,
    actor: Principal,
    action: str,
    record: ApiKey,
    values: dict[str, Any] | None = None,
) -> None:
    # A key's event never holds its secret, nor anything derived from it.
    changes = {k: {"before": None, "after": audit.json_safe(v)} for k, v in (values or {}).items()}
    await audit.record(session, audit.event(actor, action, "api_key", record.id, changes=changes))


async def issue(session: AsyncSession, admin: Principal, body: ApiKeyCreate) -> ApiKeyCreated:
    """Issue the key an administrator asked for; the answer carries the secret, once."""
    record, secret = await create(
        session,
        name=body.name,
        role=body.role,
        scope=body.scope,
        created_by=admin.key_id,
        expires_at=body.expires_at,
        actor=admin,
    )
    return _created(record, secret)


def _created(record: ApiKey, secret: str) -> ApiKeyCreated:
    return ApiKeyCreated(**ApiKeyRead.model_validate(record).model_dump(), key=secret)


async def _working(session: AsyncSession, key_id: uuid.UUID) -> ApiKey:
    record = await repo.get(session, key_id)
    if record is None:
        raise NotFound("No API key with that id.")
    if record.revoked_at is not None:
        raise Conflict("The key is revoked; issue a new one.", code="api_key_revoked")
    if record.expires_at is not None and record.expires_at <= utcnow():
        raise Conflict("The key has expired; issue a new one.", code="api_key_expired")
    return record


async def rotate(
    session: AsyncSession, principal: Principal, key_id: uuid.UUID, body: ApiKeyRotate
) -> ApiKeyCreated:
    """A new secret for a working key; the old one keeps working for ``grace_hours``."""
    record = await _working(session, key_id)
    secret = generate_key()
    if body.grace_hours:
        record.previous_digest = record.digest
        record.previous_valid_until = utcnow() + timedelta(hours=body.grace_hours)
    else:
        record.previous_digest = None
        record.previous_valid_until = None
    record.digest = digest(secret)
    record.prefix = secret[:12]
    await session.flush()
    await _audit(session, principal, "rotate", record, {"grace_hours": body.grace_hours})
    return _created(record, secret)


async def ensure_bootstrap_admin(session: AsyncSession, key: str) -> None:
    """Register the container's bootstrap admin key once (idempotent across restarts)."""
    if not await repo.exists(session, digest(key)):
        await create(session, name="bootstrap admin", role=Role.admin, scope=None, key=key)


async def list_keys(
    session: AsyncSession, *, cursor: str | None, limit: int, include_revoked: bool
) -> Page[ApiKeyRead]:
    """A page of keys, oldest first; the revoked ones only when asked."""
    rows, next_cursor = await repo.page(
        session, cursor=cursor, limit=limit, include_revoked=include_revoked
    )
    return Page[ApiKeyRead](
        items=[ApiKeyRead.model_validate(r) for r in rows], next_cursor=next_cursor
    )


async def revoke(session: AsyncSession, principal: Principal, key_id: uuid.UUID) -> None:
    """Revoke a key (again: nothing changes); 404 for an unknown id."""
    record = await repo.get(session, key_id)
    if record is None:
        raise NotFound("No API key with that id.")
    if record.revoked_at is not None:
        return
    now = utcnow()
    if record.role == Role.admin and await repo.active_admin_ids(session, now) == [record.id]:
        raise Conflict(
            "This is the last working admin key: issue another admin key before revoking it.",
            code="last_admin_key",
        )
    record.revoked_at = now
    await _audit(session, principal, "revoke", record)
