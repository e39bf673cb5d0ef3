"""API keys (one role, one scope each), stored as SHA-256 digests of the random token."""

import uuid
from datetime import datetime
from enum import StrEnum

from sqlalchemy import String
from sqlalchemy.orm import Mapped, mapped_column

from app.models.base import Base, Timestamp, UUIDPk


class Role(StrEnum):
    admin = "admin"
    reviewer = "reviewer"
    region = "region"
    institution = "institution"


class ApiKey(Base):
    __tablename__ = "api_keys"

    id: Mapped[UUIDPk]
    name: Mapped[str] = mapped_column(String(200))
    role: Mapped[Role] = mapped_column(String(20))
    scope: Mapped[str | None] = mapped_column(String(64))
    prefix: Mapped[str] = mapped_column(
        String(16), doc="First characters, to recognise a key in lists."
    )
    digest: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[Timestamp]
    revoked_at: Mapped[datetime | None]
    created_by: Mapped[uuid.UUID | None]
    expires_at: Mapped[datetime | None] = mapped_column(doc="The key stops working then.")
    last_used_at: Mapped[datetime | None] = mapped_column(
        doc="When the key was last seen; recorded at most every few minutes, not per request."
    )
    previous_digest: Mapped[str | None] = mapped_column(
        String(64), unique=True, index=True, doc="The secret before the last rotation."
    )
    previous_valid_until: Mapped[datetime | None] = mapped_column(
        doc="The end of the rotated-out secret's grace period."
    )
