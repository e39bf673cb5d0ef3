"""Statistics and pilot evaluation answers. Money is a decimal string (CNY, two places)."""

import uuid
from decimal import Decimal
from enum import StrEnum

from pydantic import BaseModel, Field

from app.models.pilot import PilotStatus


class Period(StrEnum):
    month = "month"
    quarter = "quarter"
    year = "year"


class Coverage(StrEnum):
    """Which projects a set of figures counts: exactly those the caller may read."""

    all = "all"
    library = "library"
    library_and_own = "library_and_own"
    library_and_province = "library_and_province"


class Figures(BaseModel):
    projects: int = Field(description="Number of projects.", examples=[12])
    total_investment: Decimal = Field(
        description="Sum of total investment (CNY).", examples=["1250000000.00"]
    )
    financing_need: Decimal = Field(
        description="Sum of financing need (CNY).", examples=["800000000.00"]
    )
    financing_secured: Decimal = Field(
        description="Sum of financing already secured (CNY).", examples=["120000000.00"]
    )
    annual_emission_reduction_tco2e: float = Field(
        description="Sum of stated annual emission reductions (tCO2e/year)."
    )
    annual_carbon_sink_tco2e: float = Field(
        description="Sum of stated annual carbon sinks (tCO2e/year)."
    )
    annual_energy_saving_tce: float = Field(
        description="Sum of stated annual energy savings (tce/year)."
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
    """The financing funnel (offers → accepted → financed)."""

    offers: int = Field(description="Offers institutions made.")
    accepted: int = Field(description="Offers the project owners accepted.")
    declined: int = Field(description="Offers the project owners declined.")
    financed: int = Field(description="Offers that ended in financing.")
    offered_amount: Decimal = Field(description="Sum of offered amounts (CNY).")
    financed_amount: Decimal = Field(description="Sum of financed amounts (CNY).")
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
            "Which of the pilot's projects are counted: all (administrators), the library only "
            "(the public and institutions), or the library plus the caller's own region or "
            "province in every status it may read."
        )
    )
    totals: Figures = Field(description="All counted projects located in the pilot's codes.")
    by_status: list[GroupFigures] = Field(description="Per project status.")
    by_period: list[GroupFigures] = Field(
        description=(
            "Projects approved into the library, per period of approval (2026-07, 2026-Q3, 2026)."
        )
    )
    offers: OfferFunnel = Field(description="Offers and financing on the pilot's counted projects.")


class StatsOverview(BaseModel):
    period: Period = Field(description="Granularity of by_period.")
    coverage: Coverage = Field(
        description="Which projects are counted; the public and institutions: in_library only."
    )
    totals: Figures
    by_status: list[GroupFigures] = Field(description="Per project status (those counted).")
    by_objective: list[GroupFigures] = Field(description="Per objective.")
    by_category: list[GroupFigures] = Field(
        description="Per top-level category; a project with several categories counts in each."
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
    offers: OfferFunnel = Field(description="The offer funnel over the counted projects.")
