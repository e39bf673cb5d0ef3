"""API key queries: keys are found by the digest of their secret, never by the secret."""

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.models import ApiKey
from app.repositories.pagination import SortKey, next_cursor, paginate

SORT = [SortKey(ApiKey.created_at, kind=datetime), SortKey(ApiKey.id, kind=uuid.UUID)]


async def credentials(session: AsyncSession, digest: str) -> Any | None:
    """What a request runs as, for the key with this digest: (id, role, scope, revoked_at)."""
    result = await session.execute(
        select(ApiKey.id, ApiKey.role, ApiKey.scope, ApiKey.revoked_at).where(
            ApiKey.digest == digest
        )
    )
    return result.one_or_none()


async def exists(session: AsyncSession, digest: str) -> bool:
    return await session.scalar(select(ApiKey.id).where(ApiKey.digest == digest)) is not None


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
