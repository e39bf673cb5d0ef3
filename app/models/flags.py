"""Closed sets of codes stored as integer bit masks.

A project's categories and financing types are small closed sets; a mask filters with one
``mask & bit`` on SQLite and PostgreSQL alike and feeds the vectorised matcher directly.
"""

from collections.abc import Iterable, Mapping

from app.reference.taxonomy import category_parents, mask_order


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


class TaxonomyFlags(FlagSet):
    """Category codes of two levels, where a second-level code implies its parent.

    A project's stored mask holds the codes it states *and* the parents they imply, so that a
    filter, a figure or a product criterion on ``M2`` is one bit test that includes M2.1…M2.8.
    A parent stated next to its own child is refused (``redundant_category``), so a parent bit
    beside one of its children's bits was implied, and ``decode`` leaves it out: the answer shows
    the codes the region stated.
    """

    def __init__(self, codes: Iterable[str], parents: Mapping[str, str]) -> None:
        super().__init__(codes)
        self.parents = dict(parents)
        children: dict[int, int] = {}
        for child, parent in self.parents.items():
            children[self.bits[parent]] = children.get(self.bits[parent], 0) | self.bits[child]
        # parent bit → the bits of its children
        self.children = children

    def mask(self, codes: Iterable[str]) -> int:
        """The stored mask: the codes and the parents they imply."""
        out = 0
        for code in codes:
            out |= self.bits[code]
            parent = self.parents.get(code)
            if parent is not None:
                out |= self.bits[parent]
        return out

    def exact_mask(self, codes: Iterable[str]) -> int:
        """The codes' own bits, no parent added (what a product or a filter lists)."""
        return super().mask(codes)

    def stated_mask(self, mask: int) -> int:
        """A stored mask without the parents its children imply."""
        for parent, children in self.children.items():
            if mask & children:
                mask &= ~parent
        return mask

    def decode(self, mask: int) -> list[str]:
        """The codes stated (implied parents left out)."""
        return super().decode(self.stated_mask(mask))

    def expand(self, mask: int) -> list[str]:
        """Every code the mask counts under, implied parents included."""
        return super().decode(mask)

    def with_children(self, mask: int) -> int:
        """An exact mask plus the children of the parents it lists (``M2`` → M2, M2.1…M2.8)."""
        out = mask
        for parent, children in self.children.items():
            if mask & parent:
                out |= children
        return out


# Bit i is the i-th code of the taxonomy's mask_order: stored, so new codes go at the end.
CATEGORIES = TaxonomyFlags(mask_order(), category_parents())
# The financing instruments a project may want; the API's FinancingType is made from these.
FINANCING_TYPES = FlagSet(
    ["loan", "bond", "equity", "insurance", "guarantee", "leasing", "fund", "carbon_pledge"]
)
