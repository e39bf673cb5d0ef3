"""Import jobs: the job document a large import answers with, and its states.

How jobs run: docs/architecture.md, *Import jobs*.
"""

import uuid
from datetime import datetime

from pydantic import Field

from app.models import ImportStatus
from app.schemas.batch import BatchSummary
from app.schemas.common import OutputModel


class ImportJobRead(OutputModel):
    """An import running (or run) as a job: its state, progress and where its results are."""

    id: uuid.UUID
    status: ImportStatus = Field(
        description="queued, running, succeeded, failed or cancelled.", examples=["running"]
    )
    filename: str | None = Field(description="The uploaded file's name, as sent.")
    rows_total: int = Field(description="Project rows in the file (below the header).")
    rows_done: int = Field(
        description="Rows imported so far, in committed chunks of at most 1,000; a cancelled "
        "job's rows up to here stay imported."
    )
    summary: BatchSummary = Field(description="How many of the rows done ended in each status.")
    cancel_requested: bool = Field(
        description="A cancel was asked for; a running job stops before its next chunk."
    )
    attempts: int = Field(
        description="How many times a worker took the job up (more than 1: it resumed after "
        "its worker stopped)."
    )
    failure: str | None = Field(description="Why a failed job failed.")
    created_by: uuid.UUID | None = Field(description="The id of the key that submitted it.")
    created_at: datetime
    updated_at: datetime
    started_at: datetime | None = Field(description="When a worker first took it up.")
    finished_at: datetime | None = Field(description="When it succeeded, failed or was cancelled.")
    results_url: str = Field(description="Its per-row results (paged JSON, or ?format=csv).")
