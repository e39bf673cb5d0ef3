"""Financial product requests and answers: the institution's own criteria."""

import uuid
from datetime import date, datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Annotated, Any, Literal

from pydantic import ConfigDict, Field, ValidationInfo, field_validator, model_validator
from pydantic_core import PydanticCustomError

from app.models import ConstructionStatus, Objective, ProductStatus, ProductType
from app.models.flags import CATEGORIES
from app.schemas.common import DecimalText, InputModel, MoneyOut, OutputModel, RateOut

if TYPE_CHECKING:
    CategoryCode = str
else:  # the taxonomy's codes, inline in the schema as a product's criteria always showed them
    CategoryCode = Literal[CATEGORIES.codes]
RegionPrefix = Annotated[
    str, Field(pattern=r"^\d{2}(\d{2}(\d{2})?)?$", description="2, 4 or 6 digits of GB/T 2260.")
]
GfcCode = Annotated[
    str,
    Field(
        pattern=r"^[1-9](\.\d{1,2}){0,2}$",
        description="A code of 《绿色金融支持项目目录（2025年版）》 (gfc-2025), as shipped.",
    ),
]
MoneyIn = Annotated[Decimal, Field(ge=0, max_digits=18, decimal_places=2), DecimalText(16, 2)]
RateIn = Annotated[
    Decimal,
    Field(ge=0, le=100, max_digits=7, decimal_places=3),
    DecimalText(4, 3, at_most_100=True),
]
WeightName = Literal[
    "climate_benefit", "amount_fit", "readiness", "verification", "category_targeted"
]


class CriteriaFields(InputModel):
    """Eligibility criteria and scoring weights; an omitted criterion does not restrict."""

    objectives: list[Objective] | None = Field(
        default=None, description="Project objectives accepted.", examples=[["mitigation"]]
    )
    categories: list[CategoryCode] | None = Field(
        default=None,
        description=(
            "Taxonomy categories accepted (any of): a first-level code accepts its second-level "
            "codes (M2 accepts M2.1), a second-level code only itself (M2.1 does not accept a "
            "project filed under plain M2); a parent with its own child is a 422 "
            "redundant_category."
        ),
        examples=[["M2", "M3"]],
    )
    gfc_codes: list[GfcCode] | None = Field(
        default=None,
        max_length=50,
        description=(
            "Entries of 《绿色金融支持项目目录（2025年版）》 accepted (any of): a project passes "
            "when one of its gfc-2025 classifications equals or falls under a listed code "
            "(GET /api/v1/taxonomy/classifications); an unknown code is a 422."
        ),
        examples=[["4"]],
    )
    region_prefixes: list[RegionPrefix] | None = Field(
        default=None,
        max_length=200,
        description=(
            "GB/T 2260 prefixes served (44 = Guangdong, 4403 = Shenzhen); empty = nationwide."
        ),
        examples=[["4403", "4401"]],
    )
    construction_statuses: list[ConstructionStatus] | None = Field(
        default=None, description="Construction statuses accepted."
    )
    amount_min: MoneyIn | None = Field(
        default=None,
        description="Least remaining need (financing_need − financing_secured), CNY.",
        examples=["1000000.00"],
    )
    amount_max: MoneyIn | None = Field(
        default=None, description="Largest remaining need, CNY.", examples=["50000000.00"]
    )
    tenor_min_months: int | None = Field(default=None, ge=0, le=600, description="Shortest tenor.")
    tenor_max_months: int | None = Field(default=None, ge=0, le=600, description="Longest tenor.")
    min_emission_reduction_tco2e: float | None = Field(
        default=None,
        ge=0,
        allow_inf_nan=False,
        strict=True,
        description="Least annual emission reduction plus carbon sink, tCO2e.",
    )
    requires_verification: bool | None = Field(
        default=None, description="Only projects whose carbon accounting is third-party verified."
    )
    requires_verified_results: bool | None = Field(
        default=None,
        description=(
            "Only projects with verified monitoring results (MRV): at least one monitoring "
            "report verified by a reviewer."
        ),
    )
    accepts_two_high_transition: bool | None = Field(
        default=None,
        description=(
            "Whether 两高 transition projects are accepted (default yes): CCUS, process-emission "
            "control, energy-saving retrofits or capacity replacement in a 两高 sector, flagged "
            "by the screening."
        ),
    )
    accepts_two_high_retrofit: bool | None = Field(
        default=None,
        description=(
            "Deprecated alias of accepts_two_high_transition, accepted for one version; "
            "sending both with different values is a 422."
        ),
        json_schema_extra={"deprecated": True},
    )
    # Strict: JSON numbers only (lax mode would read true as 1 and "60" as 60).
    weights: (
        dict[WeightName, Annotated[float, Field(ge=0, le=1000, allow_inf_nan=False, strict=True)]]
        | None
    ) = Field(
        default=None,
        description=(
            "Points overriding the default score weights (climate_benefit 40, amount_fit 20, "
            "readiness 20, verification 10, category_targeted 10); re-scaled to 100."
        ),
        examples=[{"climate_benefit": 60, "readiness": 20}],
    )

    @model_validator(mode="after")
    def _deprecated_alias(self) -> "CriteriaFields":
        if "accepts_two_high_retrofit" not in self.model_fields_set:
            return self
        old = self.accepts_two_high_retrofit
        if "accepts_two_high_transition" in self.model_fields_set:
            if self.accepts_two_high_transition != old:
                raise ValueError(
                    "accepts_two_high_retrofit is the deprecated name of "
                    "accepts_two_high_transition; send one of them."
                )
        self.accepts_two_high_transition = old
        self.accepts_two_high_retrofit = None
        self.model_fields_set.discard("accepts_two_high_retrofit")
        return self


class ProductFields(CriteriaFields):
    name: str | None = Field(default=None, min_length=1, max_length=300, description="Name.")
    description: str | None = Field(default=None, max_length=5000, description="Terms in prose.")
    valid_from: date | None = Field(default=None, description="First day the product is offered.")
    valid_to: date | None = Field(default=None, description="Last day the product is offered.")
    quota_total: MoneyIn | None = Field(
        default=None, description="Total the product may finance, CNY; null = no quota."
    )
    rate_min: RateIn | None = Field(default=None, description="Indicative least annual rate, %.")
    rate_max: RateIn | None = Field(default=None, description="Indicative largest annual rate, %.")


class ProductCreate(ProductFields):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "name": "绿色低碳贷",
                    "type": "green_loan",
                    "status": "active",
                    "description": "Loans for solar, wind and energy-efficiency projects.",
                    "objectives": ["mitigation"],
                    "categories": ["M2", "M3"],
                    "region_prefixes": ["44"],
                    "amount_min": "1000000.00",
                    "amount_max": "50000000.00",
                    "tenor_min_months": 12,
                    "tenor_max_months": 120,
                    "rate_min": "3.200",
                    "rate_max": "4.100",
                    "valid_from": "2026-01-01",
                    "valid_to": "2029-12-31",
                }
            ]
        }
    )

    name: str = Field(min_length=1, max_length=300, description="Name.", examples=["绿色低碳贷"])
    type: ProductType = Field(description="Kind of product.", examples=["green_loan"])
    status: Literal["draft", "active"] = Field(
        default="draft", description="Publish at once (active) or keep as a draft."
    )


def _never_null(schema: dict[str, Any]) -> None:
    """Declare a field a PATCH may leave out but not set to null: its string branch alone."""
    text = next(branch for branch in schema.pop("anyOf") if branch.get("type") == "string")
    schema.pop("default", None)
    schema.update(text)


class ProductUpdate(ProductFields):
    """Fields to change; a null criterion removes the restriction."""

    # Left out, they stay as they are; null is refused (``required``), as the schema says.
    name: str | None = Field(
        default=None,
        min_length=1,
        max_length=300,
        description="New name (never null).",
        json_schema_extra=_never_null,
    )
    description: str | None = Field(
        default=None,
        max_length=5000,
        description="New terms in prose (never null).",
        json_schema_extra=_never_null,
    )
    status: ProductStatus | None = Field(
        default=None, description="draft → active ↔ paused → retired (final)."
    )

    @field_validator("name", "description")
    @classmethod
    def _not_null(cls, value: str | None, info: ValidationInfo) -> str:
        if value is None:
            raise PydanticCustomError("required", f"{info.field_name} cannot be null.")
        return value


class ProductRead(OutputModel):
    id: uuid.UUID = Field(description="Product id.")
    institution_id: uuid.UUID = Field(description="The institution offering it.")
    name: str = Field(description="Name.")
    description: str = Field(description="Terms in prose.")
    type: ProductType = Field(description="Kind of product.")
    status: ProductStatus = Field(description="draft, active, paused or retired.")
    valid_from: date | None = Field(description="First day offered.")
    valid_to: date | None = Field(description="Last day offered.")
    quota_total: MoneyOut | None = Field(description="Quota, CNY; null = none.")
    quota_used: MoneyOut = Field(description="Financed so far under the product, CNY.")
    objectives: list[str] | None = Field(description="Objectives accepted.")
    categories: list[str] | None = Field(description="Categories accepted.")
    gfc_codes: list[str] | None = Field(description="gfc-2025 catalogue entries accepted.")
    region_prefixes: list[str] | None = Field(description="Region prefixes served.")
    construction_statuses: list[str] | None = Field(description="Construction statuses accepted.")
    amount_min: MoneyOut | None = Field(description="Least remaining need, CNY.")
    amount_max: MoneyOut | None = Field(description="Largest remaining need, CNY.")
    tenor_min_months: int | None = Field(description="Shortest tenor.")
    tenor_max_months: int | None = Field(description="Longest tenor.")
    min_emission_reduction_tco2e: float | None = Field(description="Least annual tCO2e.")
    requires_verification: bool = Field(description="Verified accounting required.")
    requires_verified_results: bool = Field(
        description="Verified monitoring results (MRV) required."
    )
    accepts_two_high_transition: bool = Field(description="两高 transition projects accepted.")
    accepts_two_high_retrofit: bool = Field(
        description="Deprecated: accepts_two_high_transition, under its old name (one version).",
        json_schema_extra={"deprecated": True},
    )
    rate_min: RateOut | None = Field(description="Indicative least annual rate, %.")
    rate_max: RateOut | None = Field(description="Indicative largest annual rate, %.")
    weights: dict[str, float] | None = Field(description="Score weight overrides.")
    version: int = Field(description="Changes with every edit.")
    created_at: datetime = Field(description="Created (UTC).")
    updated_at: datetime = Field(description="Last changed (UTC).")
