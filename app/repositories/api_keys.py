"""API key queries: keys are found by the digest of their secret, never by the secret."""

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.models import ApiKey
from app.repositories.pagination import SortKey, next_cursor, paginate

SORT = [SortKey(ApiKey.created_at, kind=datetime), SortKey(ApiKey.id, kind=uuid.UUID)]


async def credentials(session: AsyncSession, digest: str, now: datetime) -> Any | None:
    """What a request runs as, for the key whose current secret, or rotated-out secret still in
    its grace period, has this digest: (id, role, scope, revoked_at, expires_at, last_used_at)."""
    result = await session.execute(
        select(
            ApiKey.id,
            ApiKey.role,
            ApiKey.scope,
            ApiKey.revoked_at,
            ApiKey.expires_at,
            ApiKey.last_used_at,
        ).where(
            or_(
                ApiKey.digest == digest,
                (ApiKey.previous_digest == digest) & (ApiKey.previous_valid_until > now),
            )
        )
    )
    return result.one_or_none()


async def mark_used(
    session: AsyncSession, key_id: uuid.UUID, now: datetime, since: datetime
) -> None:
    """Record a use, unless one after ``since`` is already recorded (another process's)."""
    await session.execute(
        update(ApiKey)
        .where(
            ApiKey.id == key_id,
            or_(ApiKey.last_used_at.is_(None), ApiKey.last_used_at < since),
        )
        .values(last_used_at=now)
    )


async def active_admin_ids(session: AsyncSession, now: datetime) -> list[uuid.UUID]:
    """The admin keys that still work, locked (PostgreSQL) so that two revocations at once cannot
    both see the other's key as the one that remains."""
    stmt = (
        select(ApiKey.id)
        .where(
            ApiKey.role == "admin",
            ApiKey.revoked_at.is_(None),
            or_(ApiKey.expires_at.is_(None), ApiKey.expires_at > now),
        )
        .order_by(ApiKey.id)
        .with_for_update()
    )
    return list((await session.scalars(stmt)).all())


async def exists(session: AsyncSession, digest: str) -> bool:
    stmt = select(ApiKey.id).where(or_(ApiKey.digest == digest, ApiKey.previous_digest == digest))
    return await session.scalar(stmt) is not None


async def get(session: AsyncSession, key_id: uuid.UUID) -> ApiKey | None:
    return await session.get(ApiKey, key_id)


async def add(session: AsyncSession, key: ApiKey) -> None:
    session.add(key)
    await session.flush()


async def page(
    session: AsyncSession, *, cursor: str | None, limit: int, include_revoked: bool
) -> tuple[list[ApiKey], str | None]:
    stmt = select(ApiKey)
    if not include_revoked:
        stmt = stmt.where(ApiKey.revoked_at.is_(None))
    rows = list((await session.scalars(paginate(stmt, SORT, cursor, limit, "created"))).all())
    return rows[:limit], next_cursor(rows, SORT, limit, "created", lambda k: (k.created_at, k.id))
