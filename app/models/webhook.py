"""Webhooks (docs/architecture.md, *Webhooks*): subscriptions, the outbox, deliveries, attempts.

``webhook_outbox`` is written in the transaction of the change it announces, so an event exists
exactly when its change committed. The delivery worker fans each event out to the subscriptions
that may hear it (one ``webhook_deliveries`` row each) and delivers them; every try is an
``webhook_attempts`` row.
"""

import uuid
from datetime import date, datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, BigInteger, Date, ForeignKey, Index, Integer, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column

from app.models.base import Base, Timestamp, UTCDateTime, UUIDPk

# SQLite numbers only an INTEGER PRIMARY KEY from its rowid; PostgreSQL gets a bigint identity.
SerialId = BigInteger().with_variant(Integer(), "sqlite")


class DeliveryStatus(StrEnum):
    pending = "pending"
    succeeded = "succeeded"
    failed = "failed"


class WebhookSubscription(Base):
    """A URL that hears some event types, owned by the key that subscribed it."""

    __tablename__ = "webhook_subscriptions"

    id: Mapped[UUIDPk]
    key_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("api_keys.id"), index=True)
    url: Mapped[str] = mapped_column(String(2048))
    events: Mapped[list[str]] = mapped_column(JSON)
    secret: Mapped[str] = mapped_column(String(100), doc="whsec_… (Standard Webhooks).")
    created_at: Mapped[Timestamp]


class WebhookOutbox(Base):
    """One event, written with the change it announces; ``dispatched_at`` once fanned out.

    ``audience`` holds what decides who may hear it (region code, pilot, institution, the
    importing scope, whether it is public); ``data`` is what subscribers receive.
    """

    __tablename__ = "webhook_outbox"
    __table_args__ = (
        Index(
            "ix_webhook_outbox_waiting",
            "id",
            postgresql_where=text("dispatched_at IS NULL"),
            sqlite_where=text("dispatched_at IS NULL"),
        ),
    )

    id: Mapped[int] = mapped_column(SerialId, primary_key=True, autoincrement=True)
    type: Mapped[str] = mapped_column(String(60))
    at: Mapped[Timestamp]
    data: Mapped[Any] = mapped_column(JSON)
    audience: Mapped[Any] = mapped_column(JSON)
    dispatched_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class WebhookDelivery(Base):
    """One event to one subscription: pending until delivered (2xx) or given up (failed)."""

    __tablename__ = "webhook_deliveries"
    __table_args__ = (
        Index("ix_webhook_deliveries_due", "status", "next_attempt_at"),
        Index("ix_webhook_deliveries_subscription", "subscription_id", "created_at"),
    )

    id: Mapped[UUIDPk]
    subscription_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("webhook_subscriptions.id"))
    event_id: Mapped[int] = mapped_column(SerialId, ForeignKey("webhook_outbox.id"))
    event_type: Mapped[str] = mapped_column(String(60))
    status: Mapped[DeliveryStatus] = mapped_column(String(20), default=DeliveryStatus.pending)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime)
    retry_until: Mapped[datetime] = mapped_column(
        UTCDateTime, doc="Failed tries are retried until then (24 h from the event or a resend)."
    )
    lease_owner: Mapped[str | None] = mapped_column(String(100))
    lease_expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_status_code: Mapped[int | None]
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[Timestamp]
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class WebhookAttempt(Base):
    """One try of a delivery: when, the answer's status code or the error, how long it took."""

    __tablename__ = "webhook_attempts"
    __table_args__ = (Index("ix_webhook_attempts_delivery", "delivery_id", "id"),)

    id: Mapped[int] = mapped_column(SerialId, primary_key=True, autoincrement=True)
    delivery_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("webhook_deliveries.id"))
    at: Mapped[Timestamp]
    status_code: Mapped[int | None]
    error: Mapped[str | None] = mapped_column(Text)
    duration_ms: Mapped[int] = mapped_column(Integer)


class WebhookMatchState(Base):
    """A library project's matching columns when ``match.new`` last looked at it: the next
    change of the project is compared with this to find the products it newly matches."""

    __tablename__ = "webhook_match_state"

    project_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    row: Mapped[Any] = mapped_column(JSON)
    at: Mapped[Timestamp]


class WebhookMatchDay(Base):
    """How far ``match.new`` has announced the starts of products' validity: one row (id 1,
    written by migration 0023). A day's run moves ``checked_through`` in the transaction that
    writes its events, so each day is announced once whichever process gets there first."""

    __tablename__ = "webhook_match_day"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    checked_through: Mapped[date | None] = mapped_column(
        Date, doc="The last day whose starting products were announced; null: never run."
    )
    checked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
