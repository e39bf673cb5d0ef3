"""A project's lifecycle steps (入库流程): the action asked for, and the history answered."""

import uuid
from datetime import datetime
from enum import StrEnum

from pydantic import Field

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
    id: uuid.UUID = Field(description="Transition id.")
    action: str = Field(description="create, an action, or resubmit (a screening field changed).")
    from_status: ProjectStatus | None = Field(description="Status before.")
    to_status: ProjectStatus = Field(description="Status after.")
    reason: str | None = Field(description="Why.")
    screening: ScreeningRecord | None = Field(
        default=None,
        description="The 两高 screening as this step saw it: on create, submit and resubmit steps.",
    )
    actor_role: str = Field(description="Role of the key that acted.")
    actor_scope: str | None = Field(description="Scope of the key that acted.")
    at: datetime = Field(description="When.")
