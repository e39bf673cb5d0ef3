"""The active products as columns: one numpy array per criterion field, position k one product.

The library's columns answer "which projects does this product accept" in a few vectorised
operations; these answer the other way round, "which products accept this project", for a
project's ranked products: each criterion of the table in ``eligibility`` states its rule twice,
once over projects (``mask``) and once over products (``accepts``), next to each other, and a
property test holds the two to the same pairs.
"""

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any

import numpy as np
from numpy.typing import NDArray

from app.models.flags import CATEGORIES
from app.services.matching.criteria import (
    CONSTRUCTION_CODES,
    DEFAULT_WEIGHTS,
    Criteria,
    objective_mask,
)
from app.services.matching.library import prefix_bounds

_ALL_BITS = np.uint8(0xFF)
_NO_DAY = (np.iinfo(np.int32).min, np.iinfo(np.int32).max)
NO_CENTS = (np.iinfo(np.int64).min, np.iinfo(np.int64).max)
"""The bounds of a product that sets no amount range."""
_NO_TENOR = (np.iinfo(np.int32).min, np.iinfo(np.int32).max)


@dataclass
class Catalogue:
    """The criteria of a list of products, as arrays (a criterion a product leaves out is its
    neutral value: all bits, the widest bounds, no requirement)."""

    size: int
    is_active: NDArray[np.bool_]
    valid_from: NDArray[np.int32]
    """Proleptic ordinals of the first and last day the product is offered."""
    valid_to: NDArray[np.int32]
    ftypes: NDArray[np.uint8]
    region_any: NDArray[np.bool_]
    """True: the product sets no region. Otherwise its prefixes are rows of the three below."""
    prefix_product: NDArray[np.intp]
    prefix_lo: NDArray[np.int64]
    prefix_hi: NDArray[np.int64]
    objective_bits: NDArray[np.uint8]
    categories: NDArray[np.uint32]
    categories_any: NDArray[np.bool_]
    gfc: dict[int, frozenset[str]]
    """The products that list gfc-2025 codes (few): product position → the codes."""
    cstatus_bits: NDArray[np.uint8]
    amount_min: NDArray[np.int64]
    amount_max: NDArray[np.int64]
    tenor_min: NDArray[np.int32]
    tenor_max: NDArray[np.int32]
    min_benefit: NDArray[np.float64]
    requires_verification: NDArray[np.bool_]
    requires_verified_results: NDArray[np.bool_]
    accepts_two_high: NDArray[np.bool_]
    targeted_categories: NDArray[np.uint32]
    """The codes each product targets in scoring: its categories and their children."""
    weight_shares: NDArray[np.float64]
    """Each product's re-weighted maxima (``Criteria.weight_shares``), one column per score
    component in the order of ``DEFAULT_WEIGHTS``."""
    _valid: dict[date, NDArray[np.bool_]] = field(default_factory=dict)

    @classmethod
    def build(cls, products: Sequence[Criteria]) -> "Catalogue":
        n = len(products)

        def column(values: Sequence[Any], dtype: Any) -> Any:
            return np.array(values, dtype=dtype).reshape(n)

        prefix_product: list[int] = []
        prefix_lo: list[int] = []
        prefix_hi: list[int] = []
        objective_bits: list[int] = []
        cstatus_bits: list[int] = []
        for k, c in enumerate(products):
            for prefix in c.region_prefixes:
                lo, hi = prefix_bounds(prefix)
                prefix_product.append(k)
                prefix_lo.append(lo)
                prefix_hi.append(hi)
            allowed = objective_mask(c.objectives)
            objective_bits.append(
                0xFF if allowed is None else sum(1 << code for code, ok in enumerate(allowed) if ok)
            )
            cstatus_bits.append(
                0xFF
                if not c.construction_statuses
                else sum(
                    1 << code
                    for status, code in CONSTRUCTION_CODES.items()
                    if status in c.construction_statuses
                )
            )

        def bound(value: int | None, neutral: int) -> int:
            return neutral if value is None else value

        def bounds(fields: tuple[str, str], neutral: tuple[int, int], dtype: Any) -> Any:
            return [
                column([bound(getattr(c, name), neutral[k]) for c in products], dtype)
                for k, name in enumerate(fields)
            ]

        amount_min, amount_max = bounds(
            ("amount_min_cents", "amount_max_cents"), NO_CENTS, np.int64
        )
        tenor_min, tenor_max = bounds(("tenor_min_months", "tenor_max_months"), _NO_TENOR, np.int32)

        return cls(
            size=n,
            is_active=column([c.is_active for c in products], np.bool_),
            valid_from=column(
                [_NO_DAY[0] if (d := c.valid_from) is None else d.toordinal() for c in products],
                np.int32,
            ),
            valid_to=column(
                [_NO_DAY[1] if (d := c.valid_to) is None else d.toordinal() for c in products],
                np.int32,
            ),
            ftypes=column([c.financing_types_mask for c in products], np.uint8),
            region_any=column([not c.region_prefixes for c in products], np.bool_),
            prefix_product=np.array(prefix_product, dtype=np.intp),
            prefix_lo=np.array(prefix_lo, dtype=np.int64),
            prefix_hi=np.array(prefix_hi, dtype=np.int64),
            objective_bits=column(objective_bits, np.uint8),
            categories=column([c.categories_mask for c in products], np.uint32),
            categories_any=column([not c.categories for c in products], np.bool_),
            gfc={k: frozenset(c.gfc_codes) for k, c in enumerate(products) if c.gfc_codes},
            cstatus_bits=column(cstatus_bits, np.uint8),
            amount_min=amount_min,
            amount_max=amount_max,
            tenor_min=tenor_min,
            tenor_max=tenor_max,
            min_benefit=column(
                [
                    -np.inf if (least := c.min_emission_reduction_tco2e) is None else least
                    for c in products
                ],
                np.float64,
            ),
            requires_verification=column([c.requires_verification for c in products], np.bool_),
            requires_verified_results=column(
                [c.requires_verified_results for c in products], np.bool_
            ),
            accepts_two_high=column([c.accepts_two_high_transition for c in products], np.bool_),
            targeted_categories=column(
                [CATEGORIES.with_children(c.categories_mask) for c in products], np.uint32
            ),
            weight_shares=np.array(
                [[c.weight_shares()[k] for k in DEFAULT_WEIGHTS] for c in products],
                dtype=np.float64,
            ).reshape(n, len(DEFAULT_WEIGHTS)),
        )

    def valid_on(self, day: date) -> NDArray[np.bool_]:
        """Which products are offered on ``day`` (``Criteria.is_valid_on``), memoised per day."""
        valid = self._valid.get(day)
        if valid is None:
            today = day.toordinal()
            valid = self.is_active & (self.valid_from <= today) & (today <= self.valid_to)
            self._valid = {day: valid}  # only today's is ever asked for again
        return valid
