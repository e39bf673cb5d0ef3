"""Financial institution requests and answers."""

import uuid
from datetime import datetime

from pydantic import Field

from app.models import InstitutionType
from app.schemas.common import InputModel, OutputModel


class InstitutionCreate(InputModel):
    name: str = Field(
        min_length=1, max_length=300, description="Registered name.", examples=["湖州银行"]
    )
    uscc: str = Field(
        min_length=18,
        max_length=18,
        description="Unified social credit code (统一社会信用代码), checksum-valid.",
        examples=["91350100M000100Y43"],
    )
    type: InstitutionType = Field(description="Kind of institution.", examples=["bank"])
    open_data_consent: bool = Field(
        default=False,
        description=(
            "The institution agreed to open publication: open data (the IATI export) names it "
            "as the provider of the funds it commits and disburses; otherwise they go out "
            "without a provider name."
        ),
    )


class InstitutionUpdate(InputModel):
    """The fields a PATCH may change; ``uscc`` identifies the institution and never changes, so
    it is refused like any unknown field (422)."""

    name: str | None = Field(
        default=None,
        min_length=1,
        max_length=300,
        description="Registered name (administrators only).",
        examples=["湖州银行股份有限公司"],
    )
    type: InstitutionType | None = Field(
        default=None, description="Kind of institution (administrators only).", examples=["bank"]
    )
    open_data_consent: bool | None = Field(
        default=None,
        description=(
            "The institution agrees (true) or no longer agrees (false) to open publication: "
            "from the change on, open data (the IATI export) names it as the provider of the "
            "funds it commits and disburses, or leaves them without a provider name. The "
            "institution's own key or an administrator may set it."
        ),
        examples=[True],
    )


class InstitutionRead(OutputModel):
    id: uuid.UUID = Field(description="Institution id; an institution key's scope.")
    name: str = Field(description="Registered name.")
    uscc: str = Field(description="Unified social credit code.")
    type: InstitutionType = Field(description="Kind of institution.")
    open_data_consent: bool = Field(
        description="Named as the provider of funds in open data (the IATI export)."
    )
    created_at: datetime = Field(description="When it was registered (UTC).")
