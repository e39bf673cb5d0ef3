"""Project requests and answers (DESIGN §4): money is exact and travels as decimal strings."""

import uuid
from datetime import date, datetime
from decimal import Decimal
from enum import StrEnum
from typing import Annotated, Literal

from pydantic import ConfigDict, Field, PlainSerializer, field_validator

from app.models.flags import CATEGORIES, FINANCING_TYPES
from app.models.project import (
    ConstructionStatus,
    Nature,
    Objective,
    OwnerType,
    ProjectStatus,
)
from app.schemas.common import InputModel, OutputModel, money_str

# Capped below 10^13 CNY so every amount is also exact on SQLite, which keeps NUMERIC as a
# double (15 significant digits); the largest real project is far smaller.
MONEY_MAX = Decimal("9999999999999.99")


Money = Annotated[
    Decimal,
    Field(ge=0, le=MONEY_MAX, max_digits=15, decimal_places=2),
    PlainSerializer(money_str, return_type=str, when_used="json"),
]


# The codes come from their one source each (the taxonomy; the stored financing types).
Category = StrEnum(  # type: ignore[misc]  # mypy reads members only from a literal list
    "Category", [(code, code) for code in CATEGORIES.codes], module=__name__
)
FinancingType = StrEnum(  # type: ignore[misc]
    "FinancingType", [(code, code) for code in FINANCING_TYPES.codes], module=__name__
)


class Owner(InputModel):
    name: str = Field(min_length=1, max_length=300, description="Legal name of the project owner.")
    uscc: str = Field(
        min_length=1,
        max_length=24,
        description="Unified social credit code (统一社会信用代码), checksum-valid.",
        examples=["9144030071526726XG"],
    )
    type: OwnerType | None = Field(default=None, description="Kind of owner.")

    @field_validator("uscc")
    @classmethod
    def _compact_uscc(cls, value: str) -> str:
        # Stored in the compact form the checksum is computed on: no spaces or dashes, upper case.
        return value.replace(" ", "").replace("-", "").upper()


class Contact(InputModel):
    name: str | None = Field(default=None, max_length=100, description="Contact person.")
    phone: str | None = Field(default=None, max_length=40, description="Contact phone.")
    email: str | None = Field(
        default=None,
        max_length=200,
        pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$",
        description="Contact e-mail.",
    )


class ProjectFields(InputModel):
    """Every field a region supplies; shared by creation and the merged result of a PATCH."""

    external_ref: str | None = Field(
        default=None,
        min_length=1,
        max_length=100,
        description="The region's own id for the project; unique per submitting region.",
        examples=["SZFT-2026-001"],
    )
    name: str = Field(min_length=1, max_length=300, description="Project name.")
    summary: str = Field(default="", max_length=5000, description="What the project does.")
    region_code: str = Field(
        min_length=6,
        max_length=6,
        description="Current GB/T 2260 code where the project is located, within the key's scope.",
        examples=["440304"],
    )
    owner: Owner = Field(description="The project owner (项目业主).")
    objective: Objective = Field(description="mitigation, adaptation or both.")
    categories: list[Category] = Field(
        min_length=1,
        max_length=13,
        description="Taxonomy categories (M1…M6, A1…A7) consistent with the objective.",
        examples=[["M2"]],
    )
    industry_code: str = Field(
        max_length=5,
        description="GB/T 4754-2017 class code: section letter and four digits.",
        examples=["D4415"],
    )
    nature: Nature = Field(description="new_build, expansion, retrofit, operation or other.")
    construction_status: ConstructionStatus = Field(
        description="planning, approved, under_construction or operational."
    )
    start_date: date | None = Field(default=None, description="Construction start.")
    end_date: date | None = Field(default=None, description="Completion; not before start_date.")
    total_investment: Money = Field(
        description="Total investment in CNY (decimal string).", examples=["25000000.00"]
    )
    financing_need: Money = Field(
        description="Financing sought, CNY; at most total_investment.", examples=["12500000.00"]
    )
    financing_secured: Money = Field(
        default=Decimal("0.00"),
        description="Financing already secured, CNY; at most financing_need.",
        examples=["0.00"],
    )
    financing_types: list[FinancingType] = Field(
        default_factory=list, max_length=8, description="Financing instruments wanted."
    )
    tenor_months: int | None = Field(
        default=None, ge=1, le=600, description="Tenor sought, months."
    )
    annual_emission_reduction_tco2e: float | None = Field(
        default=None, ge=0, le=1e9, description="Annual emission reduction, tCO2e."
    )
    annual_energy_saving_tce: float | None = Field(
        default=None, ge=0, le=1e9, description="Annual energy saving, tce."
    )
    annual_carbon_sink_tco2e: float | None = Field(
        default=None, ge=0, le=1e9, description="Annual carbon sink added, tCO2e."
    )
    adaptation_beneficiaries: int | None = Field(
        default=None, ge=0, le=2_000_000_000, description="People benefiting from adaptation."
    )
    adaptation_benefit: str | None = Field(
        default=None, max_length=5000, description="The adaptation benefit, stated."
    )
    accounting_methodology: str | None = Field(
        default=None, max_length=300, description="Carbon accounting methodology used."
    )
    baseline: str | None = Field(default=None, max_length=5000, description="Emission baseline.")
    third_party_verified: bool = Field(
        default=False, description="Benefits verified by a third party."
    )
    verifier: str | None = Field(default=None, max_length=300, description="The verifier.")
    disclosure_commitment: bool = Field(
        default=False, description="The owner commits to disclose climate information."
    )
    contact: Contact | None = Field(
        default=None, description="Contact person; never shown to the public or institutions."
    )


class ProjectCreate(ProjectFields):
    """A new project (a draft) pushed by a region."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "external_ref": "SZFT-2026-001",
                    "name": "福田区公共建筑屋顶分布式光伏",
                    "summary": "Distributed photovoltaics on 42 public buildings, 18 MWp.",
                    "region_code": "440304",
                    "owner": {
                        "name": "深圳市福田区能源发展有限公司",
                        "uscc": "9144030071526726XG",
                        "type": "state_owned",
                    },
                    "objective": "mitigation",
                    "categories": ["M2"],
                    "industry_code": "D4416",
                    "nature": "new_build",
                    "construction_status": "approved",
                    "start_date": "2027-03-01",
                    "end_date": "2028-06-30",
                    "total_investment": "72000000.00",
                    "financing_need": "50000000.00",
                    "financing_secured": "0.00",
                    "financing_types": ["loan", "leasing"],
                    "tenor_months": 120,
                    "annual_emission_reduction_tco2e": 10250.0,
                    "accounting_methodology": "ACM0002 (grid-connected renewable electricity)",
                    "third_party_verified": False,
                    "disclosure_commitment": True,
                    "contact": {"name": "李明", "phone": "0755-00000000", "email": "li@example.cn"},
                }
            ]
        }
    )


class ProjectUpdate(InputModel):
    """A partial update: only the fields sent change; null clears an optional field."""

    external_ref: str | None = Field(default=None, min_length=1, max_length=100, description="")
    name: str | None = Field(default=None, min_length=1, max_length=300, description="")
    summary: str | None = Field(default=None, max_length=5000, description="")
    region_code: str | None = Field(default=None, min_length=6, max_length=6, description="")
    owner: Owner | None = Field(default=None, description="")
    objective: Objective | None = Field(default=None, description="")
    categories: list[Category] | None = Field(
        default=None, min_length=1, max_length=13, description=""
    )
    industry_code: str | None = Field(default=None, max_length=5, description="")
    nature: Nature | None = Field(default=None, description="")
    construction_status: ConstructionStatus | None = Field(default=None, description="")
    start_date: date | None = Field(default=None, description="")
    end_date: date | None = Field(default=None, description="")
    total_investment: Money | None = Field(default=None, description="")
    financing_need: Money | None = Field(default=None, description="")
    financing_secured: Money | None = Field(default=None, description="")
    financing_types: list[FinancingType] | None = Field(default=None, max_length=8, description="")
    tenor_months: int | None = Field(default=None, ge=1, le=600, description="")
    annual_emission_reduction_tco2e: float | None = Field(
        default=None, ge=0, le=1e9, description=""
    )
    annual_energy_saving_tce: float | None = Field(default=None, ge=0, le=1e9, description="")
    annual_carbon_sink_tco2e: float | None = Field(default=None, ge=0, le=1e9, description="")
    adaptation_beneficiaries: int | None = Field(
        default=None, ge=0, le=2_000_000_000, description=""
    )
    adaptation_benefit: str | None = Field(default=None, max_length=5000, description="")
    accounting_methodology: str | None = Field(default=None, max_length=300, description="")
    baseline: str | None = Field(default=None, max_length=5000, description="")
    third_party_verified: bool | None = Field(default=None, description="")
    verifier: str | None = Field(default=None, max_length=300, description="")
    disclosure_commitment: bool | None = Field(default=None, description="")
    contact: Contact | None = Field(default=None, description="")


# The PATCH model documents each field by pointing at its creation twin.
for _name, _field in ProjectUpdate.model_fields.items():
    _field.description = ProjectFields.model_fields[_name].description
ProjectUpdate.model_rebuild(force=True)


class OwnerRead(OutputModel):
    name: str = Field(description="Legal name of the project owner.")
    uscc: str = Field(description="Unified social credit code.")
    type: OwnerType | None = Field(description="Kind of owner.")


class ContactRead(OutputModel):
    name: str | None = Field(description="Contact person.")
    phone: str | None = Field(description="Contact phone.")
    email: str | None = Field(description="Contact e-mail.")


class ScreeningReason(OutputModel):
    code: str = Field(description="two_high_project, two_high_retrofit or not_two_high.")
    message: str = Field(description="Why, in words.")
    sector: str | None = Field(default=None, description="The 两高 sector, when there is one.")


class Screening(OutputModel):
    is_two_high: bool = Field(
        description="The industry is a 两高 (high energy, high emission) one."
    )
    is_two_high_retrofit: bool = Field(description="A retrofit in a 两高 industry, flagged.")
    outcome: Literal["clear", "flagged", "refused"] = Field(
        description="clear; flagged for reviewers; or refused at submission."
    )
    reasons: list[ScreeningReason] = Field(description="The reasons for the outcome.")


class ProjectRead(OutputModel):
    id: uuid.UUID = Field(description="Project id.")
    library_code: str | None = Field(
        description="CIF-<region>-<year>-<sequence>, given on approval.",
        examples=["CIF-440304-2026-00012"],
    )
    status: ProjectStatus = Field(description="Lifecycle status (入库流程).")
    external_ref: str | None = Field(description="The region's own id.")
    name: str = Field(description="Project name.")
    summary: str = Field(description="What the project does.")
    region_code: str = Field(description="GB/T 2260 code.")
    owner: OwnerRead = Field(description="The project owner.")
    objective: Objective = Field(description="mitigation, adaptation or both.")
    categories: list[Category] = Field(description="Taxonomy categories.")
    industry_code: str = Field(description="GB/T 4754-2017 class.")
    nature: Nature = Field(description="Project nature.")
    construction_status: ConstructionStatus = Field(description="Construction status.")
    start_date: date | None = Field(description="Construction start.")
    end_date: date | None = Field(description="Completion.")
    total_investment: str = Field(
        description="Total investment, CNY, decimal string.", examples=["25000000.00"]
    )
    financing_need: str = Field(description="Financing sought, CNY, decimal string.")
    financing_secured: str = Field(description="Financing secured, CNY, decimal string.")
    financing_types: list[FinancingType] = Field(description="Financing instruments wanted.")
    tenor_months: int | None = Field(description="Tenor sought, months.")
    annual_emission_reduction_tco2e: float | None = Field(description="tCO2e per year.")
    annual_energy_saving_tce: float | None = Field(description="tce per year.")
    annual_carbon_sink_tco2e: float | None = Field(description="tCO2e per year.")
    adaptation_beneficiaries: int | None = Field(description="People benefiting.")
    adaptation_benefit: str | None = Field(description="The adaptation benefit.")
    accounting_methodology: str | None = Field(description="Carbon accounting methodology.")
    baseline: str | None = Field(description="Emission baseline.")
    third_party_verified: bool = Field(description="Verified by a third party.")
    verifier: str | None = Field(description="The verifier.")
    disclosure_commitment: bool = Field(description="Disclosure commitment.")
    contact: ContactRead | None = Field(
        description="Contact person; null when the caller may not see it."
    )
    screening: Screening = Field(description="两高 screening result and its reasons.")
    version: int = Field(description="Version for If-Match (the ETag is its quoted value).")
    approved_at: datetime | None = Field(description="When it entered the library.")
    created_at: datetime = Field(description="Created.")
    updated_at: datetime = Field(description="Last changed.")


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


class TransitionRead(OutputModel):
    id: uuid.UUID = Field(description="Transition id.")
    action: str = Field(description="create, an action, or resubmit (a screening field changed).")
    from_status: ProjectStatus | None = Field(description="Status before.")
    to_status: ProjectStatus = Field(description="Status after.")
    reason: str | None = Field(description="Why.")
    actor_role: str = Field(description="Role of the key that acted.")
    actor_scope: str | None = Field(description="Scope of the key that acted.")
    at: datetime = Field(description="When.")
