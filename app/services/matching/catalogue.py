"""The active products as columns: one numpy array per criterion field, position k one product.

The library's columns answer "which projects does this product accept" in a few vectorised
operations; these answer the other way round, "which products accept this project", for a
project's ranked products: each criterion of the table in ``eligibility`` states its rule twice,
once over projects (``mask``) and once over products (``accepts``), next to each other, and a
property test holds the two to the same pairs.

For the criteria with few values the catalogue also keeps its products packed by value
(``Packed``): a project's accepting products are then the AND of a few masks of one bit per
product, and only the range criteria run over the products that survive them.
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
from app.services.matching.library import Words, pack, prefix_bounds

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
    packed: "Packed" = field(init=False)
    """The products by the values of the criteria with few of them, as bits (``Packed``)."""
    _valid: dict[date, tuple[NDArray[np.bool_], Words]] = field(default_factory=dict)

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

    def __post_init__(self) -> None:
        self.packed = Packed.build(self)

    def valid_on(self, day: date) -> NDArray[np.bool_]:
        """Which products are offered on ``day`` (``Criteria.is_valid_on``), memoised per day."""
        return self._valid_on(day)[0]

    def valid_words(self, day: date) -> Words:
        """``valid_on`` packed (read-only: the memo's own words)."""
        return self._valid_on(day)[1]

    def _valid_on(self, day: date) -> tuple[NDArray[np.bool_], Words]:
        valid = self._valid.get(day)
        if valid is None:
            today = day.toordinal()
            offered = self.is_active & (self.valid_from <= today) & (today <= self.valid_to)
            valid = (offered, pack(offered))
            self._valid = {day: valid}  # only today's is ever asked for again
        return valid


BIT_COLUMNS = {"ftypes": 8, "objective_bits": 8, "categories": 32, "cstatus_bits": 8}
"""The catalogue's columns of bits a project's value must share one of (a financing type, its
objective's bit, a category, its construction status's bit), with their widths."""


@dataclass(frozen=True)
class Packed:
    """The products by the values of the criteria with few of them, each a mask of one bit per
    product (product k is bit k % 64 of word k // 64, as ``library.pack``): at 20,000 products a
    mask is 313 words, so a project's accepting products are a few ANDs of them where the
    columns were a pass over every product per criterion (``eligibility.accepting``). Built with
    the catalogue, which is built anew whenever a product changes (``store.py``), so the two
    never disagree. Read-only: requests AND copies of them."""

    bits: dict[str, tuple[Words, ...]]
    """Per column of ``BIT_COLUMNS``, per bit: the products whose value has that bit."""
    prefixes: dict[tuple[int, int], Words]
    """(scale, prefix) → the products listing that region prefix, where scale is 10^(6 −
    digits) and the prefix a number (``44``: (10,000, 44)): a region code's prefix of those
    digits is the code // scale."""
    scales: tuple[int, ...]
    """The scales of the prefixes listed, so a project looks up only those."""
    region_any: Words
    categories_any: Words
    no_verification: Words
    """Products that do not require third-party verification."""
    no_verified_results: Words
    """Products that do not require verified monitoring results."""
    accepts_two_high: Words
    words: int
    """Words per mask."""

    @classmethod
    def build(cls, cat: Catalogue) -> "Packed":
        bits = {
            name: tuple(pack((getattr(cat, name) & (1 << b)) != 0) for b in range(width))
            for name, width in BIT_COLUMNS.items()
        }
        words = -(-cat.size // 64)
        lo, hi = cat.prefix_lo, cat.prefix_hi
        prefixes: dict[tuple[int, int], Words] = {}
        for low, scale, product in zip(
            lo.tolist(), (hi - lo).tolist(), cat.prefix_product.tolist(), strict=True
        ):
            key = (scale, low // scale)
            mask = prefixes.get(key)
            if mask is None:
                mask = prefixes[key] = np.zeros(words, dtype=np.uint64)
            mask[product >> 6] |= np.uint64(1 << (product & 63))
        return cls(
            bits=bits,
            prefixes=prefixes,
            scales=tuple(sorted({scale for scale, _ in prefixes})),
            region_any=pack(cat.region_any),
            categories_any=pack(cat.categories_any),
            no_verification=pack(~cat.requires_verification),
            no_verified_results=pack(~cat.requires_verified_results),
            accepts_two_high=pack(cat.accepts_two_high),
            words=words,
        )

    def sharing(self, name: str, value: int) -> Words:
        """The products whose column ``name`` shares a bit with ``value`` (a new array)."""
        masks = self.bits[name]
        out = np.zeros(self.words, dtype=np.uint64)
        while value:
            low = value & -value
            out |= masks[low.bit_length() - 1]
            value ^= low
        return out

    def serving(self, code: int) -> Words:
        """The products whose region prefixes take the region ``code`` or that set none (a
        new array)."""
        out = self.region_any.copy()
        for scale in self.scales:
            mask = self.prefixes.get((scale, code // scale))
            if mask is not None:
                out |= mask
        return out
