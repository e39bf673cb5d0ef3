"""Climate investment and financing pilots (气候投融资试点) and the codes they cover.

Their history (status steps, edits of the codes) is a view of the audit store (app/models/audit.py).
"""

import uuid
from datetime import date, datetime
from enum import StrEnum

from sqlalchemy import ForeignKey, Index, String, UniqueConstraint
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


class PilotCoverage(StrEnum):
    """How much of a code a pilot covers: a new area often covers districts only in part."""

    full = "full"
    partial = "partial"


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
    """A GB/T 2260 code a pilot covers, fully or in part, from ``valid_from`` to ``valid_to``
    (inclusive days; null is open): divisions change, and a pilot's codes with them."""

    __tablename__ = "pilot_regions"

    pilot_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("pilots.id", ondelete="CASCADE"), primary_key=True
    )
    region_code: Mapped[str] = mapped_column(String(6), primary_key=True, index=True)
    coverage: Mapped[PilotCoverage] = mapped_column(
        String(10),
        default=PilotCoverage.full,
        doc="partial: the pilot covers only part of this region (its own boundary has no code).",
    )
    valid_from: Mapped[date | None]
    valid_to: Mapped[date | None]

    @property
    def is_partial(self) -> bool:
        return self.coverage == PilotCoverage.partial
