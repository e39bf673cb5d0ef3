"""Statistics and pilot evaluation answers. Money is a decimal string (CNY, two places)."""

import uuid
from decimal import Decimal
from enum import StrEnum
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, PlainSerializer

from app.models.pilot import PilotStatus
from app.schemas.common import MoneyOut


class Period(StrEnum):
    month = "month"
    quarter = "quarter"
    year = "year"


class Coverage(StrEnum):
    """Which projects a set of figures counts: exactly those the caller may read. ``library``
    is every project that entered the library: in_library and exited."""

    all = "all"
    library = "library"
    library_and_own = "library_and_own"
    library_and_province = "library_and_province"


TonnesOut = Annotated[
    Decimal, PlainSerializer(lambda v: f"{v:.3f}", return_type=str, when_used="json")
]
"""tCO2e or tce as a decimal string with three places ("1226969.300"): exact, never a float."""


class Figures(BaseModel):
    """The figures of a set of projects, one field per measure of the statistics' one table
    (app/repositories/stats.py, MEASURES)."""

    projects: int = Field(description="Number of projects; each counts once.", examples=[12])
    total_investment: MoneyOut = Field(
        description="Sum of total investment (CNY).", examples=["1250000000.00"]
    )
    financing_need: MoneyOut = Field(
        description="Sum of financing need (CNY).", examples=["800000000.00"]
    )
    financing_secured: MoneyOut = Field(
        description=(
            "Sum of financing the projects state as secured (CNY), from any source; signed "
            "contracts made through the platform are in offers.signed_amount."
        ),
        examples=["120000000.00"],
    )
    benefit_projects: int = Field(
        description=(
            "Projects whose stated climate benefits are in the sums below: all but those exited "
            "as cancelled or non_compliant."
        ),
        examples=[11],
    )
    annual_emission_reduction_tco2e: TonnesOut = Field(
        description=(
            "Sum of stated annual emission reductions (tCO2e/year), each project's figure to "
            "the kilogram; exits as cancelled or non_compliant left out."
        ),
        examples=["1226969.300"],
    )
    annual_carbon_sink_tco2e: TonnesOut = Field(
        description="Sum of stated annual carbon sinks (tCO2e/year), as the reductions.",
        examples=["0.000"],
    )
    annual_energy_saving_tce: TonnesOut = Field(
        description="Sum of stated annual energy savings (tce/year), as the reductions.",
        examples=["5300.250"],
    )
    verified_projects: int = Field(
        description=(
            "Projects with at least one verified monitoring report among the benefit_projects."
        ),
        examples=[3],
    )
    verified_emission_reduction_tco2e: TonnesOut = Field(
        description=(
            "Sum of verified emission reductions (tCO2e, cumulative over the verified reporting "
            "periods, MRV), next to the stated annual figure; the same exits left out."
        ),
        examples=["24500.000"],
    )
    verified_carbon_sink_tco2e: TonnesOut = Field(
        description="Sum of verified carbon sinks (tCO2e, cumulative), as the reductions.",
        examples=["0.000"],
    )
    verified_energy_saving_tce: TonnesOut = Field(
        description="Sum of verified energy savings (tce, cumulative), as the reductions.",
        examples=["1200.000"],
    )
    verified_credited_tco2e: TonnesOut = Field(
        description=(
            "Of the verified tonnes, those also issued as carbon credits (CCER, VCS, GS, …): "
            "reported apart so that no tonne is claimed twice."
        ),
        examples=["5000.000"],
    )


class GroupFigures(Figures):
    key: str = Field(
        description=(
            "The group: a status, objective, category code, province code, pilot id or period."
        ),
        examples=["2026-Q3"],
    )
    label: str | None = Field(
        default=None,
        description="Readable name of the group where there is one (province, pilot, category).",
    )


class OfferFunnel(BaseModel):
    """The financing funnel: offers made → accepted → signed (financed), then the money paid out
    and back under the signed contracts."""

    offers: int = Field(description="Offers institutions made.")
    accepted: int = Field(description="Offers the project owners accepted.")
    declined: int = Field(description="Offers the project owners declined.")
    financed: int = Field(description="Offers that ended in a signed contract (financed).")
    offered_amount: MoneyOut = Field(description="Sum of offered amounts (CNY).")
    signed_amount: MoneyOut = Field(
        description="Sum of signed contract amounts (签约金额) of financed offers (CNY)."
    )
    financed_amount: MoneyOut = Field(
        description="The same as signed_amount (its former name, deprecated).", deprecated=True
    )
    disbursed_amount: MoneyOut = Field(
        description="Sum of disbursements (放款) under the signed contracts (CNY)."
    )
    repaid_amount: MoneyOut = Field(description="Sum of repayments recorded (CNY).")
    outstanding_amount: MoneyOut = Field(
        description="disbursed_amount − repaid_amount (CNY): the money out with the projects."
    )
    not_financed_by_reason: dict[str, int] = Field(
        description="Offers that ended without financing, by reason code."
    )


class PilotEvaluation(BaseModel):
    pilot_id: uuid.UUID
    pilot_name: str = Field(examples=["广东省深圳市福田区"])
    pilot_status: PilotStatus
    period: Period = Field(description="Granularity of by_period.")
    coverage: Coverage = Field(
        description=(
            "Which of the pilot's projects are counted: all (administrators), those that "
            "entered the library, in_library and exited (the public and institutions), or "
            "those plus the caller's own region or province in every status it may read."
        )
    )
    totals: Figures = Field(description="All counted projects located in the pilot's codes.")
    by_status: list[GroupFigures] = Field(
        description="Per project status: the split of the totals (in_library, exited, …)."
    )
    by_period: list[GroupFigures] = Field(
        description=(
            "Projects approved into the library, per period of approval (2026-07, 2026-Q3, 2026)."
        )
    )
    offers: OfferFunnel = Field(description="Offers and financing on the pilot's counted projects.")


def _figures(projects: int, invested: str, need: str, secured: str, tco2e: str) -> dict[str, Any]:
    return {
        "projects": projects,
        "total_investment": invested,
        "financing_need": need,
        "financing_secured": secured,
        "benefit_projects": projects,
        "annual_emission_reduction_tco2e": tco2e,
        "annual_carbon_sink_tco2e": "0.000",
        "annual_energy_saving_tce": "0.000",
        # Verified results (MRV): none reported yet in this example library.
        "verified_projects": 0,
        "verified_emission_reduction_tco2e": "0.000",
        "verified_carbon_sink_tco2e": "0.000",
        "verified_energy_saving_tce": "0.000",
        "verified_credited_tco2e": "0.000",
    }


# GET /stats/overview of a small library, one group of each kind shown.
_OVERVIEW: dict[str, Any] = {
    "period": "year",
    "coverage": "all",
    "totals": _figures(21, "4180910000.00", "2296810000.00", "411390000.00", "433842.700"),
    "by_status": [
        {
            **_figures(7, "1887640000.00", "1046780000.00", "177320000.00", "222995.100"),
            "key": "in_library",
            "label": None,
        }
    ],
    "by_exit_reason": [
        {
            **_figures(1, "22080000.00", "12590000.00", "0.00", "0.000"),
            "key": "cancelled",
            "label": None,
        }
    ],
    "by_objective": [
        {
            **_figures(16, "3310000000.00", "1800000000.00", "300000000.00", "400000.000"),
            "key": "mitigation",
            "label": None,
        }
    ],
    "by_category": [
        {
            **_figures(3, "1102980000.00", "634580000.00", "158900000.00", "66560.800"),
            "key": "M1",
            "label": "调整产业结构，发展战略性新兴产业",
        }
    ],
    "category_mentions": [
        {
            **_figures(3, "1102980000.00", "634580000.00", "158900000.00", "66560.800"),
            "key": "M1",
            "label": "调整产业结构，发展战略性新兴产业",
        }
    ],
    "by_province": [
        {
            **_figures(1, "821430000.00", "386070000.00", "110300000.00", "26665.600"),
            "key": "13",
            "label": "河北省",
        }
    ],
    "by_pilot": [
        {
            **_figures(2, "240000000.00", "150000000.00", "0.00", "12000.000"),
            "key": "78711a5c-b237-5278-b4c3-3dd2c4b0fc64",
            "label": "北京市密云区",
        }
    ],
    "by_period": [
        {
            **_figures(9, "2130340000.00", "1202770000.00", "177320000.00", "254654.400"),
            "key": "2026",
            "label": None,
        }
    ],
    "offers": {
        "offers": 7,
        "accepted": 5,
        "declined": 1,
        "financed": 1,
        "offered_amount": "763340000.00",
        "signed_amount": "105950000.00",
        "financed_amount": "105950000.00",
        "disbursed_amount": "105950000.00",
        "repaid_amount": "0.00",
        "outstanding_amount": "105950000.00",
        "not_financed_by_reason": {"credit_risk": 1},
    },
}


class StatsOverview(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [_OVERVIEW]})

    period: Period = Field(description="Granularity of by_period.")
    coverage: Coverage = Field(
        description=(
            "Which projects are counted; the public and institutions: every project that "
            "entered the library (in_library and exited)."
        )
    )
    totals: Figures = Field(description="Every counted project, once.")
    by_status: list[GroupFigures] = Field(
        description="Per project status: the split of the totals (in_library, exited, …)."
    )
    by_exit_reason: list[GroupFigures] = Field(
        description=(
            "Exited projects per exit reason (completed, financing_fulfilled, cancelled, "
            "non_compliant; unspecified for exits recorded before reasons were)."
        )
    )
    by_objective: list[GroupFigures] = Field(description="Per objective.")
    by_category: list[GroupFigures] = Field(
        description=(
            "Per category, each project once under its primary_category: these add up to "
            "the totals."
        )
    )
    category_mentions: list[GroupFigures] = Field(
        description=(
            "Mentions: per category, every project that lists it, so a project with several "
            "categories counts under each. These do not add up to the totals."
        )
    )
    by_province: list[GroupFigures] = Field(description="Per province (2-digit code).")
    by_pilot: list[GroupFigures] = Field(
        description=(
            "Per pilot (every pilot, also those with no project); a project in two pilots "
            "counts in both."
        )
    )
    by_period: list[GroupFigures] = Field(
        description="Projects approved into the library, per period of approval."
    )
    offers: OfferFunnel = Field(
        description=(
            "Financing over the counted projects: offers made, signed (financed), disbursed, "
            "repaid and outstanding."
        )
    )
