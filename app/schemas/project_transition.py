"""A project's lifecycle steps (入库流程): the action asked for, and the history answered."""

import uuid
from datetime import datetime
from enum import StrEnum
from typing import Any

from pydantic import ConfigDict, Field

from app.models.project import ExitReason, ProjectStatus, TwoHighOutcome
from app.schemas.common import InputModel, OutputModel
from app.schemas.project import ScreeningReason


class TransitionAction(StrEnum):
    submit = "submit"
    recommend = "recommend"
    approve = "approve"
    return_ = "return"
    reject = "reject"
    withdraw = "withdraw"
    exit = "exit"


class TransitionCreate(InputModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {"action": "submit"},
                {"action": "return", "reason": "Emission baseline missing."},
                {"action": "exit", "reason_code": "completed"},
            ]
        }
    )

    action: TransitionAction = Field(description="The lifecycle action.", examples=["submit"])
    reason: str | None = Field(
        default=None,
        max_length=2000,
        description="Why; required for return and reject.",
        examples=["Emission baseline missing."],
    )
    reason_code: ExitReason | None = Field(
        default=None,
        description=(
            "exit only, and required there: completed, financing_fulfilled, cancelled, or "
            "non_compliant (the administrator only)."
        ),
        examples=["completed"],
    )


class ScreeningRecord(OutputModel):
    """The 两高 screening as a history step saw it."""

    outcome: TwoHighOutcome = Field(description="The outcome.")
    rule_id: str = Field(description="The rule that decided it.")
    rule_version: str = Field(description="Version of the screening rules.")
    list_version: str | None = Field(default=None, description="Version of the 两高 list.")
    reasons: list[ScreeningReason] = Field(description="The reasons.")


class TransitionRead(OutputModel):
    """One entry of a project's history: an event of the audit store whose object it is."""

    id: int = Field(description="The audit event's id (ordered: later events have larger ids).")
    action: str = Field(
        description="create, a lifecycle action, update (fields changed), financing_recorded "
        "(an offer financed), or a revision step (revision_open, revision_recommend, …)."
    )
    from_status: ProjectStatus | None = Field(description="Status before.")
    to_status: ProjectStatus = Field(description="Status after.")
    reason: str | None = Field(description="Why.")
    screening: ScreeningRecord | None = Field(
        default=None,
        description="The 两高 screening as this step saw it: on create, submit, revision_open "
        "and revision_approve steps (and resubmit steps, from before revisions).",
    )
    actor_role: str = Field(description="Role of the key that acted.")
    actor_scope: str | None = Field(description="Scope of the key that acted.")
    actor_key_id: uuid.UUID | None = Field(default=None, description="Id of the key that acted.")
    at: datetime = Field(description="When.")
    changes: dict[str, dict[str, Any]] | None = Field(
        default=None,
        description='The fields changed, as {field: {"before": …, "after": …}} in JSON values '
        '(money as decimal strings, dates ISO); the contact only as {"changed": true}.',
    )
