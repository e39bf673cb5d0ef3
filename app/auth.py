"""API key verification and the Principal (role + scope) every request runs as."""

import hashlib
import secrets
import uuid
from dataclasses import dataclass, field
from typing import Annotated, Any

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.ext.asyncio import AsyncSession

from app.db import SessionDep, read_apart
from app.errors import Forbidden, Unauthorized
from app.models import Role
from app.models.base import utcnow
from app.repositories import api_keys as api_keys_repo
from app.repositories import pilots as pilots_repo

KEY_PREFIX = "clk_"
PILOT_SCOPE_PREFIX = "pilot:"


def generate_key() -> str:
    """A new random API key: a recognisable prefix and 256 bits from the OS generator."""
    return KEY_PREFIX + secrets.token_urlsafe(32)


def digest(key: str) -> str:
    # Keys are 256-bit random tokens, so a fast hash is enough: there is nothing to brute-force,
    # and a password hash would cost every request milliseconds.
    return hashlib.sha256(key.encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is calling: a role, its key's scope, and the region codes that scope covers."""

    role: Role | None
    scope: str | None = None
    key_id: uuid.UUID | None = None
    region_prefixes: tuple[str, ...] = field(default=())

    @property
    def is_anonymous(self) -> bool:
        return self.role is None

    @property
    def is_admin(self) -> bool:
        return self.role is Role.admin

    @property
    def institution_id(self) -> uuid.UUID | None:
        if self.role is not Role.institution or self.scope is None:
            return None
        return uuid.UUID(self.scope)

    @property
    def pilot_id(self) -> uuid.UUID | None:
        if self.scope and self.scope.startswith(PILOT_SCOPE_PREFIX):
            return uuid.UUID(self.scope.removeprefix(PILOT_SCOPE_PREFIX))
        return None

    @property
    def identity(self) -> str:
        """Stable name of the caller's role and scope (idempotency keys are scoped to it)."""
        return f"{self.role or 'anonymous'}:{self.scope or ''}"

    def covers_region(self, region_code: str) -> bool:
        """Whether a region code lies within this principal's regional scope (for a pilot key:
        its pilot's full codes)."""
        return any(region_code.startswith(p) for p in self.region_prefixes)


ANONYMOUS = Principal(role=None)


def region_prefixes_of(code: str) -> str:
    """The prefix a region scope covers: 440000 → 44, 440300 → 4403, 440304 → 440304."""
    if code.endswith("0000"):
        return code[:2]
    if code.endswith("00"):
        return code[:4]
    return code


_bearer = HTTPBearer(auto_error=False, description="An API key issued by an administrator.")


async def _key_of(session: AsyncSession, key: str) -> tuple[Any, tuple[str, ...]]:
    """The key's row and the region prefixes its scope covers; 401 for a key that is unknown,
    revoked or expired."""
    now = utcnow()
    row = await api_keys_repo.credentials(session, digest(key), now)
    if row is None or row.revoked_at is not None:
        raise Unauthorized("The API key is unknown or revoked.", code="invalid_api_key")
    if row.expires_at is not None and row.expires_at <= now:
        raise Unauthorized("The API key has expired.", code="api_key_expired")
    role = Role(row.role)
    prefixes: tuple[str, ...] = ()
    if role is Role.reviewer and row.scope:
        prefixes = (row.scope,)
    elif role is Role.region and row.scope:
        if row.scope.startswith(PILOT_SCOPE_PREFIX):
            pilot_id = uuid.UUID(row.scope.removeprefix(PILOT_SCOPE_PREFIX))
            # Full codes only: a project in a code the pilot covers in part is the pilot's key's
            # only by its pilot_id (repositories/reach.py), never by where it lies.
            codes = await pilots_repo.full_codes(session, pilot_id)
            prefixes = tuple(sorted(region_prefixes_of(c) for c in codes))
        else:
            prefixes = (region_prefixes_of(row.scope),)
    return row, prefixes


async def get_principal(
    request: Request,
    session: SessionDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Principal:
    """Turn the request's bearer key into a Principal; no key is the anonymous public."""
    header = request.headers.get("authorization")
    if header is None:
        return ANONYMOUS
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise Unauthorized("Use 'Authorization: Bearer <key>'.", code="invalid_authorization")
    # Read outside a write request's transaction: a caller holds SQLite's write lock only once
    # its request writes, never while it is being identified (or refused).
    async with read_apart(session):
        row, prefixes = await _key_of(session, credentials.credentials)
    usage = getattr(request.app.state, "key_usage", None)
    if usage is not None:
        usage.note(row.id, row.last_used_at)
    principal = Principal(
        role=Role(row.role), scope=row.scope, key_id=row.id, region_prefixes=prefixes
    )
    request.state.principal = principal
    return principal


PrincipalDep = Annotated[Principal, Depends(get_principal)]


def require_roles(*roles: Role) -> object:
    """A dependency that admits only the given roles: 401 for the public, 403 for other roles."""

    async def _check(principal: PrincipalDep) -> Principal:
        if principal.is_anonymous:
            raise Unauthorized("This operation needs an API key.")
        if principal.role not in roles:
            allowed = ", ".join(r.value for r in roles)
            raise Forbidden(f"This operation is for the role(s): {allowed}.", code="wrong_role")
        return principal

    return Depends(_check)


AdminDep = Annotated[Principal, require_roles(Role.admin)]
