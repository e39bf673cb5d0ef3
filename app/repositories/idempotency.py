"""Idempotency records: one per (caller, key), claimed before the work and completed with its
answer. The claim's transaction is the caller's (see ``app.idempotency``)."""

import uuid
from typing import Any

from sqlalchemy import Table, delete, select, update
from sqlalchemy.dialects import postgresql
from sqlalchemy.ext.asyncio import AsyncSession

from app.models import IdempotencyRecord
from app.models.base import utcnow


async def find(session: AsyncSession, identity: str, key: str) -> IdempotencyRecord | None:
    result = await session.execute(
        select(IdempotencyRecord).where(
            IdempotencyRecord.principal == identity, IdempotencyRecord.key == key
        )
    )
    return result.scalar_one_or_none()


async def claim_if_new(
    session: AsyncSession, identity: str, key: str, request_hash: str
) -> uuid.UUID | None:
    """Insert the claim unless the key is already claimed (PostgreSQL); the new id, or None."""
    table = IdempotencyRecord.__table__
    assert isinstance(table, Table)  # noqa: S101 - narrows the type for insert()
    inserted = await session.execute(
        postgresql.insert(table)
        .values(
            id=uuid.uuid4(),
            principal=identity,
            key=key,
            request_hash=request_hash,
            created_at=utcnow(),
        )
        .on_conflict_do_nothing(index_elements=[table.c.principal, table.c.key])
        .returning(table.c.id)
    )
    claimed: uuid.UUID | None = inserted.scalar_one_or_none()
    return claimed


async def take_over(session: AsyncSession, record: IdempotencyRecord, request_hash: str) -> bool:
    """Re-claim an abandoned record for a new request, unless another retry took it first."""
    taken = await session.execute(
        update(IdempotencyRecord)
        .where(
            IdempotencyRecord.id == record.id,
            IdempotencyRecord.created_at == record.created_at,
        )
        .values(created_at=utcnow(), request_hash=request_hash)
        .returning(IdempotencyRecord.id)
    )
    return taken.scalar_one_or_none() is not None


async def claim(
    session: AsyncSession,
    identity: str,
    key: str,
    request_hash: str,
    *,
    replacing: IdempotencyRecord | None = None,
) -> uuid.UUID:
    """Claim the key in the session's transaction (SQLite), replacing an abandoned record."""
    if replacing is not None:
        await session.delete(replacing)
        await session.flush()
    record = IdempotencyRecord(principal=identity, key=key, request_hash=request_hash)
    session.add(record)
    await session.flush()
    return record.id


async def release(session: AsyncSession, record_id: uuid.UUID) -> None:
    """Drop a claim that was never completed, so a retry runs the request again."""
    await session.execute(
        delete(IdempotencyRecord).where(
            IdempotencyRecord.id == record_id, IdempotencyRecord.completed_at.is_(None)
        )
    )


async def complete(
    session: AsyncSession, record_id: uuid.UUID, status_code: int, response_body: Any
) -> None:
    await session.execute(
        update(IdempotencyRecord)
        .where(IdempotencyRecord.id == record_id)
        .values(status_code=status_code, response_body=response_body, completed_at=utcnow())
    )
