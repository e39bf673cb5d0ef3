"""The audit store (docs/architecture.md, *Audit trail*): one append-only row per write.

Project and pilot history are views of it (the events whose object is the project or pilot),
not second records. The database refuses UPDATE and DELETE on the table (a trigger on both
PostgreSQL and SQLite, created by migration 0011), so an event once committed stays as it was
written. ``audit_seals`` links the committed events into a hash chain (app/services/audit_chain.py),
append-only in the same way (migration 0014).
"""

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from app.models.base import Base, UTCDateTime, utcnow

# SQLite numbers only an INTEGER PRIMARY KEY from its rowid; PostgreSQL gets a bigint identity.
EventId = BigInteger().with_variant(Integer(), "sqlite")


class AuditEvent(Base):
    """Who (key id, role, scope) did what (action) to which object, when, in which request,
    and what changed (``{field: {"before": …, "after": …}}``; contacts only ``{"changed": true}``).

    Lifecycle steps also keep the status before and after, the reason and, on the steps that
    screen (create, submit, resubmit, revision steps), the 两高 screening they saw.
    """

    __tablename__ = "audit_events"
    __table_args__ = (Index("ix_audit_events_object", "object_id", "id"),)

    id: Mapped[int] = mapped_column(EventId, primary_key=True, autoincrement=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    actor_key_id: Mapped[uuid.UUID | None]
    actor_role: Mapped[str] = mapped_column(String(20))
    actor_scope: Mapped[str | None] = mapped_column(String(64))
    action: Mapped[str] = mapped_column(String(40))
    object_type: Mapped[str] = mapped_column(String(20))
    object_id: Mapped[uuid.UUID]
    request_id: Mapped[str | None] = mapped_column(String(100))
    from_status: Mapped[str | None] = mapped_column(String(20))
    to_status: Mapped[str | None] = mapped_column(String(20))
    reason: Mapped[str | None] = mapped_column(Text)
    screening: Mapped[Any] = mapped_column(JSON(none_as_null=True), nullable=True)
    changes: Mapped[Any] = mapped_column(JSON(none_as_null=True), nullable=True)


class AuditSeal(Base):
    """One link of the chain: ``hash = H(previous link's hash + the event's canonical JSON)``,
    written by the sealer after the event committed, in id order (app/services/audit_chain.py).
    An id with no seal below the head is an event that never committed (a rolled-back insert)."""

    __tablename__ = "audit_seals"

    event_id: Mapped[int] = mapped_column(EventId, primary_key=True, autoincrement=False)
    hash: Mapped[str] = mapped_column(String(64))
    algorithm: Mapped[str] = mapped_column(String(10))
    sealed_at: Mapped[datetime] = mapped_column(UTCDateTime)
