"""Import jobs (导入任务): a spreadsheet larger than one batch, imported chunk by chunk.

The job row holds the state and progress; the upload is kept in ``import_uploads`` in parts of
about 1 MB (every process reads it from the database, none from its own disk); each row's
outcome is one ``import_results`` row. How jobs are claimed, leased and resumed:
docs/architecture.md, *Import jobs*.
"""

import uuid
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, Integer, LargeBinary, String
from sqlalchemy.orm import Mapped, mapped_column

from app.models.base import Base, Timestamp, UUIDPk


class ImportStatus(StrEnum):
    queued = "queued"
    running = "running"
    succeeded = "succeeded"
    failed = "failed"
    cancelled = "cancelled"


FINISHED = frozenset({ImportStatus.succeeded, ImportStatus.failed, ImportStatus.cancelled})


class ImportJob(Base):
    __tablename__ = "import_jobs"
    __table_args__ = (Index("ix_import_jobs_status_lease", "status", "lease_expires_at"),)

    id: Mapped[UUIDPk]
    status: Mapped[ImportStatus] = mapped_column(String(10))
    source_scope: Mapped[str] = mapped_column(String(64), doc="The importing region key's scope.")
    region_prefixes: Mapped[list[str]] = mapped_column(
        JSON, doc="The region codes the importing key covered when it submitted the job."
    )
    created_by: Mapped[uuid.UUID | None] = mapped_column(doc="The importing key's id.")
    filename: Mapped[str | None] = mapped_column(String(255))
    content_type: Mapped[str | None] = mapped_column(String(255))
    file_sha256: Mapped[str] = mapped_column(String(64))
    file_bytes: Mapped[int] = mapped_column(Integer)
    rows_total: Mapped[int] = mapped_column(Integer)
    rows_done: Mapped[int] = mapped_column(Integer, default=0)
    created: Mapped[int] = mapped_column(Integer, default=0)
    updated: Mapped[int] = mapped_column(Integer, default=0)
    unchanged: Mapped[int] = mapped_column(Integer, default=0)
    error: Mapped[int] = mapped_column(Integer, default=0)
    cancel_requested: Mapped[bool] = mapped_column(default=False)
    attempts: Mapped[int] = mapped_column(Integer, default=0, doc="Times a worker claimed it.")
    lease_owner: Mapped[str | None] = mapped_column(String(100))
    lease_expires_at: Mapped[datetime | None]
    failure: Mapped[str | None] = mapped_column(String(500), doc="Why a failed job failed.")
    created_at: Mapped[Timestamp]
    updated_at: Mapped[Timestamp]
    started_at: Mapped[datetime | None]
    finished_at: Mapped[datetime | None]
    upload_purged_at: Mapped[datetime | None]


class ImportUpload(Base):
    """One part of a job's uploaded file, in order.

    Stored before the job row (``services.import_jobs.stage``), so ``job_id`` is no foreign key:
    parts whose job was never created are removed by housekeeping once ``staged_at`` is old."""

    __tablename__ = "import_uploads"

    job_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    part: Mapped[int] = mapped_column(Integer, primary_key=True)
    data: Mapped[bytes] = mapped_column(LargeBinary)
    staged_at: Mapped[datetime | None]


class ImportResult(Base):
    """What became of one row of a job's file (the batch's per-item result)."""

    __tablename__ = "import_results"

    job_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("import_jobs.id", ondelete="CASCADE"), primary_key=True
    )
    index: Mapped[int] = mapped_column(Integer, primary_key=True)
    row: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(10))
    project_id: Mapped[uuid.UUID | None]
    external_ref: Mapped[str | None] = mapped_column(doc="As sent (unchecked for an error row).")
    problem: Mapped[Any | None] = mapped_column(JSON)
