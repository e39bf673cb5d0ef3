"""Climate investment and financing pilots (气候投融资试点), the codes they cover, their history."""

import uuid
from datetime import datetime
from enum import StrEnum

from sqlalchemy import Boolean, ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from app.models.base import Base, Timestamp, UTCDateTime, UUIDPk, db_now


class PilotKind(StrEnum):
    national_new_area = "national_new_area"
    prefecture_city = "prefecture_city"
    district = "district"


class PilotStatus(StrEnum):
    applying = "applying"
    provincial_review = "provincial_review"
    approved = "approved"
    accepted = "accepted"
    disqualified = "disqualified"


class Pilot(Base):
    """A designated pilot; its identity is its own id, since new areas have no region code."""

    __tablename__ = "pilots"
    # The same place may apply again in a later batch, so a name is unique per batch only.
    __table_args__ = (
        UniqueConstraint("name", "batch"),
        Index("ix_pilots_province_name", "province_code", "name", "id"),
    )

    id: Mapped[UUIDPk]
    name: Mapped[str] = mapped_column(String(200))
    kind: Mapped[PilotKind] = mapped_column(String(20))
    province_code: Mapped[str] = mapped_column(String(2))
    batch: Mapped[int | None]
    status: Mapped[PilotStatus] = mapped_column(String(20), default=PilotStatus.applying)
    designation_ref: Mapped[str | None] = mapped_column(
        String(300), doc="The document that designated the pilot, e.g. 环气候函〔2022〕50号."
    )
    work_plan_ref: Mapped[str | None] = mapped_column(String(300), doc="工作方案")
    implementation_plan_ref: Mapped[str | None] = mapped_column(String(300), doc="实施方案")
    created_at: Mapped[Timestamp]
    # Stamped by the database on every write, read back with RETURNING (see Project.updated_at).
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=db_now(), onupdate=db_now())

    __mapper_args__ = {"eager_defaults": True}


class PilotRegion(Base):
    """A GB/T 2260 code a pilot covers; a new area covers several, some only in part."""

    __tablename__ = "pilot_regions"

    pilot_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("pilots.id", ondelete="CASCADE"), primary_key=True
    )
    region_code: Mapped[str] = mapped_column(String(6), primary_key=True, index=True)
    is_partial: Mapped[bool] = mapped_column(
        Boolean,
        default=False,
        doc="The pilot covers only part of this region (its own boundary has no code).",
    )


class PilotTransition(Base):
    """One status change of a pilot: who, when, from, to, why."""

    __tablename__ = "pilot_transitions"

    id: Mapped[UUIDPk]
    pilot_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("pilots.id", ondelete="CASCADE"), index=True
    )
    action: Mapped[str] = mapped_column(String(20))
    from_status: Mapped[str] = mapped_column(String(20))
    to_status: Mapped[str] = mapped_column(String(20))
    reason: Mapped[str | None] = mapped_column(Text)
    actor_role: Mapped[str] = mapped_column(String(20))
    actor_key_id: Mapped[uuid.UUID | None]
    at: Mapped[Timestamp]
