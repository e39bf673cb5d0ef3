"""Project documents (项目文件): a file a region attaches to a project, public or restricted.

The row keeps what was checked on upload (the media type found in the content, the size, the
SHA-256 of the bytes); the bytes themselves live in the document store (app/storage.py) under
``storage_key``.
"""

import uuid
from enum import StrEnum

from sqlalchemy import BigInteger, ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from app.models.base import Base, Timestamp, UUIDPk


class DocumentType(StrEnum):
    feasibility_study = "feasibility_study"  # 可行性研究报告
    eia_approval = "eia_approval"  # 环评批复
    energy_review = "energy_review"  # 节能审查意见
    verification_report = "verification_report"  # 核查报告
    plan = "plan"  # 规划、方案
    other = "other"


class DocumentVisibility(StrEnum):
    public = "public"  # anyone who may read the project
    restricted = "restricted"  # the project's region, reviewer, admin, institutions accepted


class Document(Base):
    __tablename__ = "documents"
    __table_args__ = (Index("ix_documents_project_created", "project_id", "created_at", "id"),)

    id: Mapped[UUIDPk]
    project_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"))
    type: Mapped[DocumentType] = mapped_column(String(30))
    visibility: Mapped[DocumentVisibility] = mapped_column(String(12))
    filename: Mapped[str] = mapped_column(String(255))
    media_type: Mapped[str] = mapped_column(String(100))
    size_bytes: Mapped[int] = mapped_column(BigInteger)
    sha256: Mapped[str] = mapped_column(String(64))
    storage_key: Mapped[str] = mapped_column(String(200))
    created_by: Mapped[uuid.UUID | None]
    created_at: Mapped[Timestamp]
