"""The portfolio of an institution's offers: money under its signed contracts and the emission
reductions attributed to it (app/services/portfolio.py says what each figure is)."""

from enum import StrEnum

from pydantic import BaseModel, Field

from app.schemas.common import MoneyOut, RateOut
from app.schemas.stats import TonnesOut


class PortfolioGrouping(StrEnum):
    category = "category"
    region = "region"
    product = "product"
    month = "month"


class PortfolioFormat(StrEnum):
    json = "json"
    xlsx = "xlsx"


class AttributedEmissions(BaseModel):
    """Emission reductions attributed to the institution's outstanding money, one field per
    basis (PCAF project finance: outstanding ÷ the project's total investment × its figure),
    reported as avoided emissions, apart from any financed emissions."""

    stated_annual_tco2e: TonnesOut = Field(
        description=(
            "From the projects' stated annual figures (emission reduction + carbon sink, "
            "tCO2e/year): per offer outstanding ÷ total investment × the figure, rounded to the "
            "kilogram, then added up. Projects exited as cancelled or non_compliant add nothing."
        ),
        examples=["1250.500"],
    )
    verified_cumulative_tco2e: TonnesOut = Field(
        description=(
            "From the projects' verified monitoring reports (MRV: emission reduction + carbon "
            "sink, tCO2e over the periods they cover, not a yearly figure): per offer "
            "outstanding ÷ total investment × the figure, rounded to the kilogram, then added "
            "up. A project without a verified report adds nothing; nor do projects exited as "
            "cancelled or non_compliant."
        ),
        examples=["310.250"],
    )


class PortfolioFigures(BaseModel):
    offers: int = Field(description="Offers the institution made (any status).", examples=[7])
    financed: int = Field(description="Of them, financed (a signed contract).", examples=[3])
    signed_amount: MoneyOut = Field(
        description="Sum of the financed offers' signed contracts (签约金额), CNY.",
        examples=["15000000.00"],
    )
    disbursed_amount: MoneyOut = Field(
        description="Sum of disbursements (放款) under those contracts, CNY.",
        examples=["9000000.00"],
    )
    repaid_amount: MoneyOut = Field(
        description="Sum of repayments (还款), CNY.", examples=["1000000.00"]
    )
    outstanding_amount: MoneyOut = Field(
        description="disbursed_amount − repaid_amount, CNY.", examples=["8000000.00"]
    )
    average_rate: RateOut | None = Field(
        description=(
            "Signed-amount-weighted average of the financed offers' annual rates (%), rounded "
            "half up to three places; null without a financed offer."
        ),
        examples=["3.150"],
    )
    attributed_emission_reductions: AttributedEmissions = Field(
        description="Avoided emissions attributed to the outstanding amount."
    )


class PortfolioGroup(PortfolioFigures):
    key: str = Field(
        description=(
            "The group: a first-level category (a project's primary category), a province code "
            "(two digits), a product id, or the month the offer was made (YYYY-MM, UTC)."
        ),
        examples=["M2"],
    )
    label: str | None = Field(
        default=None, description="Readable name of the group (category, province, product)."
    )


class Portfolio(BaseModel):
    institution_id: str = Field(description="The institution.")
    group_by: PortfolioGrouping = Field(description="What the groups are.")
    groups: list[PortfolioGroup] = Field(description="One per group with an offer, by key.")
    total: PortfolioFigures = Field(description="Every offer of the institution.")
