"""Eligibility: the table of criteria a product may set, each with its rule, mask and detail.

A criterion answers a boolean vector over any set of library positions (None when the product
sets no limit), and says for one project what it compared. The ranked lists, the full re-match,
the per-project view and the explanation of a pair all read this one table, so they can never
disagree about a pair, and the rule's text in the API documentation is written next to its code.
"""

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date
from functools import partial
from operator import attrgetter
from typing import Any

import numpy as np
from numpy.typing import NDArray

from app.models.flags import CATEGORIES, FINANCING_TYPES
from app.reference.classifications import GFC_2025
from app.services.matching.catalogue import Catalogue, Packed
from app.services.matching.criteria import (
    CONSTRUCTION_CODES,
    OBJECTIVE_CODES,
    Criteria,
    objective_mask,
)
from app.services.matching.library import (
    Columns,
    Index,
    Library,
    Mask,
    RegionIndex,
    Words,
    pack,
    prefix_bounds,
    unpack,
)
from app.services.matching.scoring import ClimateBest, climate_best

_OBJECTIVES = tuple(OBJECTIVE_CODES)
_CONSTRUCTION = tuple(CONSTRUCTION_CODES)


@dataclass(frozen=True, slots=True)
class Criterion:
    name: str
    rule: str
    """The rule as the API documentation states it (continuation lines indented two spaces)."""
    mask: Callable[[Columns, Criteria, Index], Mask | None]
    head: Callable[[Library, int], str]
    """The first half of the explanation's detail: the project's values (at one position)."""
    tail: Callable[[Criteria], str]
    """The second half: the product's values, read only through ``keyed_by`` (a project's
    ranked page keeps each product's tails per product version and pays a concatenation per
    distinct text)."""
    accepts: Callable[[Catalogue, Library, int, Index], Mask | None]
    """The same rule the other way round: which of some products of a catalogue (their
    positions, or a slice) accept the project at one position (None: no product sets this
    criterion)."""
    keyed_by: tuple[str, ...]
    """The Criteria fields the mask depends on: products that agree on them share one mask,
    which the matcher computes once over the whole library (packed as bits) when enough
    products use it, and otherwise evaluates over each product's candidates only."""
    reads: tuple[str, ...]
    """The library columns the detail reads: projects that agree on them get the same text
    from one product (a product's ranked page builds each distinct text once)."""
    common: bool = False
    """Products commonly agree on it (a type, a category list): a single request uses the
    memoised whole-library mask. Numeric thresholds are nearly unique per product and run over
    the candidates instead."""
    indexed: bool = False
    """The region index answers it (a prefix is a run of region-ordered slots), not the mask."""
    packed: Callable[[Packed, Library, int], Words | None] | None = None
    """For a criterion with few values, ``accepts`` over every product from the catalogue's
    masks by value (``catalogue.Packed``): the products that accept the project at one position
    as bits (None: every product does). A property test holds it to ``accepts``."""

    def detail(self, lib: Library, c: Criteria, i: int) -> str:
        """The values compared for the project at one position, for the explanation."""
        return self.head(lib, i) + self.tail(c)


def _fmt_cents(cents: int | None) -> str:
    return "none" if cents is None else f"{cents / 100:.2f}"


def _financing_type(lib: Columns, c: Criteria, idx: Index) -> Mask | None:
    out: Mask = np.bitwise_and(lib.ftypes[idx], c.financing_types_mask) != 0
    return out


def _financing_type_head(lib: Library, i: int) -> str:
    return f"project asks for {FINANCING_TYPES.decode(int(lib.ftypes[i])) or 'nothing'}; "


def _financing_type_tail(c: Criteria) -> str:
    return f"product type {c.type.value} provides {FINANCING_TYPES.decode(c.financing_types_mask)}"


def _financing_type_accepts(cat: Catalogue, lib: Library, i: int, ks: Index) -> Mask | None:
    out: Mask = np.bitwise_and(cat.ftypes[ks], lib.ftypes[i]) != 0
    return out


def _financing_type_packed(packed: Packed, lib: Library, i: int) -> Words | None:
    return packed.sharing("ftypes", int(lib.ftypes[i]))


def _region(lib: Columns, c: Criteria, idx: Index) -> Mask | None:
    if not c.region_prefixes:
        return None
    codes = lib.region[idx]
    out = np.zeros(codes.shape, dtype=np.bool_)
    for prefix in c.region_prefixes:
        lo, hi = prefix_bounds(prefix)
        out |= (codes >= lo) & (codes < hi)
    return out


def _region_head(lib: Library, i: int) -> str:
    return f"project region {int(lib.region[i]):06d}; "


def _region_tail(c: Criteria) -> str:
    return f"product serves {list(c.region_prefixes) or 'nationwide'}"


def _region_accepts(cat: Catalogue, lib: Library, i: int, ks: Index) -> Mask | None:
    if cat.region_any.all():
        return None
    code = int(lib.region[i])
    out = cat.region_any.copy()
    hit = (cat.prefix_lo <= code) & (code < cat.prefix_hi)
    out[cat.prefix_product[hit]] = True
    chosen: Mask = out[ks]
    return chosen


def _region_packed(packed: Packed, lib: Library, i: int) -> Words | None:
    return packed.serving(int(lib.region[i]))


def _objective(lib: Columns, c: Criteria, idx: Index) -> Mask | None:
    allowed = objective_mask(c.objectives)
    if allowed is None:
        return None
    bits = sum(1 << code for code, ok in enumerate(allowed) if ok)
    out: Mask = np.bitwise_and(lib.objective_bit[idx], bits) != 0
    return out


def _objective_head(lib: Library, i: int) -> str:
    return f"project objective {_OBJECTIVES[int(lib.objective[i])]}; "


def _objective_tail(c: Criteria) -> str:
    return f"product accepts {list(c.objectives) or 'any'}"


def _objective_accepts(cat: Catalogue, lib: Library, i: int, ks: Index) -> Mask | None:
    out: Mask = np.bitwise_and(cat.objective_bits[ks], lib.objective_bit[i]) != 0
    return out


def _objective_packed(packed: Packed, lib: Library, i: int) -> Words | None:
    return packed.sharing("objective_bits", int(lib.objective_bit[i]))


def _categories(lib: Columns, c: Criteria, idx: Index) -> Mask | None:
    if not c.categories:
        return None
    out: Mask = np.bitwise_and(lib.categories[idx], c.categories_mask) != 0
    return out


def _categories_head(lib: Library, i: int) -> str:
    return f"project categories {CATEGORIES.decode(int(lib.categories[i]))}; "


def _categories_tail(c: Criteria) -> str:
    return f"product accepts {list(c.categories) or 'any'}"


def _categories_accepts(cat: Catalogue, lib: Library, i: int, ks: Index) -> Mask | None:
    out: Mask = cat.categories_any[ks] | (
        np.bitwise_and(cat.categories[ks], lib.categories[i]) != 0
    )
    return out


def _categories_packed(packed: Packed, lib: Library, i: int) -> Words | None:
    out = packed.sharing("categories", int(lib.categories[i]))
    out |= packed.categories_any
    return out


def _gfc(lib: Columns, c: Criteria, idx: Index) -> Mask | None:
    if not c.gfc_codes:
        return None
    wanted = frozenset(c.gfc_codes)
    codes = lib.gfc[idx]
    return np.fromiter((not wanted.isdisjoint(s) for s in codes), np.bool_, count=len(codes))


def _gfc_head(lib: Library, i: int) -> str:
    # The stored set holds each code's parents too; the most specific codes are the stated ones.
    held = lib.gfc[i]
    stated = sorted(code for code in held if not any(o.startswith(code + ".") for o in held))
    return f"project {GFC_2025} classifications {stated or 'none'}; "


def _gfc_tail(c: Criteria) -> str:
    return f"product accepts {list(c.gfc_codes)} (a code or one under it)"


def _gfc_accepts(cat: Catalogue, lib: Library, i: int, ks: Index) -> Mask | None:
    if not cat.gfc:
        return None
    held = lib.gfc[i]
    out = np.ones(cat.size, dtype=np.bool_)
    for k, wanted in cat.gfc.items():
        out[k] = not wanted.isdisjoint(held)
    chosen: Mask = out[ks]
    return chosen


def _construction_status(lib: Columns, c: Criteria, idx: Index) -> Mask | None:
    if not c.construction_statuses:
        return None
    bits = sum(1 << code for code, s in enumerate(_CONSTRUCTION) if s in c.construction_statuses)
    out: Mask = np.bitwise_and(lib.cstatus_bit[idx], bits) != 0
    return out


def _construction_status_head(lib: Library, i: int) -> str:
    return f"project {_CONSTRUCTION[int(lib.cstatus[i])]}; "


def _construction_status_tail(c: Criteria) -> str:
    return f"product accepts {list(c.construction_statuses) or 'any'}"


def _construction_status_accepts(cat: Catalogue, lib: Library, i: int, ks: Index) -> Mask | None:
    out: Mask = np.bitwise_and(cat.cstatus_bits[ks], lib.cstatus_bit[i]) != 0
    return out


def _construction_status_packed(packed: Packed, lib: Library, i: int) -> Words | None:
    return packed.sharing("cstatus_bits", int(lib.cstatus_bit[i]))


def _amount(lib: Columns, c: Criteria, idx: Index) -> Mask | None:
    remaining = lib.remaining[idx]
    out = remaining > 0
    if c.amount_min_cents is not None:
        out &= remaining >= c.amount_min_cents
    if c.amount_max_cents is not None:
        out &= remaining <= c.amount_max_cents
    return out


def _amount_head(lib: Library, i: int) -> str:
    return f"remaining need {_fmt_cents(int(lib.remaining[i]))} CNY; "


def _amount_tail(c: Criteria) -> str:
    return (
        f"product range {_fmt_cents(c.amount_min_cents)}–{_fmt_cents(c.amount_max_cents)} "
        "(the need must be positive)"
    )


def _amount_accepts(cat: Catalogue, lib: Library, i: int, ks: Index) -> Mask | None:
    remaining = int(lib.remaining[i])
    lowest = cat.amount_min[ks]
    if remaining <= 0:
        return np.zeros(lowest.shape, dtype=np.bool_)
    out: Mask = (lowest <= remaining) & (remaining <= cat.amount_max[ks])
    return out


def _tenor(lib: Columns, c: Criteria, idx: Index) -> Mask | None:
    if c.tenor_min_months is None and c.tenor_max_months is None:
        return None
    tenor = lib.tenor[idx]
    within = np.ones(tenor.shape, dtype=np.bool_)
    if c.tenor_min_months is not None:
        within &= tenor >= c.tenor_min_months
    if c.tenor_max_months is not None:
        within &= tenor <= c.tenor_max_months
    # A project that states no tenor is left for the bank to discuss, not excluded.
    return within | (tenor < 0)


def _tenor_head(lib: Library, i: int) -> str:
    tenor = int(lib.tenor[i])
    return f"project tenor {'not stated' if tenor < 0 else f'{tenor} months'}; "


def _tenor_tail(c: Criteria) -> str:
    return f"product {c.tenor_min_months or 'any'}–{c.tenor_max_months or 'any'} months"


def _tenor_accepts(cat: Catalogue, lib: Library, i: int, ks: Index) -> Mask | None:
    tenor = int(lib.tenor[i])
    if tenor < 0:
        return None
    out: Mask = (cat.tenor_min[ks] <= tenor) & (tenor <= cat.tenor_max[ks])
    return out


def _emission(lib: Columns, c: Criteria, idx: Index) -> Mask | None:
    if c.min_emission_reduction_tco2e is None:
        return None
    return lib.benefit[idx] >= c.min_emission_reduction_tco2e


def _emission_head(lib: Library, i: int) -> str:
    return f"annual reduction + sink ({basis(lib, i)}) {float(lib.benefit[i]):g} tCO2e; "


def _emission_tail(c: Criteria) -> str:
    minimum = c.min_emission_reduction_tco2e
    return f"product minimum {'none' if minimum is None else minimum}"


def basis(lib: Library, i: int) -> str:
    """Which figures a project's climate benefit is: verified results (MRV) or stated ones."""
    return "verified" if lib.results[i] else "stated"


def _verified_results(lib: Columns, c: Criteria, idx: Index) -> Mask | None:
    if not c.requires_verified_results:
        return None
    return lib.results[idx].copy()


def _verified_results_head(lib: Library, i: int) -> str:
    return f"verified monitoring results: {bool(lib.results[i])}; "


def _verified_results_tail(c: Criteria) -> str:
    return f"product requires verified results: {c.requires_verified_results}"


def _verified_results_accepts(cat: Catalogue, lib: Library, i: int, ks: Index) -> Mask | None:
    if lib.results[i]:
        return None
    out: Mask = ~cat.requires_verified_results[ks]
    return out


def _verified_results_packed(packed: Packed, lib: Library, i: int) -> Words | None:
    return None if lib.results[i] else packed.no_verified_results


def _emission_accepts(cat: Catalogue, lib: Library, i: int, ks: Index) -> Mask | None:
    out: Mask = cat.min_benefit[ks] <= lib.benefit[i]
    return out


def _verification(lib: Columns, c: Criteria, idx: Index) -> Mask | None:
    if not c.requires_verification:
        return None
    return lib.verified[idx].copy()


def _verification_head(lib: Library, i: int) -> str:
    return f"third-party verified: {bool(lib.verified[i])}; "


def _verification_tail(c: Criteria) -> str:
    return f"product requires verification: {c.requires_verification}"


def _verification_accepts(cat: Catalogue, lib: Library, i: int, ks: Index) -> Mask | None:
    if lib.verified[i]:
        return None
    out: Mask = ~cat.requires_verification[ks]
    return out


def _verification_packed(packed: Packed, lib: Library, i: int) -> Words | None:
    return None if lib.verified[i] else packed.no_verification


def _two_high(lib: Columns, c: Criteria, idx: Index) -> Mask | None:
    if c.accepts_two_high_transition:
        return None
    return ~lib.two_high[idx]


def _two_high_head(lib: Library, i: int) -> str:
    # In the library a 两高 project is a transition one: the screening refuses the others.
    kind = "a 两高 transition project" if lib.two_high[i] else "not a 两高 project"
    return f"the project is {kind}; "


def _two_high_tail(c: Criteria) -> str:
    takes = "accepts" if c.accepts_two_high_transition else "does not accept"
    return f"the product {takes} 两高 transition projects"


def _two_high_accepts(cat: Catalogue, lib: Library, i: int, ks: Index) -> Mask | None:
    if not lib.two_high[i]:
        return None
    out: Mask = cat.accepts_two_high[ks].copy()
    return out


def _two_high_packed(packed: Packed, lib: Library, i: int) -> Words | None:
    return packed.accepts_two_high if lib.two_high[i] else None


CRITERIA: tuple[Criterion, ...] = (
    Criterion(
        "financing_type",
        "the project asks for a financing type the product type provides (loan products\n"
        "  ↔ loan; carbon_pledge_loan ↔ carbon_pledge or loan; insurance products ↔ insurance;"
        " green_bond\n"
        "  ↔ bond; carbon_fund ↔ fund or equity; equity ↔ equity; guarantee ↔ guarantee;"
        " leasing ↔ leasing);",
        _financing_type,
        _financing_type_head,
        _financing_type_tail,
        _financing_type_accepts,
        keyed_by=("type",),
        reads=("ftypes",),
        common=True,
        packed=_financing_type_packed,
    ),
    Criterion(
        "region",
        "the project's region code starts with one of region_prefixes;",
        _region,
        _region_head,
        _region_tail,
        _region_accepts,
        keyed_by=("region_prefixes",),
        reads=("region",),
        indexed=True,
        packed=_region_packed,
    ),
    Criterion(
        "objective",
        "the project's objective is listed (a `both` project also fits a product for\n"
        "  mitigation or adaptation);",
        _objective,
        _objective_head,
        _objective_tail,
        _objective_accepts,
        keyed_by=("objectives",),
        reads=("objective",),
        common=True,
        packed=_objective_packed,
    ),
    Criterion(
        "categories",
        "the project has at least one listed category;",
        _categories,
        _categories_head,
        _categories_tail,
        _categories_accepts,
        keyed_by=("categories",),
        reads=("categories",),
        common=True,
        packed=_categories_packed,
    ),
    Criterion(
        "gfc_codes",
        "one of the project's gfc-2025 classifications (《绿色金融支持项目目录（2025年版）》)\n"
        "  equals or falls under a listed code;",
        _gfc,
        _gfc_head,
        _gfc_tail,
        _gfc_accepts,
        # a set test per project in Python: over the whole library only when products share it
        keyed_by=("gfc_codes",),
        reads=("gfc",),
    ),
    Criterion(
        "construction_status",
        "the project's status is listed;",
        _construction_status,
        _construction_status_head,
        _construction_status_tail,
        _construction_status_accepts,
        keyed_by=("construction_statuses",),
        reads=("cstatus",),
        common=True,
        packed=_construction_status_packed,
    ),
    Criterion(
        "amount",
        "the remaining need (financing_need − financing_secured) is > 0 and within\n"
        "  amount_min–amount_max;",
        _amount,
        _amount_head,
        _amount_tail,
        _amount_accepts,
        keyed_by=("amount_min_cents", "amount_max_cents"),
        reads=("remaining",),
    ),
    Criterion(
        "tenor",
        "the project's tenor is within tenor_min_months–tenor_max_months (a project that states\n"
        "  no tenor is not excluded);",
        _tenor,
        _tenor_head,
        _tenor_tail,
        _tenor_accepts,
        keyed_by=("tenor_min_months", "tenor_max_months"),
        reads=("tenor",),
    ),
    Criterion(
        "emission_reduction",
        "annual emission reduction + carbon sink ≥ min_emission_reduction_tco2e;",
        _emission,
        _emission_head,
        _emission_tail,
        _emission_accepts,
        keyed_by=("min_emission_reduction_tco2e",),
        reads=("benefit", "results"),
    ),
    Criterion(
        "verification",
        "third-party verified when requires_verification;",
        _verification,
        _verification_head,
        _verification_tail,
        _verification_accepts,
        keyed_by=("requires_verification",),
        reads=("verified",),
        common=True,
        packed=_verification_packed,
    ),
    Criterion(
        "verified_results",
        "at least one verified monitoring report (MRV) when requires_verified_results;",
        _verified_results,
        _verified_results_head,
        _verified_results_tail,
        _verified_results_accepts,
        keyed_by=("requires_verified_results",),
        reads=("results",),
        common=True,
        packed=_verified_results_packed,
    ),
    Criterion(
        "two_high_transition",
        "not a 两高 transition project (CCUS, process-emission control, energy-saving retrofit\n"
        "  or capacity replacement in a 两高 sector, flagged by the screening) unless\n"
        "  accepts_two_high_transition (default yes).",
        _two_high,
        _two_high_head,
        _two_high_tail,
        _two_high_accepts,
        keyed_by=("accepts_two_high_transition",),
        reads=("two_high",),
        common=True,
        packed=_two_high_packed,
    ),
)

ELIGIBILITY_DOC = "\n".join(
    [
        "A library project is eligible for an active product (today within valid_from–valid_to)"
        " when it",
        "passes every criterion the product sets (an omitted criterion does not restrict):",
        *(f"- {criterion.name}: {criterion.rule}" for criterion in CRITERIA),
    ]
)

_KEYED = tuple(criterion for criterion in CRITERIA if not criterion.indexed)
_PACKED = tuple(criterion.packed for criterion in CRITERIA if criterion.packed is not None)
_OVER_SURVIVORS = tuple(criterion for criterion in CRITERIA if criterion.packed is None)

Key = tuple[Any, ...]


# (name, the values of its keyed_by fields): one attrgetter call per criterion and product
_GETTERS = tuple((criterion, attrgetter(*criterion.keyed_by)) for criterion in _KEYED)


Keyed = list[tuple[Criterion, Key]]
Run = tuple[int, int, Words]
"""A run of slots lo–hi and its packed survivors (the words from slot lo // 64 · 64)."""


def _keyed(c: Criteria) -> Keyed:
    return [(criterion, (criterion.name, values(c))) for criterion, values in _GETTERS]


def _select(
    index: RegionIndex, c: Criteria, keyed: Keyed, shared: Callable[[Key], bool]
) -> tuple[list[Run], list[Criterion]]:
    """The product's runs of slots, each with the packed AND of the live projects and the
    criteria whose masks are ``shared``; and the criteria left to run over candidates."""
    cols = index.columns
    whole = slice(0, index.size)
    alive = index.packed(("alive",), lambda: cols.alive)
    packed: list[Words] = [pack(cols.alive) if alive is None else alive]
    later = []
    for criterion, key in keyed:
        if shared(key):
            m = index.packed(key, partial(criterion.mask, cols, c, whole))
            if m is not None:
                packed.append(m)
        else:
            later.append(criterion)
    runs: list[Run] = []
    for lo, hi in index.ranges(c.region_prefixes):
        w0, w1 = lo // 64, -(-hi // 64)
        words = packed[0][w0:w1].copy()
        for m in packed[1:]:
            words &= m[w0:w1]
        runs.append((lo, hi, words))
    return runs, later


def _slots(
    index: RegionIndex, c: Criteria, runs: list[Run], later: list[Criterion]
) -> NDArray[np.intp]:
    """Slots (in the region index) of every live project ``c`` accepts, in slot order: each run's
    packed survivors unpacked, then the other criteria evaluated over those candidates only."""
    found = []
    for lo, hi, words in runs:
        slots = unpack(words, lo, hi, (lo // 64) * 64)
        for criterion in later:
            if not len(slots):
                break
            keep = criterion.mask(index.columns, c, slots)
            if keep is not None:
                slots = slots[keep]
        found.append(slots)
    if len(found) == 1:
        return found[0]
    return np.concatenate(found) if found else np.empty(0, dtype=np.intp)


def _largest(index: RegionIndex, words: Words, name: str, count: int) -> float | None:
    """The largest value of column ``name`` among the ``count`` rows set in ``words`` (a mask
    over every slot), found by walking the slots in descending order of the value in growing
    chunks until one is set; None when no row with a value > 0 is set, or when the walk would
    pass ``WALK_DEPTH`` times ``count`` slots (and at least a 64th of the library): reading
    the rows themselves then costs less (the caller does)."""
    order = index.descending(name)
    budget = max(index.size // 64, WALK_DEPTH * count)
    start, chunk = 0, 256
    while start < min(len(order), budget):
        slots = order[start : start + chunk]
        bits = words[slots >> 6] >> (slots & 63).astype(np.uint64)
        hit = np.flatnonzero(bits & np.uint64(1))
        if len(hit):
            return float(getattr(index.columns, name)[slots[hit[0]]])
        start, chunk = start + chunk, chunk * 4
    return None


WALK_DEPTH = 4
"""Products' criteria go with their values (a product that asks for verified results or large
amounts keeps projects whose intensity is low), so at 1,000,000 projects many walks passed
10^5 slots before their first row, half the re-match's CPU. Unpacking the mask and reading its
rows costs about a slot's walk per row: past ``WALK_DEPTH`` × ``count`` slots the walk stops
(re-match CPU 6.0–6.4 → 4.5–4.9 s at 10^6 × 20,000, same results; ``bench/README.md``)."""


def _match(
    index: RegionIndex, c: Criteria, keyed: Keyed, shared: Callable[[Key], bool]
) -> "ProductMatch":
    runs, later = _select(index, c, keyed, shared)
    if not later and len(runs) == 1 and runs[0][:2] == (0, index.size):
        # A nationwide product whose every criterion is a shared mask: the count is the bits
        # set, the climate best the first set slot in descending order; nothing is unpacked.
        words = runs[0][2]
        count = int(np.bitwise_count(words).sum())
        if count == 0:
            return ProductMatch(0, ClimateBest())
        mitigation = _largest(index, words, "mitigation_intensity", count)
        adaptation = None
        if mitigation is not None:
            adaptation = _largest(index, words, "adaptation_intensity", count)
        if mitigation is not None and adaptation is not None:
            return ProductMatch(count, ClimateBest(mitigation, adaptation))
    slots = _slots(index, c, runs, later)
    return ProductMatch(len(slots), climate_best(index.columns, slots))


def eligible_positions(lib: Library, c: Criteria, today: date) -> NDArray[np.intp]:
    """Positions of every library project the product accepts, in position order."""
    slots = eligible_slots(lib, c, today)
    return np.sort(lib.index.order[slots]) if len(slots) else slots


def eligible_slots(lib: Library, c: Criteria, today: date) -> NDArray[np.intp]:
    """Slots (in ``lib.index``) of every library project the product accepts, in slot order:
    ``eligible_positions`` without mapping to positions and sorting them, for callers that read
    the region-ordered columns (``RegionIndex.columns``), where a product's run is contiguous."""
    if not c.is_valid_on(today) or lib.size == 0:
        return np.empty(0, dtype=np.intp)
    index = lib.index
    runs = index.ranges(c.region_prefixes)
    # A mask over the whole library pays off for a wide product, or when it is already kept.
    wide = sum(hi - lo for lo, hi in runs) * 8 >= index.size
    common = {criterion.name for criterion in _KEYED if criterion.common}
    chosen, later = _select(
        index, c, _keyed(c), lambda key: key in index.masks or (wide and key[0] in common)
    )
    return _slots(index, c, chosen, later)


def passes(lib: Library, c: Criteria, position: int, today: date) -> bool:
    """Whether one project passes every criterion (the same masks as the ranked lists)."""
    if not c.is_valid_on(today):
        return False
    idx = np.array([position], dtype=np.intp)
    for criterion in CRITERIA:
        m = criterion.mask(lib, c, idx)
        if m is not None and not bool(m[0]):
            return False
    return True


def accepting(cat: Catalogue, lib: Library, position: int, today: date) -> NDArray[np.intp]:
    """Positions (in the catalogue) of every product that accepts the project at ``position``,
    in order: the same criteria as ``eligible_positions``, evaluated over the products at once.

    The criteria with few values AND the catalogue's masks by value (``Criterion.packed``); the
    others (ranges, the rare gfc-2025 codes) run over the products that survive those only. At
    20,000 products a pass over every product per criterion grew with the catalogue."""
    words = cat.valid_words(today)
    for by_value in _PACKED:
        m = by_value(cat.packed, lib, position)
        if m is not None:
            words = words & m
    found = unpack(words, 0, cat.size, 0)
    for criterion in _OVER_SURVIVORS:
        if not len(found):
            break
        keep = criterion.accepts(cat, lib, position, found)
        if keep is not None:
            found = found[keep]
    return found


@dataclass(frozen=True)
class ProductMatch:
    """One product's result over the whole library: how many projects it accepts, and the best
    climate benefits among them (its score's climate denominators)."""

    eligible: int
    climate_best: ClimateBest


def match_all(lib: Library, products: Sequence[Criteria], today: date) -> list[ProductMatch]:
    """Every product against the whole library in one pass, with the same criteria as
    ``eligible_positions`` (so the counts agree with the ranked lists).

    The work per product is its candidates', not the library's: a region prefix is a run of the
    region index's slots, the masks products share are computed once over the library (packed,
    so a product ANDs 1/8 of the bytes and only its run's words), and the rest run over the few
    candidates left. A mask is shared when the products using it span at least the library
    (a whole pass then costs no more than evaluating it per product).
    """
    valid = [c.is_valid_on(today) and lib.size > 0 for c in products]
    if not any(valid):
        return [ProductMatch(0, ClimateBest()) for _ in products]
    if lib.size <= SMALL:
        return _match_small(lib, products, valid)
    index = lib.index
    keys = [_keyed(c) if ok else [] for c, ok in zip(products, valid, strict=True)]
    span: dict[Key, int] = {}
    for c, keyed in zip(products, keys, strict=True):
        width = sum(hi - lo for lo, hi in index.ranges(c.region_prefixes))
        for _, key in keyed:
            span[key] = span.get(key, 0) + width
    size = index.size

    def shared(key: Key) -> bool:
        return key in index.masks or span[key] >= size

    return [
        _match(index, c, keyed, shared) if ok else ProductMatch(0, ClimateBest())
        for c, keyed, ok in zip(products, keys, valid, strict=True)
    ]


SMALL = 64
"""Up to one word of projects (a new project's ``match.new`` webhook matches a library of one
against every product) the index costs more than it saves: each distinct mask is computed once
over the whole library and ANDed per product, as plain booleans."""

_ALL_GETTERS = tuple((criterion, attrgetter(*criterion.keyed_by)) for criterion in CRITERIA)
DETAIL_KEYS = _ALL_GETTERS
"""Each criterion with the getter of its keyed_by fields, in the table's order: a criterion's
detail for one project depends on the product through these fields alone (a test holds every
detail to it), so products that agree on them share the text."""


def _match_small(
    lib: Library, products: Sequence[Criteria], valid: Sequence[bool]
) -> list[ProductMatch]:
    whole = slice(0, lib.size)
    masks: dict[Key, Mask | None] = {}
    out = []
    for c, ok in zip(products, valid, strict=True):
        if not ok:
            out.append(ProductMatch(0, ClimateBest()))
            continue
        mask = lib.alive.copy()
        for criterion, values in _ALL_GETTERS:
            key = (criterion.name, values(c))
            if key not in masks:
                masks[key] = criterion.mask(lib, c, whole)
            m = masks[key]
            if m is not None:
                mask &= m
        positions = np.flatnonzero(mask)
        out.append(ProductMatch(len(positions), climate_best(lib, positions)))
    return out
