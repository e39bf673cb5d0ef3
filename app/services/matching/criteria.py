"""The matching vocabulary (DESIGN §6): type mapping, score components and a product's criteria.

Product type ↔ project financing types. A product matches a project that asks for at least one of
the financing types its type provides:

=============================  ===========================
product type                    project financing types
=============================  ===========================
green_loan                      loan
sustainability_linked_loan      loan
transition_loan                 loan
carbon_pledge_loan              carbon_pledge, loan
carbon_insurance                insurance
climate_insurance               insurance
green_bond                      bond
carbon_fund                     fund, equity
equity                          equity
guarantee                       guarantee
leasing                         leasing
=============================  ===========================

A carbon-pledge loan is a loan secured on carbon assets, so a project asking for a loan is offered
it too; a carbon fund invests equity, so an equity request matches it.
"""

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import Any

from app.models import ConstructionStatus, Objective, ProductType
from app.models.flags import CATEGORIES, FINANCING_TYPES

PRODUCT_FINANCING_TYPES: dict[ProductType, tuple[str, ...]] = {
    ProductType.green_loan: ("loan",),
    ProductType.sustainability_linked_loan: ("loan",),
    ProductType.transition_loan: ("loan",),
    ProductType.carbon_pledge_loan: ("carbon_pledge", "loan"),
    ProductType.carbon_insurance: ("insurance",),
    ProductType.climate_insurance: ("insurance",),
    ProductType.green_bond: ("bond",),
    ProductType.carbon_fund: ("fund", "equity"),
    ProductType.equity: ("equity",),
    ProductType.guarantee: ("guarantee",),
    ProductType.leasing: ("leasing",),
}

OBJECTIVE_CODES: dict[str, int] = {
    Objective.mitigation: 0,
    Objective.adaptation: 1,
    Objective.both: 2,
}
CONSTRUCTION_CODES: dict[str, int] = {
    ConstructionStatus.planning: 0,
    ConstructionStatus.approved: 1,
    ConstructionStatus.under_construction: 2,
    ConstructionStatus.operational: 3,
}
# Readiness share of the readiness component, by construction status code (planning → operational).
READINESS: tuple[float, ...] = (0.25, 0.5, 0.75, 1.0)

# Score components and their default points (DESIGN §6); a product's weights re-weight them.
DEFAULT_WEIGHTS: dict[str, float] = {
    "climate_benefit": 40.0,
    "amount_fit": 20.0,
    "readiness": 20.0,
    "verification": 10.0,
    "category_targeted": 10.0,
}

ELIGIBILITY_DOC = """
A library project is eligible for an active product (today within valid_from–valid_to) when it
passes every criterion the product sets (an omitted criterion does not restrict):
- financing_type: the project asks for a financing type the product type provides (loan products
  ↔ loan; carbon_pledge_loan ↔ carbon_pledge or loan; insurance products ↔ insurance; green_bond
  ↔ bond; carbon_fund ↔ fund or equity; equity ↔ equity; guarantee ↔ guarantee; leasing ↔ leasing);
- region: the project's region code starts with one of region_prefixes;
- objective: the project's objective is listed (a `both` project also fits a product for
  mitigation or adaptation);
- categories: the project has at least one listed category;
- construction_status: the project's status is listed;
- amount: the remaining need (financing_need − financing_secured) is > 0 and within
  amount_min–amount_max;
- tenor: the project's tenor is within tenor_min_months–tenor_max_months (a project that states
  no tenor is not excluded);
- emission_reduction: annual emission reduction + carbon sink ≥ min_emission_reduction_tco2e;
- verification: third-party verified when requires_verification;
- two_high_retrofit: not a two-high retrofit unless accepts_two_high_retrofit (default yes).
""".strip()

SCORING_DOC = """
Score (0–100) of an eligible pair = Σ points_k, points_k = 100 · w_k / Σw · fraction_k, where w are
the product's weights (default climate_benefit 40, amount_fit 20, readiness 20, verification 10,
category_targeted 10) and each fraction lies in [0, 1]:
- climate_benefit: intensity / max intensity among the product's eligible projects, where
  intensity = (annual_emission_reduction_tco2e + annual_carbon_sink_tco2e) per 10,000 CNY of
  remaining need (0 when the max is 0);
- amount_fit: with amount_min and amount_max, 1 − |remaining − midpoint| / (max − min) (1 when
  min = max); with only amount_max, remaining / amount_max; otherwise 1;
- readiness: planning 0.25, approved 0.5, under_construction 0.75, operational 1;
- verification: 1 when the project's carbon accounting is third-party verified, else 0;
- category_targeted: share of the project's categories that the product lists (0 when the product
  lists none).
The score is rounded to 2 decimals; lists order by score (descending), then id.
""".strip()


def objective_mask(objectives: Sequence[str] | None) -> tuple[bool, bool, bool] | None:
    """Which project objectives (mitigation, adaptation, both) a product's list admits.

    A project with objective ``both`` serves mitigation and adaptation, so a product for either
    admits it; a product listing only ``both`` admits only such projects.
    """
    if not objectives:
        return None
    wanted = set(objectives)
    mitigation = Objective.mitigation in wanted
    adaptation = Objective.adaptation in wanted
    both = Objective.both in wanted or mitigation or adaptation
    return (mitigation, adaptation, both)


@dataclass(frozen=True)
class Criteria:
    """A product's criteria in the matcher's units (cents, codes, masks); built from a product
    row or from unsaved preview criteria."""

    type: ProductType
    is_active: bool = True
    valid_from: date | None = None
    valid_to: date | None = None
    objectives: tuple[str, ...] = ()
    categories: tuple[str, ...] = ()
    region_prefixes: tuple[str, ...] = ()
    construction_statuses: tuple[str, ...] = ()
    amount_min_cents: int | None = None
    amount_max_cents: int | None = None
    tenor_min_months: int | None = None
    tenor_max_months: int | None = None
    min_emission_reduction_tco2e: float | None = None
    requires_verification: bool = False
    accepts_two_high_retrofit: bool = True
    weights: Mapping[str, float] = field(default_factory=lambda: dict(DEFAULT_WEIGHTS))

    @property
    def financing_types_mask(self) -> int:
        return FINANCING_TYPES.mask(PRODUCT_FINANCING_TYPES[self.type])

    @property
    def categories_mask(self) -> int:
        return CATEGORIES.mask(self.categories)

    def is_valid_on(self, day: date) -> bool:
        return (
            self.is_active
            and (self.valid_from is None or self.valid_from <= day)
            and (self.valid_to is None or day <= self.valid_to)
        )

    def weight_shares(self) -> dict[str, float]:
        """Each component's maximum points after re-weighting (they sum to 100)."""
        total = sum(self.weights.values())
        return {k: 100.0 * self.weights.get(k, 0.0) / total for k in DEFAULT_WEIGHTS}


def to_cents(value: Decimal | None) -> int | None:
    return None if value is None else int((value * 100).to_integral_value())


def criteria_of(row: Any, *, is_active: bool | None = None) -> Criteria:
    """Criteria from a product row or any object with the product's criterion attributes."""
    # Weights the product leaves out keep their default points.
    weights = {**DEFAULT_WEIGHTS, **(row.weights or {})}
    return Criteria(
        type=ProductType(row.type),
        is_active=(row.status == "active") if is_active is None else is_active,
        valid_from=row.valid_from,
        valid_to=row.valid_to,
        objectives=tuple(row.objectives or ()),
        categories=tuple(row.categories or ()),
        region_prefixes=tuple(row.region_prefixes or ()),
        construction_statuses=tuple(row.construction_statuses or ()),
        amount_min_cents=to_cents(row.amount_min),
        amount_max_cents=to_cents(row.amount_max),
        tenor_min_months=row.tenor_min_months,
        tenor_max_months=row.tenor_max_months,
        min_emission_reduction_tco2e=row.min_emission_reduction_tco2e,
        requires_verification=bool(row.requires_verification),
        accepts_two_high_retrofit=bool(row.accepts_two_high_retrofit),
        weights={k: float(weights[k]) for k in DEFAULT_WEIGHTS},
    )
