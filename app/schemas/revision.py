"""Revisions of library projects (项目变更): the review step asked for, and the revision read."""

import uuid
from datetime import datetime
from enum import StrEnum
from typing import Any

from pydantic import Field

from app.models.revision import RevisionStatus
from app.schemas.common import InputModel, OutputModel
from app.schemas.project_transition import ScreeningRecord


class RevisionAction(StrEnum):
    recommend = "recommend"
    approve = "approve"
    return_ = "return"
    reject = "reject"


class RevisionStep(InputModel):
    reason: str | None = Field(
        default=None,
        max_length=2000,
        description="Why; required for return and reject.",
        examples=["The new capacity figures need a source."],
    )


class RevisionRead(OutputModel):
    """Screening fields a region proposes for a library project, and where their review is.

    The project stays in the library with its approved fields until the revision is approved.
    """

    id: uuid.UUID = Field(description="Revision id.")
    project_id: uuid.UUID = Field(description="The library project it revises.")
    status: RevisionStatus = Field(
        description="submitted, recommended (open), approved, returned or rejected (closed)."
    )
    fields: dict[str, Any] = Field(
        description="The proposed values of the changed fields, in the project's input shape; "
        "the contact never appears here."
    )
    screening: ScreeningRecord | None = Field(
        default=None, description="The 两高 screening of the project with the proposed fields."
    )
    reason: str | None = Field(description="The reason given by the last review step.")
    created_at: datetime = Field(description="When it was opened.")
    decided_at: datetime | None = Field(description="When it was approved, returned or rejected.")
