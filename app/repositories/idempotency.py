"""Idempotency records: one per (caller, key), claimed in the request's own transaction and
completed there with the answer, so that the claim lasts exactly as long as that transaction.
The rules of what a record answers are in ``app.idempotency``."""

import hashlib
import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import Table, delete, func, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from app.ids import new_id
from app.models import IdempotencyRecord
from app.models.base import utcnow


def _lock_id(identity: str, key: str) -> int:
    """The key's advisory lock number: 64 bits of a digest, so that two keys in flight at once
    practically never share one (if they did, one would answer a needless 409)."""
    digest = hashlib.blake2b(f"{identity}\n{key}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


async def try_lock(session: AsyncSession, identity: str, key: str) -> bool:
    """Hold the key until the session's transaction ends, unless another transaction holds it.

    On PostgreSQL a transaction-level advisory lock, taken without waiting: it goes when its
    transaction goes, whether by commit, rollback, a dropped connection or a killed process. On
    SQLite the caller's write transaction already shuts out every other writer.
    """
    if session.get_bind().dialect.name != "postgresql":
        return True
    locked = await session.execute(select(func.pg_try_advisory_xact_lock(_lock_id(identity, key))))
    return bool(locked.scalar_one())


async def find(session: AsyncSession, identity: str, key: str) -> IdempotencyRecord | None:
    result = await session.execute(
        select(IdempotencyRecord).where(
            IdempotencyRecord.principal == identity, IdempotencyRecord.key == key
        )
    )
    return result.scalar_one_or_none()


async def claim(
    session: AsyncSession, identity: str, key: str, request_hash: str
) -> uuid.UUID | None:
    """Insert the claim unless a record for the key exists already: the new id, or None."""
    table = IdempotencyRecord.__table__
    assert isinstance(table, Table)  # noqa: S101 - narrows the type for insert()
    insert = postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert
    inserted = await session.execute(
        insert(table)
        .values(
            id=new_id(),
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
    """Re-claim an abandoned record for this request, unless another request took it first."""
    taken = await session.execute(
        update(IdempotencyRecord)
        .where(
            IdempotencyRecord.id == record.id,
            IdempotencyRecord.created_at == record.created_at,
            IdempotencyRecord.completed_at.is_(None),
        )
        .values(created_at=utcnow(), request_hash=request_hash)
        .returning(IdempotencyRecord.id)
    )
    return taken.scalar_one_or_none() is not None


async def complete(
    session: AsyncSession, record_id: uuid.UUID, status_code: int, response_body: Any
) -> None:
    await session.execute(
        update(IdempotencyRecord)
        .where(IdempotencyRecord.id == record_id)
        .values(status_code=status_code, response_body=response_body, completed_at=utcnow())
    )


async def purge(session: AsyncSession, created_before: datetime) -> int:
    """Delete the records made before the cutoff (stored answers may carry contact data)."""
    deleted = await session.execute(
        delete(IdempotencyRecord).where(IdempotencyRecord.created_at < created_before)
    )
    return int(getattr(deleted, "rowcount", 0) or 0)
