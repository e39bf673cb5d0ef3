"""Revisions of library projects (项目变更): a screening change reviewed while the project stays
in the library with its approved fields (docs/architecture.md, *Revisions*)."""

import uuid
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column

from app.models.base import Base, Timestamp, UUIDPk


class RevisionStatus(StrEnum):
    submitted = "submitted"
    recommended = "recommended"
    approved = "approved"
    returned = "returned"
    rejected = "rejected"


OPEN_REVISION = "status IN ('submitted', 'recommended')"


class ProjectRevision(Base):
    """The fields a region proposes to change in a library project, and where their review is.

    ``fields`` holds the proposed values of the changed fields in the input's JSON shape; at most
    one revision of a project is open (submitted or recommended) at a time, which a partial
    unique index guarantees under concurrent writers too.
    """

    __tablename__ = "project_revisions"
    __table_args__ = (
        Index(
            "uq_project_revisions_open",
            "project_id",
            unique=True,
            postgresql_where=text(OPEN_REVISION),
            sqlite_where=text(OPEN_REVISION),
        ),
    )

    id: Mapped[UUIDPk]
    project_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("projects.id", ondelete="CASCADE"), index=True
    )
    status: Mapped[str] = mapped_column(String(12))
    fields: Mapped[dict[str, Any]] = mapped_column(JSON)
    screening: Mapped[Any] = mapped_column(JSON, nullable=True)
    reason: Mapped[str | None] = mapped_column(Text)
    created_by: Mapped[uuid.UUID | None]
    created_at: Mapped[Timestamp]
    decided_at: Mapped[datetime | None]
