"""Statistics and pilot evaluation answers. Money is a decimal string (CNY, two places)."""

import uuid
from decimal import Decimal
from enum import StrEnum
from typing import Annotated

from pydantic import BaseModel, Field, PlainSerializer

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


class StatsOverview(BaseModel):
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
