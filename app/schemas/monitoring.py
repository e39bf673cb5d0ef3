"""Monitoring report (MRV) requests and answers. Tonnes and tce are exact decimals, written as
strings with three places (to the kilogram)."""

import uuid
from datetime import date, datetime
from decimal import Decimal
from typing import Annotated, Literal

from pydantic import Field, PlainSerializer, WithJsonSchema

from app.models import CarbonCreditScheme, ReportStatus
from app.schemas.common import DecimalText, InputModel, OutputModel

TONNES_TEXT_SCHEMA = {"type": "string", "pattern": r"^-?\d+\.\d{3}$", "examples": ["12500.000"]}


def tonnes_str(value: Decimal) -> str:
    return f"{value:.3f}"


TonnesText = Annotated[
    Decimal,
    PlainSerializer(tonnes_str, return_type=str, when_used="json"),
    WithJsonSchema(TONNES_TEXT_SCHEMA),
]
"""tCO2e or tce as a decimal string with three places ("12500.000")."""

TonnesIn = Annotated[
    Decimal, Field(max_digits=18, decimal_places=3), DecimalText(15, 3, signed=True)
]
"""Reported tonnes: a decimal string of at most three places; a negative one is of the form,
and the service refuses it (422 negative_figure)."""


class MonitoringReportCreate(InputModel):
    period_start: date = Field(description="First day the report covers.", examples=["2026-01-01"])
    period_end: date = Field(
        description="Last day the report covers (not in the future).", examples=["2026-06-30"]
    )
    emission_reduction_tco2e: TonnesIn = Field(
        description="Emission reduction achieved over the period, tCO2e.", examples=["4850.500"]
    )
    carbon_sink_tco2e: TonnesIn = Field(
        description="Carbon sink achieved over the period, tCO2e.", examples=["0"]
    )
    energy_saving_tce: TonnesIn = Field(
        description="Energy saved over the period, tce.", examples=["1200.000"]
    )
    adaptation_beneficiaries: int = Field(
        description="People who benefited from adaptation over the period.", examples=[0]
    )
    methodology: str = Field(
        min_length=1,
        max_length=300,
        description="Accounting methodology applied.",
        examples=["CCER-14-001-V01 并网光伏发电"],
    )
    verifier: str = Field(
        min_length=1,
        max_length=300,
        description="The third party that verified the figures.",
        examples=["中国质量认证中心"],
    )
    carbon_credit_scheme: CarbonCreditScheme | None = Field(
        default=None,
        description="The scheme the credited tonnes are sold under (ccer, vcs, gs, other).",
    )
    credited_tco2e: TonnesIn = Field(
        default=Decimal("0"),
        description=(
            "Of the reduction and sink, the tonnes also issued as carbon credits (of which "
            "credited), so that no tonne is claimed twice."
        ),
        examples=["0"],
    )
    document_id: uuid.UUID | None = Field(
        default=None, description="A document of this project backing the report."
    )


class MonitoringReportTransition(InputModel):
    action: Literal["verify", "reject"] = Field(
        description="verify or reject (the province's reviewer or the administrator)."
    )
    reason: str | None = Field(
        default=None, max_length=2000, description="Why; required to reject."
    )


class MonitoringReportRead(OutputModel):
    id: uuid.UUID = Field(description="Report id.")
    project_id: uuid.UUID = Field(description="The project.")
    period_start: date = Field(description="First day covered.")
    period_end: date = Field(description="Last day covered.")
    emission_reduction_tco2e: TonnesText = Field(description="Emission reduction, tCO2e.")
    carbon_sink_tco2e: TonnesText = Field(description="Carbon sink, tCO2e.")
    energy_saving_tce: TonnesText = Field(description="Energy saved, tce.")
    adaptation_beneficiaries: int = Field(description="Adaptation beneficiaries.")
    methodology: str = Field(description="Accounting methodology.")
    verifier: str = Field(description="Third-party verifier.")
    carbon_credit_scheme: CarbonCreditScheme | None = Field(
        description="Scheme of the credited tonnes."
    )
    credited_tco2e: TonnesText = Field(description="Of which credited, tCO2e.")
    document_id: uuid.UUID | None = Field(description="The backing document.")
    status: ReportStatus = Field(description="submitted, verified or rejected.")
    reason: str | None = Field(description="The reviewer's reason.")
    reviewed_at: datetime | None = Field(description="When it was verified or rejected.")
    created_at: datetime = Field(description="Submitted.")


class VerifiedResults(OutputModel):
    """A project's verified (ex-post) results: the sums of its verified monitoring reports."""

    emission_reduction_tco2e: TonnesText = Field(description="Verified reductions, tCO2e.")
    carbon_sink_tco2e: TonnesText = Field(description="Verified carbon sink, tCO2e.")
    energy_saving_tce: TonnesText = Field(description="Verified energy saving, tce.")
    credited_tco2e: TonnesText = Field(
        description="Of the verified tonnes, those also issued as carbon credits."
    )
    adaptation_beneficiaries: int = Field(
        description="The largest number of adaptation beneficiaries a verified report states."
    )
    reports: int = Field(description="Verified reports summed.")
    days: int = Field(description="Days the verified periods cover.")
