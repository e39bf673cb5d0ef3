"""Pilot requests and answers (气候投融资试点)."""

import uuid
from datetime import datetime
from enum import StrEnum

from pydantic import BaseModel, Field

from app.models.pilot import PilotKind, PilotStatus
from app.reference.regions import RegionLevel
from app.schemas.common import InputModel


class PilotAction(StrEnum):
    """Steps of section 三: the province reviews, the ministries approve, accept or disqualify."""

    submit = "submit"
    approve = "approve"
    accept = "accept"
    disqualify = "disqualify"


class PilotRegionIn(InputModel):
    code: str = Field(
        pattern=r"^\d{6}$",
        description="A current GB/T 2260 code within the pilot's province.",
        examples=["440304"],
    )
    is_partial: bool = Field(
        default=False,
        description="The pilot covers only part of this region (a new area has no own code).",
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
    is_partial: bool = Field(description="The pilot covers only part of this region.")


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
            "The codes the pilot covers. A `pilot:<id>` region key covers each of them whole, "
            "including the codes covered only in part and retired codes kept for old projects."
        )
    )
    allowed_actions: list[PilotAction] = Field(
        description="Transitions an administrator may apply from the current status."
    )
    created_at: datetime
    updated_at: datetime


class PilotTransitionRead(BaseModel):
    id: uuid.UUID
    action: PilotAction = Field(description="The action applied.")
    from_status: PilotStatus
    to_status: PilotStatus
    reason: str | None = Field(description="Why, when given.")
    actor_role: str = Field(description="Role of the key that applied it (always admin today).")
    at: datetime = Field(description="When (UTC).")
