"""Closed sets of codes stored as integer bit masks.

A project's categories and financing types are small closed sets; a mask filters with one
``mask & bit`` on SQLite and PostgreSQL alike and feeds the vectorised matcher directly.
"""

from collections.abc import Iterable

from app.reference.taxonomy import category_codes


class FlagSet:
    def __init__(self, codes: Iterable[str]) -> None:
        self.codes: tuple[str, ...] = tuple(codes)
        self.bits = {code: 1 << i for i, code in enumerate(self.codes)}

    def mask(self, codes: Iterable[str]) -> int:
        out = 0
        for code in codes:
            out |= self.bits[code]
        return out

    def decode(self, mask: int) -> list[str]:
        return [code for code, bit in self.bits.items() if mask & bit]

    def bit(self, code: str) -> int:
        return self.bits[code]


# Bit i is the taxonomy's i-th category: the order is stored, so new codes go at the end.
CATEGORIES = FlagSet(category_codes())
# The financing instruments a project may want; the API's FinancingType is made from these.
FINANCING_TYPES = FlagSet(
    ["loan", "bond", "equity", "insurance", "guarantee", "leasing", "fund", "carbon_pledge"]
)
