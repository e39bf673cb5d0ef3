"""Webhook queries: whose subscriptions a key sees, the outbox, claiming due deliveries.

A subscription exists for the key that made it and for administrators; for anyone else it does
not (404). Deliveries are claimed like import jobs: on PostgreSQL the due rows are taken
``FOR UPDATE SKIP LOCKED``; on both databases the claim is an UPDATE conditional on the row still
being due and unleased, which only one writer can win (SQLite has one writer at a time). A claim
is a lease: a worker that dies holding one leaves it to run out, and the delivery is taken again.
The outbox is read ``FOR UPDATE SKIP LOCKED`` in the transaction that fans it out, so an event
is fanned out once, by whoever holds it, or not at all if that transaction rolls back.
"""

import uuid
from collections.abc import Sequence
from datetime import date, datetime
from typing import Any

from sqlalchemy import ColumnElement, and_, delete, func, or_, select, true, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.auth import Principal
from app.models import (
    ApiKey,
    DeliveryStatus,
    WebhookAttempt,
    WebhookDelivery,
    WebhookMatchDay,
    WebhookOutbox,
    WebhookSubscription,
)
from app.repositories.pagination import SortKey, next_cursor, paginate


def _owned(principal: Principal) -> ColumnElement[bool]:
    if principal.is_admin:
        return true()
    return WebhookSubscription.key_id == principal.key_id


async def get_readable(
    session: AsyncSession, principal: Principal, webhook_id: uuid.UUID
) -> WebhookSubscription | None:
    stmt = select(WebhookSubscription).where(
        WebhookSubscription.id == webhook_id, _owned(principal)
    )
    return (await session.execute(stmt)).scalar_one_or_none()


_SUB_KEYS = (
    SortKey(WebhookSubscription.created_at, kind=datetime),
    SortKey(WebhookSubscription.id, kind=uuid.UUID),
)


async def page(
    session: AsyncSession, principal: Principal, cursor: str | None, limit: int
) -> tuple[list[WebhookSubscription], str | None]:
    stmt = paginate(
        select(WebhookSubscription).where(_owned(principal)), _SUB_KEYS, cursor, limit, "created"
    )
    rows = list((await session.execute(stmt)).scalars())
    following = next_cursor(rows, _SUB_KEYS, limit, "created", lambda s: [s.created_at, s.id])
    return rows[:limit], following


async def remove(session: AsyncSession, webhook_id: uuid.UUID) -> None:
    """A subscription with its deliveries and their tries."""
    deliveries = select(WebhookDelivery.id).where(WebhookDelivery.subscription_id == webhook_id)
    await session.execute(delete(WebhookAttempt).where(WebhookAttempt.delivery_id.in_(deliveries)))
    await session.execute(
        delete(WebhookDelivery).where(WebhookDelivery.subscription_id == webhook_id)
    )
    await session.execute(delete(WebhookSubscription).where(WebhookSubscription.id == webhook_id))


_DELIVERY_KEYS = (
    SortKey(WebhookDelivery.created_at, kind=datetime),
    SortKey(WebhookDelivery.id, kind=uuid.UUID),
)


async def deliveries_page(
    session: AsyncSession, webhook_id: uuid.UUID, cursor: str | None, limit: int
) -> tuple[list[WebhookDelivery], dict[uuid.UUID, list[WebhookAttempt]], str | None]:
    """One page of a subscription's deliveries, oldest first, with each one's tries."""
    stmt = paginate(
        select(WebhookDelivery).where(WebhookDelivery.subscription_id == webhook_id),
        _DELIVERY_KEYS,
        cursor,
        limit,
        "created",
    )
    rows = list((await session.execute(stmt)).scalars())
    following = next_cursor(rows, _DELIVERY_KEYS, limit, "created", lambda d: [d.created_at, d.id])
    rows = rows[:limit]
    tries: dict[uuid.UUID, list[WebhookAttempt]] = {d.id: [] for d in rows}
    if rows:
        found = await session.execute(
            select(WebhookAttempt)
            .where(WebhookAttempt.delivery_id.in_(list(tries)))
            .order_by(WebhookAttempt.id)
        )
        for attempt in found.scalars():
            tries[attempt.delivery_id].append(attempt)
    return rows, tries, following


async def get_delivery(
    session: AsyncSession, webhook_id: uuid.UUID, delivery_id: uuid.UUID
) -> WebhookDelivery | None:
    stmt = (
        select(WebhookDelivery)
        .where(WebhookDelivery.id == delivery_id, WebhookDelivery.subscription_id == webhook_id)
        .with_for_update()
    )
    return (await session.execute(stmt)).scalar_one_or_none()


async def attempts_of(session: AsyncSession, delivery_id: uuid.UUID) -> list[WebhookAttempt]:
    found = await session.execute(
        select(WebhookAttempt)
        .where(WebhookAttempt.delivery_id == delivery_id)
        .order_by(WebhookAttempt.id)
    )
    return list(found.scalars())


# --- the outbox ----------------------------------------------------------------------------------

# PostgreSQL: writers hold this advisory lock shared from the moment they ask which event types
# anyone subscribes to until they commit; a new subscription takes it exclusively before its own
# commit. So a writer that found no listener for its events commits before the subscription
# does, and every writer after that sees it. SQLite needs none: writers hold the one write lock.
_SUBSCRIPTIONS_LOCK = 0x77686F6F6B737562  # "whooksub"


def _postgres(session: AsyncSession) -> bool:
    return session.get_bind().dialect.name == "postgresql"


async def lock_subscriptions(session: AsyncSession) -> None:
    """Wait for the writers that already looked at the subscriptions (and hold off new ones
    until this transaction ends): a subscription made now hears every event committed after."""
    if _postgres(session):
        await session.execute(select(func.pg_advisory_xact_lock(_SUBSCRIPTIONS_LOCK)))


async def subscribed_types(session: AsyncSession, now: datetime) -> set[str]:
    """The event types some subscription of a working key listens to, as of this transaction,
    kept until it ends (see ``_SUBSCRIPTIONS_LOCK``)."""
    if _postgres(session):
        await session.execute(select(func.pg_advisory_xact_lock_shared(_SUBSCRIPTIONS_LOCK)))
    found = await session.execute(
        select(WebhookSubscription.events)
        .join(ApiKey, ApiKey.id == WebhookSubscription.key_id)
        .where(_working_key(now))
    )
    return {type_ for (events,) in found.all() for type_ in events}


async def enqueue(session: AsyncSession, rows: Sequence[dict[str, Any]]) -> None:
    """Write events into the outbox (in the caller's transaction)."""
    if rows:
        await session.execute(WebhookOutbox.__table__.insert(), list(rows))  # type: ignore[attr-defined]


async def take_waiting(session: AsyncSession, limit: int) -> list[WebhookOutbox]:
    """The oldest events not yet fanned out, locked for this transaction (others skip them)."""
    found = await session.execute(
        select(WebhookOutbox)
        .where(WebhookOutbox.dispatched_at.is_(None))
        .order_by(WebhookOutbox.id)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    return list(found.scalars())


async def next_waiting_hold(session: AsyncSession, event_type: str, limit: int) -> bool:
    """Whether the next ``limit`` events to fan out hold one of ``event_type`` (a read, no
    lock)."""
    waiting = (
        select(WebhookOutbox.type)
        .where(WebhookOutbox.dispatched_at.is_(None))
        .order_by(WebhookOutbox.id)
        .limit(limit)
        .subquery()
    )
    found = await session.execute(
        select(waiting.c.type).where(waiting.c.type == event_type).limit(1)
    )
    return found.first() is not None


async def has_waiting(session: AsyncSession, now: datetime) -> bool:
    """Whether any event waits to be fanned out or any delivery is due (a read, no lock)."""
    event = await session.execute(
        select(WebhookOutbox.id).where(WebhookOutbox.dispatched_at.is_(None)).limit(1)
    )
    if event.first() is not None:
        return True
    due = await session.execute(select(WebhookDelivery.id).where(_due(now)).limit(1))
    return due.first() is not None


def _working_key(now: datetime) -> ColumnElement[bool]:
    return and_(
        ApiKey.revoked_at.is_(None), or_(ApiKey.expires_at.is_(None), ApiKey.expires_at > now)
    )


async def listeners(session: AsyncSession, now: datetime) -> list[tuple[WebhookSubscription, Any]]:
    """Every subscription whose key still works, with the key's role and scope."""
    found = await session.execute(
        select(WebhookSubscription, ApiKey.role, ApiKey.scope)
        .join(ApiKey, ApiKey.id == WebhookSubscription.key_id)
        .where(_working_key(now))
    )
    return [(row[0], (row[1], row[2])) for row in found.all()]


# --- the day's match.new run --------------------------------------------------------------------

_DAY_ROW = 1  # webhook_match_day holds one row (migration 0023)


async def day_checked(session: AsyncSession) -> date | None:
    """The last day whose starting products were announced (a read, no lock)."""
    found = await session.scalar(
        select(WebhookMatchDay.checked_through).where(WebhookMatchDay.id == _DAY_ROW)
    )
    return found


async def take_day(session: AsyncSession) -> WebhookMatchDay | None:
    """The day row, locked until this transaction ends; None while another process's run holds
    it (PostgreSQL skips the locked row; on SQLite the caller already holds the write lock)."""
    found = await session.execute(
        select(WebhookMatchDay)
        .where(WebhookMatchDay.id == _DAY_ROW)
        .with_for_update(skip_locked=True)
    )
    return found.scalar_one_or_none()


# --- deliveries ----------------------------------------------------------------------------------


def _due(now: datetime) -> ColumnElement[bool]:
    return and_(
        WebhookDelivery.status == DeliveryStatus.pending,
        WebhookDelivery.next_attempt_at <= now,
        or_(WebhookDelivery.lease_expires_at.is_(None), WebhookDelivery.lease_expires_at < now),
    )


async def add_deliveries(session: AsyncSession, rows: Sequence[dict[str, Any]]) -> None:
    if rows:
        await session.execute(WebhookDelivery.__table__.insert(), list(rows))  # type: ignore[attr-defined]


async def claim(
    session: AsyncSession, owner: str, now: datetime, lease_until: datetime, limit: int
) -> list[uuid.UUID]:
    """Lease up to ``limit`` due deliveries to ``owner``; the ids it won."""
    candidates = await session.execute(
        select(WebhookDelivery.id)
        .where(_due(now))
        .order_by(WebhookDelivery.next_attempt_at, WebhookDelivery.id)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    ids = list(candidates.scalars())
    if not ids:
        return []
    taken = await session.execute(
        update(WebhookDelivery)
        .where(WebhookDelivery.id.in_(ids), _due(now))
        .values(lease_owner=owner, lease_expires_at=lease_until)
        .returning(WebhookDelivery.id)
    )
    return list(taken.scalars())


async def claimed(
    session: AsyncSession, ids: Sequence[uuid.UUID]
) -> list[tuple[WebhookDelivery, WebhookSubscription, WebhookOutbox]]:
    found = await session.execute(
        select(WebhookDelivery, WebhookSubscription, WebhookOutbox)
        .join(WebhookSubscription, WebhookSubscription.id == WebhookDelivery.subscription_id)
        .join(WebhookOutbox, WebhookOutbox.id == WebhookDelivery.event_id)
        .where(WebhookDelivery.id.in_(list(ids)))
    )
    return [(row[0], row[1], row[2]) for row in found.all()]


async def settle(
    session: AsyncSession, delivery_id: uuid.UUID, owner: str, values: dict[str, Any]
) -> bool:
    """Write a try's outcome if ``owner`` still holds the lease; whether it did."""
    done = await session.execute(
        update(WebhookDelivery)
        .where(WebhookDelivery.id == delivery_id, WebhookDelivery.lease_owner == owner)
        .values(lease_owner=None, lease_expires_at=None, **values)
        .returning(WebhookDelivery.id)
    )
    return done.scalar_one_or_none() is not None
