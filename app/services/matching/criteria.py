"""The matching vocabulary: type mapping, score components and a product's criteria.

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
from functools import cached_property
from types import MappingProxyType
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
# Score components and their default points; a product's weights re-weight them.
DEFAULT_WEIGHTS: dict[str, float] = {
    "climate_benefit": 40.0,
    "amount_fit": 20.0,
    "readiness": 20.0,
    "verification": 10.0,
    "category_targeted": 10.0,
}


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
    gfc_codes: tuple[str, ...] = ()
    region_prefixes: tuple[str, ...] = ()
    construction_statuses: tuple[str, ...] = ()
    amount_min_cents: int | None = None
    amount_max_cents: int | None = None
    tenor_min_months: int | None = None
    tenor_max_months: int | None = None
    min_emission_reduction_tco2e: float | None = None
    requires_verification: bool = False
    requires_verified_results: bool = False
    accepts_two_high_transition: bool = True
    weights: Mapping[str, float] = field(default_factory=lambda: dict(DEFAULT_WEIGHTS))

    @property
    def financing_types_mask(self) -> int:
        return FINANCING_TYPES.mask(PRODUCT_FINANCING_TYPES[self.type])

    @property
    def categories_mask(self) -> int:
        return CATEGORIES.exact_mask(self.categories)

    def is_valid_on(self, day: date) -> bool:
        return (
            self.is_active
            and (self.valid_from is None or self.valid_from <= day)
            and (self.valid_to is None or day <= self.valid_to)
        )

    def weight_shares(self) -> Mapping[str, float]:
        """Each component's maximum points after re-weighting (they sum to 100); kept with the
        product version and read by every request that scores it, so read-only."""
        return self._shares

    @cached_property
    def memo(self) -> dict[str, Any]:
        """What other modules derive from these criteria alone (a project's ranked page reads
        each product's explanation parts from it), kept as long as this product version is. Not
        a field: ``dataclasses.asdict`` (a webhook's payload) and ``replace`` leave it out."""
        return {}

    @cached_property
    def _shares(self) -> Mapping[str, float]:
        total = sum(self.weights.values())
        return MappingProxyType(
            {k: 100.0 * self.weights.get(k, 0.0) / total for k in DEFAULT_WEIGHTS}
        )


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
        gfc_codes=tuple(getattr(row, "gfc_codes", None) or ()),
        region_prefixes=tuple(row.region_prefixes or ()),
        construction_statuses=tuple(row.construction_statuses or ()),
        amount_min_cents=to_cents(row.amount_min),
        amount_max_cents=to_cents(row.amount_max),
        tenor_min_months=row.tenor_min_months,
        tenor_max_months=row.tenor_max_months,
        min_emission_reduction_tco2e=row.min_emission_reduction_tco2e,
        requires_verification=bool(row.requires_verification),
        requires_verified_results=bool(getattr(row, "requires_verified_results", False)),
        accepts_two_high_transition=bool(row.accepts_two_high_transition),
        weights={k: float(weights[k]) for k in DEFAULT_WEIGHTS},
    )
