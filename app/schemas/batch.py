"""Bulk exchange: the batch upsert's request and the per-item answer.

How a batch is decided and written: docs/architecture.md, *Bulk exchange*.
"""

import uuid
from enum import StrEnum
from typing import Annotated, Any

from pydantic import Field, WithJsonSchema

from app.errors import Problem
from app.schemas.common import InputModel, OutputModel

MAX_BATCH = 1000
_COMPONENTS = "#/components/schemas/"


class BatchRequest(InputModel):
    """Up to 1,000 projects to create or update by their ``external_ref``."""

    # Documented as ProjectCreate but validated item by item by the service: one bad item is that
    # item's error, not a 422 for the whole batch.
    items: list[Annotated[Any, WithJsonSchema({"$ref": f"{_COMPONENTS}ProjectCreate"})]] = Field(
        min_length=1,
        max_length=MAX_BATCH,
        description="The projects, each exactly as POST /projects takes it; external_ref required.",
    )

    def raw_items(self) -> list[Any]:
        """The items as sent (JSON values, not yet validated)."""
        return self.items


class ItemStatus(StrEnum):
    created = "created"
    updated = "updated"
    unchanged = "unchanged"
    error = "error"


class BatchResult(OutputModel):
    index: int = Field(description="Position of the item in the request (from 0).")
    row: int | None = Field(
        default=None, description="Import only: the spreadsheet row (the header is row 1)."
    )
    status: ItemStatus = Field(description="created, updated, unchanged or error.")
    id: uuid.UUID | None = Field(description="The project's id; null for an error item.")
    external_ref: str | None = Field(description="The item's external_ref, as sent.")
    problem: Problem | None = Field(
        description="For an error item: the problem+json a single create or update would answer."
    )
    revision_id: uuid.UUID | None = Field(
        default=None,
        description="When the item changed screening fields of a library project: the revision "
        "opened for them (the project keeps its approved fields until the revision is approved; "
        "the item's progress fields are applied at once).",
    )


class BatchSummary(OutputModel):
    created: int = Field(description="Items created.")
    updated: int = Field(description="Items that changed a stored project.")
    unchanged: int = Field(description="Items identical to the stored project.")
    error: int = Field(description="Items refused; nothing of them was written.")


class BatchResponse(OutputModel):
    results: list[BatchResult] = Field(description="One result per item, in item order.")
    summary: BatchSummary = Field(description="How many items ended in each status.")
