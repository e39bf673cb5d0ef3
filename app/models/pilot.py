"""Climate investment and financing pilots (气候投融资试点) and the region codes they cover."""

import uuid
from enum import StrEnum

from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from app.models.base import Base, Timestamp, UUIDPk


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
    __tablename__ = "pilots"

    id: Mapped[UUIDPk]
    name: Mapped[str] = mapped_column(String(200))
    kind: Mapped[PilotKind] = mapped_column(String(20))
    province_code: Mapped[str] = mapped_column(String(2))
    batch: Mapped[int | None]
    status: Mapped[PilotStatus] = mapped_column(String(20), default=PilotStatus.applying)
    created_at: Mapped[Timestamp]


class PilotRegion(Base):
    """A GB/T 2260 code a pilot covers; a new area covers several, some only in part."""

    __tablename__ = "pilot_regions"

    pilot_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("pilots.id", ondelete="CASCADE"), primary_key=True
    )
    region_code: Mapped[str] = mapped_column(String(6), primary_key=True, index=True)
