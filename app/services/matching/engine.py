"""The vectorised matcher: library columns as numpy arrays, one product's criteria at a time.

Every criterion is one function that answers a boolean vector for any set of project positions.
The ranked lists, the preview, the per-project view and the explanation of a single pair all call
the same functions, so they can never disagree about a pair.
"""

import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any, NamedTuple

import numpy as np
from numpy.typing import NDArray

from app.models.flags import CATEGORIES, FINANCING_TYPES
from app.services.matching.criteria import (
    CONSTRUCTION_CODES,
    OBJECTIVE_CODES,
    READINESS,
    Criteria,
    objective_mask,
)

Index = NDArray[np.intp] | slice
Mask = NDArray[np.bool_]

_OBJECTIVES = tuple(OBJECTIVE_CODES)
_CONSTRUCTION = tuple(CONSTRUCTION_CODES)
_READINESS = np.array(READINESS, dtype=np.float64)
MAX_SCORE_CENTI = 10_000  # scores are kept as integer hundredths: 0..10,000


class ProjectRow(NamedTuple):
    """A library project's matching columns, as loaded from the database."""

    id: uuid.UUID
    region_code: str
    objective: str
    categories_mask: int
    financing_types_mask: int
    construction_status: str
    remaining_cents: int
    tenor_months: int | None
    emission_reduction_tco2e: float | None
    carbon_sink_tco2e: float | None
    third_party_verified: bool
    is_two_high_retrofit: bool


_COLUMNS = (
    "alive",
    "id_hi",
    "id_lo",
    "region",
    "objective",
    "objective_bit",
    "categories",
    "ftypes",
    "cstatus",
    "cstatus_bit",
    "remaining",
    "tenor",
    "benefit",
    "verified",
    "retrofit",
    "intensity",
)


def _columns(rows: Sequence[ProjectRow]) -> dict[str, Any]:
    n = len(rows)

    def column(values: Any, dtype: Any) -> Any:
        return np.fromiter(values, dtype=dtype, count=n)

    remaining = column((r.remaining_cents for r in rows), np.int64)
    benefit = column(
        ((r.emission_reduction_tco2e or 0.0) + (r.carbon_sink_tco2e or 0.0) for r in rows),
        np.float64,
    )
    objective = column((OBJECTIVE_CODES[r.objective] for r in rows), np.int8)
    cstatus = column((CONSTRUCTION_CODES[r.construction_status] for r in rows), np.int8)
    intensity = np.zeros(n, dtype=np.float64)
    positive = remaining > 0
    # tCO2e per 10,000 CNY = benefit / (cents / 1,000,000)
    intensity[positive] = benefit[positive] * 1_000_000.0 / remaining[positive]
    # a UUID's order as text is its order as a 128-bit number: (high, low) big-endian halves
    halves = np.frombuffer(b"".join(r.id.bytes for r in rows), dtype=">u8").reshape(n, 2)
    return {
        "alive": np.ones(n, dtype=np.bool_),
        "id_hi": halves[:, 0].astype(np.uint64),
        "id_lo": halves[:, 1].astype(np.uint64),
        "region": column((int(r.region_code) for r in rows), np.int32),
        "objective": objective,
        # one bit per code: a set of accepted codes is then one AND, not a gather
        "objective_bit": np.left_shift(np.uint8(1), objective.astype(np.uint8)),
        "categories": column((r.categories_mask for r in rows), np.uint16),
        "ftypes": column((r.financing_types_mask for r in rows), np.uint8),
        "cstatus": cstatus,
        "cstatus_bit": np.left_shift(np.uint8(1), cstatus.astype(np.uint8)),
        "remaining": remaining,
        "tenor": column(
            (-1 if r.tenor_months is None else min(r.tenor_months, 32_767) for r in rows),
            np.int16,
        ),
        "benefit": benefit,
        "verified": column((bool(r.third_party_verified) for r in rows), np.bool_),
        "retrofit": column((bool(r.is_two_high_retrofit) for r in rows), np.bool_),
        "intensity": intensity,
    }


@dataclass
class Library:
    """The library's projects as columns; position i is one project for the object's lifetime.

    Patches overwrite a changed project in place, append new ones and mark leavers not ``alive``,
    so positions held by a request in flight stay meaningful; ``compacted()`` rebuilds densely.
    """

    ids: list[uuid.UUID]
    position: dict[uuid.UUID, int]
    alive: Mask
    id_hi: NDArray[np.uint64]
    id_lo: NDArray[np.uint64]
    region: NDArray[np.int32]
    objective: NDArray[np.int8]
    objective_bit: NDArray[np.uint8]
    categories: NDArray[np.uint16]
    ftypes: NDArray[np.uint8]
    cstatus: NDArray[np.int8]
    cstatus_bit: NDArray[np.uint8]
    remaining: NDArray[np.int64]
    tenor: NDArray[np.int16]
    benefit: NDArray[np.float64]
    verified: Mask
    retrofit: Mask
    intensity: NDArray[np.float64]

    @property
    def size(self) -> int:
        return len(self.ids)

    @property
    def dead(self) -> int:
        return self.size - len(self.position)

    @classmethod
    def build(cls, rows: Sequence[ProjectRow]) -> "Library":
        ids = [r.id for r in rows]
        return cls(ids=ids, position={pid: i for i, pid in enumerate(ids)}, **_columns(rows))

    def apply(self, rows: Sequence[ProjectRow], gone: Sequence[uuid.UUID]) -> None:
        """Patch in place: ``rows`` are library projects (new or changed), ``gone`` left it."""
        for pid in gone:
            i = self.position.pop(pid, None)
            if i is not None:
                self.alive[i] = False
        known = [r for r in rows if r.id in self.position]
        fresh = [r for r in rows if r.id not in self.position]
        if known:
            at = np.array([self.position[r.id] for r in known], dtype=np.intp)
            for name, values in _columns(known).items():
                getattr(self, name)[at] = values
        if fresh:
            start = self.size
            for name, values in _columns(fresh).items():
                setattr(self, name, np.concatenate([getattr(self, name), values]))
            for k, r in enumerate(fresh):
                self.ids.append(r.id)
                self.position[r.id] = start + k


# ---------------------------------------------------------------------------------------------
# Criteria: each answers a boolean vector over lib[idx], or None when the product sets no limit.


def _prefix_bounds(prefix: str) -> tuple[int, int]:
    scale = 10 ** (6 - len(prefix))
    return int(prefix) * scale, (int(prefix) + 1) * scale


def _region(lib: Library, c: Criteria, idx: Index) -> Mask | None:
    if not c.region_prefixes:
        return None
    codes = lib.region[idx]
    out = np.zeros(codes.shape, dtype=np.bool_)
    for prefix in c.region_prefixes:
        lo, hi = _prefix_bounds(prefix)
        out |= (codes >= lo) & (codes < hi)
    return out


def _objective(lib: Library, c: Criteria, idx: Index) -> Mask | None:
    allowed = objective_mask(c.objectives)
    if allowed is None:
        return None
    bits = sum(1 << code for code, ok in enumerate(allowed) if ok)
    out: Mask = np.bitwise_and(lib.objective_bit[idx], bits) != 0
    return out


def _categories(lib: Library, c: Criteria, idx: Index) -> Mask | None:
    if not c.categories:
        return None
    out: Mask = np.bitwise_and(lib.categories[idx], c.categories_mask) != 0
    return out


def _financing_type(lib: Library, c: Criteria, idx: Index) -> Mask | None:
    out: Mask = np.bitwise_and(lib.ftypes[idx], c.financing_types_mask) != 0
    return out


def _construction_status(lib: Library, c: Criteria, idx: Index) -> Mask | None:
    if not c.construction_statuses:
        return None
    bits = sum(1 << code for code, s in enumerate(_CONSTRUCTION) if s in c.construction_statuses)
    out: Mask = np.bitwise_and(lib.cstatus_bit[idx], bits) != 0
    return out


def _amount(lib: Library, c: Criteria, idx: Index) -> Mask | None:
    remaining = lib.remaining[idx]
    out = remaining > 0
    if c.amount_min_cents is not None:
        out &= remaining >= c.amount_min_cents
    if c.amount_max_cents is not None:
        out &= remaining <= c.amount_max_cents
    return out


def _tenor(lib: Library, c: Criteria, idx: Index) -> Mask | None:
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


def _emission(lib: Library, c: Criteria, idx: Index) -> Mask | None:
    if c.min_emission_reduction_tco2e is None:
        return None
    return lib.benefit[idx] >= c.min_emission_reduction_tco2e


def _verification(lib: Library, c: Criteria, idx: Index) -> Mask | None:
    if not c.requires_verification:
        return None
    return lib.verified[idx].copy()


def _two_high(lib: Library, c: Criteria, idx: Index) -> Mask | None:
    if c.accepts_two_high_retrofit:
        return None
    return ~lib.retrofit[idx]


CriterionFn = Callable[[Library, Criteria, Index], Mask | None]

CRITERIA: tuple[tuple[str, CriterionFn], ...] = (
    ("financing_type", _financing_type),
    ("region", _region),
    ("objective", _objective),
    ("categories", _categories),
    ("construction_status", _construction_status),
    ("amount", _amount),
    ("tenor", _tenor),
    ("emission_reduction", _emission),
    ("verification", _verification),
    ("two_high_retrofit", _two_high),
)


def eligible_positions(lib: Library, c: Criteria, today: date) -> NDArray[np.intp]:
    """Positions of every library project the product accepts, in position order."""
    if not c.is_valid_on(today) or lib.size == 0:
        return np.empty(0, dtype=np.intp)
    idx = slice(0, lib.size)
    mask = lib.alive
    for _name, fn in CRITERIA:
        m = fn(lib, c, idx)
        if m is not None:
            mask = mask & m
    return np.flatnonzero(mask).astype(np.intp)


_CRITERION = dict(CRITERIA)

# The Criteria fields each categorical criterion reads: products that agree on them share the
# criterion's mask, so a pass over every product computes each distinct mask once (match_all).
# Numeric thresholds (amount, tenor, emission) are nearly unique per product: they are computed
# afresh rather than kept, which would hold one library-sized mask per product.
SHARED_CRITERIA: dict[str, tuple[str, ...]] = {
    "financing_type": ("type",),
    "region": ("region_prefixes",),
    "objective": ("objectives",),
    "categories": ("categories",),
    "construction_status": ("construction_statuses",),
    "verification": ("requires_verification",),
    "two_high_retrofit": ("accepts_two_high_retrofit",),
}


@dataclass(frozen=True)
class ProductMatch:
    """One product's result over the whole library: how many projects it accepts, and the best
    climate intensity among them (its score's climate denominator, 0 when none)."""

    eligible: int
    top_intensity: float


def match_all(lib: Library, products: Sequence[Criteria], today: date) -> list[ProductMatch]:
    """Every product against the whole library in one pass, with the same criteria functions
    as ``eligible_positions`` (so the counts agree with the ranked lists).

    Two things make 2,000 products × 100,000 projects take a fraction of a second: the
    categorical masks are computed once per distinct value and shared (thousands of products
    draw their types, regions and category lists from a few hundred values), and the numeric
    thresholds then run only over the few candidates those masks leave, not the whole library.
    """
    masks: dict[tuple[Any, ...], Mask | None] = {}
    whole = slice(0, lib.size)
    out = []
    for c in products:
        if not c.is_valid_on(today) or lib.size == 0:
            out.append(ProductMatch(0, 0.0))
            continue
        mask = lib.alive.copy()
        for name, fields in SHARED_CRITERIA.items():
            key = (name, *(getattr(c, f) for f in fields))
            if key not in masks:
                masks[key] = _CRITERION[name](lib, c, whole)
            m = masks[key]
            if m is not None:
                mask &= m
        candidates = np.flatnonzero(mask)
        for name, fn in CRITERIA:
            if name not in SHARED_CRITERIA and len(candidates):
                m = fn(lib, c, candidates)
                if m is not None:
                    candidates = candidates[m]
        out.append(ProductMatch(len(candidates), max_intensity(lib, candidates)))
    return out


# ---------------------------------------------------------------------------------------------
# Scoring


@dataclass(frozen=True)
class Scored:
    positions: NDArray[np.intp]
    score_centi: NDArray[np.int64]


def max_intensity(lib: Library, positions: NDArray[np.intp]) -> float:
    return float(lib.intensity[positions].max()) if len(positions) else 0.0


def fractions(
    lib: Library, c: Criteria, positions: NDArray[np.intp], top_intensity: float
) -> dict[str, NDArray[np.float64]]:
    """Each score component's share in [0, 1] (SCORING_DOC in criteria.py), per position."""
    n = len(positions)
    remaining = lib.remaining[positions].astype(np.float64)
    climate = lib.intensity[positions] / top_intensity if top_intensity > 0 else np.zeros(n)
    lo, hi = c.amount_min_cents, c.amount_max_cents
    if lo is not None and hi is not None:
        fit = np.ones(n) if hi == lo else 1.0 - np.abs(remaining - (lo + hi) / 2.0) / float(hi - lo)
    elif hi is not None:
        fit = remaining / float(hi) if hi > 0 else np.ones(n)
    else:
        fit = np.ones(n)
    if c.categories:
        cats = lib.categories[positions]
        counts = np.bitwise_count(cats).astype(np.float64)
        hits = np.bitwise_count(np.bitwise_and(cats, c.categories_mask)).astype(np.float64)
        category = np.divide(hits, counts, out=np.zeros(n), where=counts > 0)
    else:
        category = np.zeros(n)
    return {
        "climate_benefit": climate,
        "amount_fit": fit,
        "readiness": _READINESS[lib.cstatus[positions]],
        "verification": lib.verified[positions].astype(np.float64),
        "category_targeted": category,
    }


def points(
    lib: Library, c: Criteria, positions: NDArray[np.intp], top_intensity: float
) -> dict[str, NDArray[np.float64]]:
    """Points per component: the share times the component's re-weighted maximum.

    Every share is within [0, 1] for an eligible pair (the amount range and the climate maximum
    are taken over eligible pairs), so no clipping is needed before the total's.
    """
    shares = c.weight_shares()
    return {k: v * shares[k] for k, v in fractions(lib, c, positions, top_intensity).items()}


def score(lib: Library, c: Criteria, positions: NDArray[np.intp], top_intensity: float) -> Scored:
    """The total score (integer hundredths) of eligible positions."""
    total = np.zeros(len(positions))
    for component in points(lib, c, positions, top_intensity).values():
        total += component
    centi = np.clip(np.rint(total * 100.0), 0, MAX_SCORE_CENTI).astype(np.int64)
    return Scored(positions=positions, score_centi=centi)


Cursor = tuple[int, int, int]
"""(score in hundredths, id high 64 bits, id low 64 bits) of the last pair a page served."""


def cursor_of(lib: Library, score_centi: int, project_id: uuid.UUID) -> Cursor:
    return (score_centi, project_id.int >> 64, project_id.int & 0xFFFF_FFFF_FFFF_FFFF)


def top(lib: Library, scored: Scored, after: Cursor | None, limit: int) -> NDArray[np.intp]:
    """Indices (into ``scored``) of the first ``limit`` pairs after the cursor, ordered by score
    descending, then project id ascending."""
    s = scored.score_centi
    hi = lib.id_hi[scored.positions]
    lo = lib.id_lo[scored.positions]
    if after is not None:
        cs, chi, clo = after
        later = (hi > chi) | ((hi == chi) & (lo > clo))
        chosen = np.flatnonzero((s < cs) | ((s == cs) & later))
    else:
        chosen = np.arange(len(s))
    if len(chosen) > limit > 0:
        # every pair scoring at least the limit-th best score, ties included, then a full sort
        threshold = -np.partition(-s[chosen], limit - 1)[limit - 1]
        chosen = chosen[s[chosen] >= threshold]
    order = np.lexsort((lo[chosen], hi[chosen], -s[chosen]))
    return chosen[order][:limit].astype(np.intp)


# ---------------------------------------------------------------------------------------------
# Explanation of a single pair


def _fmt_cents(cents: int | None) -> str:
    return "none" if cents is None else f"{cents / 100:.2f}"


def _detail(name: str, lib: Library, c: Criteria, i: int) -> str:
    if name == "financing_type":
        wanted = FINANCING_TYPES.decode(int(lib.ftypes[i]))
        offered = FINANCING_TYPES.decode(c.financing_types_mask)
        return (
            f"project asks for {wanted or 'nothing'}; "
            f"product type {c.type.value} provides {offered}"
        )
    if name == "region":
        code = f"{int(lib.region[i]):06d}"
        served = list(c.region_prefixes) or "nationwide"
        return f"project region {code}; product serves {served}"
    if name == "objective":
        return (
            f"project objective {_OBJECTIVES[int(lib.objective[i])]}; product accepts "
            f"{list(c.objectives) or 'any'}"
        )
    if name == "categories":
        return (
            f"project categories {CATEGORIES.decode(int(lib.categories[i]))}; product accepts "
            f"{list(c.categories) or 'any'}"
        )
    if name == "construction_status":
        return (
            f"project {_CONSTRUCTION[int(lib.cstatus[i])]}; product accepts "
            f"{list(c.construction_statuses) or 'any'}"
        )
    if name == "amount":
        return (
            f"remaining need {_fmt_cents(int(lib.remaining[i]))} CNY; product range "
            f"{_fmt_cents(c.amount_min_cents)}–{_fmt_cents(c.amount_max_cents)} "
            "(the need must be positive)"
        )
    if name == "tenor":
        tenor = int(lib.tenor[i])
        stated = "not stated" if tenor < 0 else f"{tenor} months"
        return (
            f"project tenor {stated}; product {c.tenor_min_months or 'any'}–"
            f"{c.tenor_max_months or 'any'} months"
        )
    if name == "emission_reduction":
        minimum = c.min_emission_reduction_tco2e
        return (
            f"annual reduction + sink {float(lib.benefit[i]):g} tCO2e; product minimum "
            f"{'none' if minimum is None else minimum}"
        )
    if name == "verification":
        return (
            f"third-party verified: {bool(lib.verified[i])}; product requires verification: "
            f"{c.requires_verification}"
        )
    if name == "two_high_retrofit":
        return (
            f"two-high retrofit: {bool(lib.retrofit[i])}; product accepts two-high retrofits: "
            f"{c.accepts_two_high_retrofit}"
        )
    raise ValueError(name)  # pragma: no cover


_COMPONENT_DETAIL = {
    "climate_benefit": "tCO2e per 10,000 CNY of remaining need against the best eligible project",
    "amount_fit": "remaining need within the product's amount range",
    "readiness": "readiness by construction status",
    "verification": "third-party verified carbon accounting",
    "category_targeted": "share of the project's categories the product targets",
}


@dataclass(frozen=True)
class Explanation:
    eligible: bool
    score: float | None
    items: list[dict[str, Any]]


def passes(lib: Library, c: Criteria, position: int, today: date) -> bool:
    """Whether one project passes every criterion (the same functions as the ranked lists)."""
    if not c.is_valid_on(today):
        return False
    idx = np.array([position], dtype=np.intp)
    for _name, fn in CRITERIA:
        m = fn(lib, c, idx)
        if m is not None and not bool(m[0]):
            return False
    return True


def explain_many(
    lib: Library,
    c: Criteria,
    positions: Sequence[int],
    today: date,
    top_intensity: float | None = None,
) -> list[Explanation]:
    """For each position: every criterion (passed or not, the values compared) and, if eligible,
    the points. Criteria and points are evaluated once over all the positions.

    ``top_intensity`` is the climate denominator when the caller already computed the product's
    eligible set; otherwise it is computed here.
    """
    idx = np.asarray(positions, dtype=np.intp)
    valid = c.is_valid_on(today)
    availability = {
        "criterion": "product_available",
        "passed": valid,
        "detail": (
            f"product {'active' if c.is_active else 'not active'}; valid "
            f"{c.valid_from or 'any'}–{c.valid_to or 'any'}; today {today}"
        ),
        "points": None,
    }
    masks = [(name, fn(lib, c, idx)) for name, fn in CRITERIA]
    items: list[list[dict[str, Any]]] = [[dict(availability)] for _ in range(len(idx))]
    for name, m in masks:
        for k, position in enumerate(idx):
            items[k].append(
                {
                    "criterion": name,
                    "passed": True if m is None else bool(m[k]),
                    "detail": _detail(name, lib, c, int(position)),
                    "points": None,
                }
            )
    eligible = [all(item["passed"] for item in row) for row in items]
    out = [Explanation(eligible=False, score=None, items=row) for row in items]
    chosen = [k for k, ok in enumerate(eligible) if ok]
    if not chosen:
        return out
    if top_intensity is None:
        # The climate component is relative to the product's other eligible projects.
        top_intensity = max_intensity(lib, eligible_positions(lib, c, today))
    sub = idx[chosen]
    scored = score(lib, c, sub, top_intensity)
    given = points(lib, c, sub, top_intensity)
    shares = c.weight_shares()
    for j, k in enumerate(chosen):
        row = items[k]
        for name, values in given.items():
            row.append(
                {
                    "criterion": name,
                    "passed": True,
                    "detail": f"{_COMPONENT_DETAIL[name]} (max {shares[name]:.2f} points)",
                    "points": round(float(values[j]), 2),
                }
            )
        out[k] = Explanation(eligible=True, score=int(scored.score_centi[j]) / 100, items=row)
    return out


def explain(
    lib: Library, c: Criteria, position: int, today: date, top_intensity: float | None = None
) -> Explanation:
    """One pair's explanation (see explain_many)."""
    return explain_many(lib, c, [position], today, top_intensity)[0]
