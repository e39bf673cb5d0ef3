"""Pilot requests and answers (气候投融资试点)."""

import uuid
from datetime import date, datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, Field, model_validator

from app.models.pilot import PilotCoverage, PilotKind, PilotStatus
from app.reference.regions import RegionLevel
from app.schemas.common import InputModel


class PilotAction(StrEnum):
    """Steps of section 三: the province reviews, the ministries approve, accept or disqualify."""

    submit = "submit"
    approve = "approve"
    accept = "accept"
    disqualify = "disqualify"


class PilotHistoryAction(StrEnum):
    """A step of a pilot's history: one of section 三's actions, or an edit of its codes."""

    submit = "submit"
    approve = "approve"
    accept = "accept"
    disqualify = "disqualify"
    replace_codes = "replace_codes"


class PilotRegionIn(InputModel):
    code: str = Field(
        pattern=r"^\d{6}$",
        description=(
            "A GB/T 2260 code within the pilot's province: current, or retired with valid_to "
            "no later than the code's end."
        ),
        examples=["500157"],
    )
    coverage: PilotCoverage | None = Field(
        default=None,
        description=(
            "full, or partial: the pilot covers only part of this region (a new area has no "
            "code of its own). Default full."
        ),
    )
    is_partial: bool | None = Field(
        default=None,
        description="Deprecated alias of coverage (true: partial); both differing is a 422.",
        json_schema_extra={"deprecated": True},
    )
    valid_from: date | None = Field(
        default=None, description="First day the pilot covers the code; null: from the start."
    )
    valid_to: date | None = Field(
        default=None,
        description="Last day the pilot covers the code (inclusive); null: still covered.",
    )

    @model_validator(mode="after")
    def _deprecated_alias(self) -> "PilotRegionIn":
        if self.is_partial is not None:
            old = PilotCoverage.partial if self.is_partial else PilotCoverage.full
            if self.coverage is not None and self.coverage != old:
                raise ValueError("is_partial is the deprecated name of coverage; send one.")
            self.coverage = old
        self.is_partial = None
        self.model_fields_set.discard("is_partial")
        return self

    @property
    def stated_coverage(self) -> PilotCoverage:
        return self.coverage or PilotCoverage.full


class PilotCodesReplace(InputModel):
    """The complete new list of a pilot's codes."""

    codes: list[PilotRegionIn] = Field(
        min_length=1,
        max_length=100,
        description="Every code the pilot covers, with its coverage and validity.",
        examples=[
            [
                {"code": "500157", "coverage": "full", "valid_from": "2025-11-06"},
                {"code": "500105", "coverage": "partial", "valid_to": "2025-11-05"},
                {"code": "500112", "coverage": "partial", "valid_to": "2025-11-05"},
                {"code": "500109", "coverage": "partial"},
            ]
        ],
    )
    reason: str | None = Field(
        default=None, min_length=1, max_length=2000, description="Why, kept in the history."
    )


class PilotCreate(InputModel):
    name: str = Field(
        min_length=1, max_length=200, description="Official name.", examples=["广东省深圳市福田区"]
    )
    kind: PilotKind = Field(
        description="national_new_area, prefecture_city or district.", examples=["district"]
    )
    province: str = Field(
        pattern=r"^\d{2}$", description="2-digit GB/T 2260 province code.", examples=["44"]
    )
    regions: list[PilotRegionIn] = Field(
        min_length=1, max_length=100, description="The GB/T 2260 codes the pilot covers."
    )
    batch: int | None = Field(
        default=None, ge=1, le=100, description="Designation batch (1 = 2022).", examples=[2]
    )
    designation_ref: str | None = Field(
        default=None, max_length=300, description="The designating document, once there is one."
    )
    work_plan_ref: str | None = Field(
        default=None, max_length=300, description="Reference of the work plan (工作方案)."
    )
    implementation_plan_ref: str | None = Field(
        default=None, max_length=300, description="Reference of the implementation plan (实施方案)."
    )


class PilotUpdate(InputModel):
    """Only the fields sent change; null clears a reference."""

    regions: list[PilotRegionIn] | None = Field(
        default=None,
        min_length=1,
        max_length=100,
        description="Replaces the codes the pilot covers (e.g. when GB/T 2260 adds a code).",
    )
    designation_ref: str | None = Field(
        default=None, max_length=300, description="The designating document."
    )
    work_plan_ref: str | None = Field(
        default=None, max_length=300, description="Reference of the work plan (工作方案)."
    )
    implementation_plan_ref: str | None = Field(
        default=None, max_length=300, description="Reference of the implementation plan (实施方案)."
    )


class PilotTransitionCreate(InputModel):
    action: PilotAction = Field(
        description=(
            "submit (applying → provincial_review), approve (provincial_review → approved), "
            "accept (approved → accepted, 验收合格), disqualify (approved → disqualified, "
            "取消资格; reason required)."
        ),
        examples=["approve"],
    )
    reason: str | None = Field(
        default=None, min_length=1, max_length=2000, description="Why; required to disqualify."
    )


class PilotRegionRead(BaseModel):
    code: str = Field(description="GB/T 2260 code.", examples=["500157"])
    name: str | None = Field(description="Name in GB/T 2260; null if the code is unknown.")
    level: RegionLevel | None = Field(description="province, prefecture or county.")
    is_current: bool = Field(description="False for a code GB/T 2260 has since retired.")
    coverage: PilotCoverage = Field(description="full, or partial (part of this region).")
    is_partial: bool = Field(
        description="Deprecated: coverage says it. The pilot covers only part of this region.",
        json_schema_extra={"deprecated": True},
    )
    valid_from: date | None = Field(description="First day covered; null: from the start.")
    valid_to: date | None = Field(description="Last day covered (inclusive); null: still.")


class PilotRead(BaseModel):
    id: uuid.UUID = Field(description="The pilot's identity (new areas have no region code).")
    name: str = Field(description="Official name.", examples=["重庆市两江新区"])
    kind: PilotKind = Field(description="national_new_area, prefecture_city or district.")
    province: str = Field(description="2-digit province code.", examples=["50"])
    province_name: str | None = Field(description="Province name.", examples=["重庆市"])
    batch: int | None = Field(description="Designation batch (1 = 环气候函〔2022〕50号).")
    status: PilotStatus = Field(description="Where the pilot stands in section 三's process.")
    designation_ref: str | None = Field(description="The designating document.")
    work_plan_ref: str | None = Field(description="Reference of the work plan (工作方案).")
    implementation_plan_ref: str | None = Field(
        description="Reference of the implementation plan (实施方案)."
    )
    regions: list[PilotRegionRead] = Field(
        description=(
            "The codes the pilot covers, full ones first. A `pilot:<id>` region key acts on "
            "the projects of its pilot (pilot_id) and on every project in its full codes; a "
            "project in a partial code is the pilot's only when its pilot_id says so."
        )
    )
    allowed_actions: list[PilotAction] = Field(
        description="Transitions an administrator may apply from the current status."
    )
    created_at: datetime
    updated_at: datetime


class PilotCodesChange(BaseModel):
    before: list[dict[str, Any]] = Field(description="The codes before the edit.")
    after: list[dict[str, Any]] = Field(description="The codes after the edit.")


class PilotTransitionRead(BaseModel):
    id: uuid.UUID
    action: PilotHistoryAction = Field(
        description="The action applied; replace_codes: an administrator edited the codes."
    )
    from_status: PilotStatus
    to_status: PilotStatus
    reason: str | None = Field(description="Why, when given.")
    codes: PilotCodesChange | None = Field(
        default=None,
        description="For replace_codes: the codes (code, coverage, validity) before and after.",
    )
    actor_role: str = Field(description="Role of the key that applied it (always admin today).")
    at: datetime = Field(description="When (UTC).")
