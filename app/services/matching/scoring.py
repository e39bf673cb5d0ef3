"""Scoring and ranking: the table of score components, each with its rule, share and detail.

An eligible pair scores Σ points_k over the components, where points_k is the component's share
of the pair (in [0, 1]) times its re-weighted maximum (``Criteria.weight_shares``). Ranked lists
order by score (descending), then project id.
"""

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

import numpy as np
from numpy.typing import NDArray

from app.models import Objective
from app.models.flags import CATEGORIES
from app.services.matching.catalogue import NO_CENTS, Catalogue
from app.services.matching.criteria import OBJECTIVE_CODES, Criteria
from app.services.matching.library import Columns, Library, stated_categories

MAX_SCORE_CENTI = 10_000  # scores are kept as integer hundredths: 0..10,000

Shares = NDArray[np.float64]


@dataclass(frozen=True, slots=True)
class ClimateBest:
    """A product's climate denominators: the best benefit per 10,000 CNY of remaining need among
    its eligible mitigation projects (objective mitigation or both, in tCO2e a year) and among its
    eligible adaptation projects (adaptation or both, in beneficiaries). 0: the group is empty
    or states nothing."""

    mitigation: float = 0.0
    adaptation: float = 0.0


@dataclass(frozen=True, slots=True)
class Component:
    name: str
    rule: str
    """The component as the API documentation states it (continuation lines indented two)."""
    share: Callable[[Columns, Criteria, NDArray[np.intp], ClimateBest], Shares]
    """The share in [0, 1] of eligible positions, given the product's best climate benefits."""
    over_products: "Callable[[Catalogue, Library, int, Bests], Shares]"
    """The same share the other way round: one project's, for the given catalogue products that
    accept it (a project's ranked products); a property test holds the two to the same points."""
    detail: str
    """What the component rewards, in a pair's explanation."""
    describe: "Callable[[Library, int], Describe] | None" = None
    """The explanation's detail where it depends on the project: given the project at a
    position, its detail as a function of the product's climate denominators."""


def _climate_fractions(
    lib: Columns, positions: NDArray[np.intp], best: ClimateBest
) -> tuple[Shares, Shares]:
    """Each benefit over its group's best (0 when that best is 0). Outside its group a
    project's intensity is 0, so only `both` projects can have two fractions above 0."""
    n = len(positions)
    m: Shares = np.zeros(n)
    a: Shares = np.zeros(n)
    if best.mitigation > 0:
        m = lib.mitigation_intensity[positions] / best.mitigation
    if best.adaptation > 0:
        a = lib.adaptation_intensity[positions] / best.adaptation
    return m, a


def _climate_benefit(
    lib: Columns, c: Criteria, positions: NDArray[np.intp], best: ClimateBest
) -> Shares:
    out: Shares = np.maximum(*_climate_fractions(lib, positions, best))
    return out


_MITIGATION_FIGURE = "annual_emission_reduction_tco2e + annual_carbon_sink_tco2e"
_ADAPTATION_FIGURE = "adaptation_beneficiaries"
_VERIFIED_MITIGATION_FIGURE = (
    "verified emission reduction + carbon sink a year over the verified periods"
)
_VERIFIED_ADAPTATION_FIGURE = "verified adaptation_beneficiaries"
_MITIGATION_GROUP = "eligible mitigation projects (objective mitigation or both)"
_ADAPTATION_GROUP = "eligible adaptation projects (objective adaptation or both)"


class Describe(Protocol):
    def __call__(self, best: ClimateBest, figures: tuple[str, str] | None = None) -> str:
        """The detail given a product's climate denominators (and, when the caller keeps
        them, ``best_figures(best)``)."""
        ...


def best_figures(best: ClimateBest) -> tuple[str, str]:
    """A product's climate denominators as the climate detail prints them."""
    return f"{best.mitigation:.6g}", f"{best.adaptation:.6g}"


def _climate_describer(lib: Library, position: int) -> Describe:
    """The climate detail of the project at ``position`` as a function of a product's climate
    denominators: the project's own figures are read and formatted once, so a project's ranked
    page formats only each product's bests (or none, given them printed)."""
    objective = int(lib.objective[position])
    # Verified results (MRV) stand in for the stated figures where a project has them.
    verified = bool(lib.results[position])
    basis = "verified" if verified else "stated"
    m_value = float(lib.mitigation_intensity[position])
    a_value = float(lib.adaptation_intensity[position])
    m_head = (
        f"{_VERIFIED_MITIGATION_FIGURE if verified else _MITIGATION_FIGURE} ({basis}) "
        f"per 10,000 CNY of remaining need: {m_value:.6g} against the best "
    )
    a_head = (
        f"{_VERIFIED_ADAPTATION_FIGURE if verified else _ADAPTATION_FIGURE} ({basis}) "
        f"per 10,000 CNY of remaining need: {a_value:.6g} against the best "
    )
    m_tail = f" among the product's {_MITIGATION_GROUP}"
    a_tail = f" among the product's {_ADAPTATION_GROUP}"
    if objective == OBJECTIVE_CODES[Objective.mitigation]:

        def mitigation(best: ClimateBest, figures: tuple[str, str] | None = None) -> str:
            return m_head + (figures[0] if figures else f"{best.mitigation:.6g}") + m_tail

        return mitigation
    if objective == OBJECTIVE_CODES[Objective.adaptation]:

        def adaptation(best: ClimateBest, figures: tuple[str, str] | None = None) -> str:
            return a_head + (figures[1] if figures else f"{best.adaptation:.6g}") + a_tail

        return adaptation

    def both(best: ClimateBest, figures: tuple[str, str] | None = None) -> str:
        m_best, a_best = figures or best_figures(best)
        mitigation = m_head + m_best + m_tail
        adaptation = a_head + a_best + a_tail
        # The same better-of-two as the share (``_climate_fractions``, the same float64
        # divisions), so the text names the figure that scored.
        m = m_value / best.mitigation if best.mitigation > 0 else 0.0
        a = a_value / best.adaptation if best.adaptation > 0 else 0.0
        used, other = (adaptation, mitigation) if a > m else (mitigation, adaptation)
        return f"the better of the project's two benefits: {used}; not used: {other}"

    return both


def _amount_fit(
    lib: Columns, c: Criteria, positions: NDArray[np.intp], best: ClimateBest
) -> Shares:
    n = len(positions)
    remaining = lib.remaining[positions].astype(np.float64)
    lo, hi = c.amount_min_cents, c.amount_max_cents
    if lo is not None and hi is not None:
        if hi == lo:
            return np.ones(n)
        out: Shares = 1.0 - np.abs(remaining - (lo + hi) / 2.0) / float(hi - lo)
        return out
    if hi is not None and hi > 0:
        out = remaining / float(hi)
        return out
    return np.ones(n)


# Readiness share by construction status code (planning → operational).
READINESS = np.array((0.25, 0.5, 0.75, 1.0), dtype=np.float64)


def _readiness(lib: Columns, c: Criteria, positions: NDArray[np.intp], best: ClimateBest) -> Shares:
    out: Shares = READINESS[lib.cstatus[positions]]
    return out


def _verification(
    lib: Columns, c: Criteria, positions: NDArray[np.intp], best: ClimateBest
) -> Shares:
    return lib.verified[positions].astype(np.float64)


def _category_targeted(
    lib: Columns, c: Criteria, positions: NDArray[np.intp], best: ClimateBest
) -> Shares:
    n = len(positions)
    if not c.categories:
        return np.zeros(n)
    # The codes the project states (not the parents they imply), each targeted when the product
    # lists it or its parent.
    cats = stated_categories(lib.categories[positions])
    counts = np.bitwise_count(cats).astype(np.float64)
    targeted = CATEGORIES.with_children(c.categories_mask)
    hits = np.bitwise_count(np.bitwise_and(cats, targeted)).astype(np.float64)
    out: Shares = np.divide(hits, counts, out=np.zeros(n), where=counts > 0)
    return out


@dataclass(frozen=True, slots=True)
class Bests:
    """Some catalogue products (``products``, their catalogue positions) with their climate
    denominators, one entry each (``ClimateBest`` as columns)."""

    products: NDArray[np.intp]
    mitigation: NDArray[np.float64]
    adaptation: NDArray[np.float64]


def _fraction(value: np.float64, best: NDArray[np.float64]) -> Shares:
    # value / best where best > 0, else 0: the division ``_climate_fractions`` does, per product
    out: Shares = np.zeros(len(best))
    positive = best > 0
    out[positive] = value / best[positive]
    return out


def _climate_benefit_over(cat: Catalogue, lib: Library, i: int, b: Bests) -> Shares:
    m = _fraction(lib.mitigation_intensity[i], b.mitigation)
    a = _fraction(lib.adaptation_intensity[i], b.adaptation)
    out: Shares = np.maximum(m, a)
    return out


def _amount_fit_over(cat: Catalogue, lib: Library, i: int, b: Bests) -> Shares:
    remaining = np.float64(lib.remaining[i])
    lo, hi = cat.amount_min[b.products], cat.amount_max[b.products]
    has_lo, has_hi = lo != NO_CENTS[0], hi != NO_CENTS[1]
    out: Shares = np.ones(len(b.products))
    ranged = has_lo & has_hi & (hi != lo)
    mid = (lo[ranged] + hi[ranged]) / 2.0
    out[ranged] = 1.0 - np.abs(remaining - mid) / (hi[ranged] - lo[ranged]).astype(np.float64)
    capped = ~has_lo & has_hi & (hi > 0)
    out[capped] = remaining / hi[capped].astype(np.float64)
    return out


def _readiness_over(cat: Catalogue, lib: Library, i: int, b: Bests) -> Shares:
    return np.full(len(b.products), READINESS[lib.cstatus[i]])


def _verification_over(cat: Catalogue, lib: Library, i: int, b: Bests) -> Shares:
    return np.full(len(b.products), np.float64(lib.verified[i]))


def _category_targeted_over(cat: Catalogue, lib: Library, i: int, b: Bests) -> Shares:
    out: Shares = np.zeros(len(b.products))
    cats = stated_categories(lib.categories[i : i + 1])
    count = np.float64(np.bitwise_count(cats)[0])
    if count == 0:
        return out
    listing = ~cat.categories_any[b.products]
    targeted = cat.targeted_categories[b.products][listing]
    hits = np.bitwise_count(np.bitwise_and(cats[0], targeted)).astype(np.float64)
    out[listing] = hits / count
    return out


# In the order of DEFAULT_WEIGHTS (a test ties the two).
COMPONENTS: tuple[Component, ...] = (
    Component(
        "climate_benefit",
        "benefit per 10,000 CNY of remaining need / the best such benefit in its\n"
        "  comparison group among the product's eligible projects (0 when that best is 0).\n"
        "  Mitigation: annual_emission_reduction_tco2e + annual_carbon_sink_tco2e, compared\n"
        "  among the eligible mitigation and both projects; adaptation: adaptation_beneficiaries,\n"
        "  compared among the eligible adaptation and both projects (an adaptation project is\n"
        "  never scored on emissions); both: the better of its two fractions. Stated figures;\n"
        "  the explanation names the figure and the group used;",
        _climate_benefit,
        _climate_benefit_over,
        "climate benefit per 10,000 CNY of remaining need against its comparison group",
        _climate_describer,
    ),
    Component(
        "amount_fit",
        "with amount_min and amount_max, 1 − |remaining − midpoint| / (max − min) (1 when\n"
        "  min = max); with only amount_max, remaining / amount_max; otherwise 1;",
        _amount_fit,
        _amount_fit_over,
        "remaining need within the product's amount range",
    ),
    Component(
        "readiness",
        "planning 0.25, approved 0.5, under_construction 0.75, operational 1;",
        _readiness,
        _readiness_over,
        "readiness by construction status",
    ),
    Component(
        "verification",
        "1 when the project's carbon accounting is third-party verified, else 0;",
        _verification,
        _verification_over,
        "third-party verified carbon accounting",
    ),
    Component(
        "category_targeted",
        "share of the project's categories that the product lists (0 when the product\n"
        "  lists none).",
        _category_targeted,
        _category_targeted_over,
        "share of the project's categories the product targets",
    ),
)

SCORING_DOC = "\n".join(
    [
        "Score (0–100) of an eligible pair = Σ points_k, points_k = 100 · w_k / Σw · fraction_k,"
        " where w are",
        "the product's weights (default climate_benefit 40, amount_fit 20, readiness 20,"
        " verification 10,",
        "category_targeted 10) and each fraction lies in [0, 1]:",
        *(f"- {component.name}: {component.rule}" for component in COMPONENTS),
        "The score is rounded to 2 decimals; lists order by score (descending), then id.",
    ]
)


def climate_best(lib: Columns, positions: NDArray[np.intp]) -> ClimateBest:
    """The climate denominators over a product's eligible positions (see ``ClimateBest``)."""
    if not len(positions):
        return ClimateBest()
    return ClimateBest(
        mitigation=float(lib.mitigation_intensity[positions].max()),
        adaptation=float(lib.adaptation_intensity[positions].max()),
    )


def points(
    lib: Columns, c: Criteria, positions: NDArray[np.intp], best: ClimateBest
) -> dict[str, Shares]:
    """Points per component: the share times the component's re-weighted maximum.

    Every share is within [0, 1] for an eligible pair (the amount range and the climate maximum
    are taken over eligible pairs), so no clipping is needed before the total's.
    """
    shares = c.weight_shares()
    return {
        component.name: component.share(lib, c, positions, best) * shares[component.name]
        for component in COMPONENTS
    }


@dataclass(frozen=True)
class Scored:
    positions: NDArray[np.intp]
    score_centi: NDArray[np.int64]


def score(lib: Columns, c: Criteria, positions: NDArray[np.intp], best: ClimateBest) -> Scored:
    """The total score (integer hundredths) of eligible positions."""
    return total(positions, points(lib, c, positions, best))


def score_products(cat: Catalogue, lib: Library, i: int, bests: Bests) -> NDArray[np.int64]:
    """The total score (integer hundredths) of the project at position ``i`` for each of the
    products in ``bests``: the points of ``score``, summed in the same order, so each equals
    that product's ``score`` of the pair to the last bit."""
    summed = np.zeros(len(bests.products))
    maxima = cat.weight_shares[bests.products]
    for k, component in enumerate(COMPONENTS):
        summed += component.over_products(cat, lib, i, bests) * maxima[:, k]
    centi: NDArray[np.int64] = np.clip(np.rint(summed * 100.0), 0, MAX_SCORE_CENTI).astype(np.int64)
    return centi


Cursor = tuple[int, int, int]
"""(score in hundredths, id high 64 bits, id low 64 bits) of the last pair a page served."""


BOUNDED_MIN = 16_384
"""Candidates below which a page scores them all. The bound computes three of the five
components for every candidate, so it saves only the other two and the ranking over the ones
left out: at 10^6 projects it costs more than it saves below about 12,000 candidates (about
0.15 against 0.10 ms at the median product's 2,450) and halves the cost above 30,000
(``bench/README.md``, *Bounded scoring*)."""

_ROOM = ("amount_fit", "category_targeted")
"""The components a page's bound leaves out: their shares depend on the product's ranges and
categories (at most 1 each, so they add at most their maximum points); the others are computed
exactly, as ``score`` computes them."""

_MARGIN = 0.02
"""Points kept beside a bound (two hundredths): a pair left out scores more than 1.99 hundredths
below every pair that rules it out, so float summation order or rounding cannot tie the two."""


def score_bounded(
    lib: Columns,
    c: Criteria,
    positions: NDArray[np.intp],
    best: ClimateBest,
    after: Cursor | None,
    limit: int,
) -> Scored:
    """``score`` of the eligible positions that can be among the first ``limit`` after the cursor
    (``top`` then picks the same pairs, in the same order, as from ``score`` of them all).

    Climate benefit, readiness and verification are computed for every candidate, exactly as
    ``score`` does; amount fit and category share are left out, bounded by their maximum points.
    The ``limit`` candidates certainly after the cursor whose partial sums are largest are scored
    in full; the lowest of their scores is a floor that ``limit`` pairs after the cursor reach,
    and a candidate whose partial sum plus the left-out maxima stays below it cannot be on the
    page and is not scored further.
    At 10^6 projects a wide product has 10^5 candidates and keeps a few hundred (``bench.run
    --national``).
    """
    n = len(positions)
    if n < BOUNDED_MIN or limit <= 0 or n <= limit:
        return score(lib, c, positions, best)
    weights = c.weight_shares()
    known = _climate_benefit(lib, c, positions, best) * weights["climate_benefit"]
    known += _readiness(lib, c, positions, best) * weights["readiness"]
    known += _verification(lib, c, positions, best) * weights["verification"]
    room = weights["amount_fit"] + (weights["category_targeted"] if c.categories else 0.0)
    candidates = np.arange(n)
    if after is not None:
        # after the cursor for certain: even the largest possible score is below the cursor's
        candidates = np.flatnonzero((known + room + _MARGIN) * 100.0 < after[0])
        if len(candidates) < limit:
            return score(lib, c, positions, best)
    # The floor: the exact scores of the ``limit`` candidates whose partial sums are largest.
    leading = candidates[np.argpartition(known[candidates], len(candidates) - limit)[-limit:]]
    floor = total_points(lib, c, positions[leading], best).min()
    kept = positions[known + room >= floor - _MARGIN]
    return score(lib, c, kept, best)


def total_points(
    lib: Columns, c: Criteria, positions: NDArray[np.intp], best: ClimateBest
) -> Shares:
    """The total points of eligible positions, summed as ``total`` sums them, before rounding."""
    summed = np.zeros(len(positions))
    for component in points(lib, c, positions, best).values():
        summed += component
    return summed


def total(positions: NDArray[np.intp], given: dict[str, Shares]) -> Scored:
    """The score of ``positions`` from their points per component (``points``)."""
    summed = np.zeros(len(positions))
    for component in given.values():
        summed += component
    centi = np.clip(np.rint(summed * 100.0), 0, MAX_SCORE_CENTI).astype(np.int64)
    return Scored(positions=positions, score_centi=centi)


def cursor_of(score_centi: int, project_id: uuid.UUID) -> Cursor:
    return (score_centi, project_id.int >> 64, project_id.int & 0xFFFF_FFFF_FFFF_FFFF)


def top(lib: Columns, scored: Scored, after: Cursor | None, limit: int) -> NDArray[np.intp]:
    """Indices (into ``scored``) of the first ``limit`` pairs after the cursor, ordered by score
    descending, then project id ascending."""
    s = scored.score_centi
    at = scored.positions
    # The ids are gathered only where the score alone does not decide: the cursor's ties and
    # the few pairs left after the threshold (a wide product has 10^5 candidates).
    if after is not None:
        cs, chi, clo = after
        chosen = np.flatnonzero(s <= cs)
        tie = s[chosen] == cs
        if tie.any():
            tied = at[chosen[tie]]
            hi, lo = lib.id_hi[tied], lib.id_lo[tied]
            keep = ~tie
            keep[tie] = (hi > chi) | ((hi == chi) & (lo > clo))
            chosen = chosen[keep]
        if len(chosen) > limit > 0:
            # every pair scoring at least the limit-th best score, ties included (sorted below)
            threshold = -np.partition(-s[chosen], limit - 1)[limit - 1]
            chosen = chosen[s[chosen] >= threshold]
    elif len(s) > limit > 0:
        # the same on the scores themselves: no index or negated copy of every candidate
        threshold = np.partition(s, len(s) - limit)[len(s) - limit]
        chosen = np.flatnonzero(s >= threshold)
    else:
        chosen = np.arange(len(s))
    kept = at[chosen]
    order = np.lexsort((lib.id_lo[kept], lib.id_hi[kept], -s[chosen]))
    return chosen[order][:limit].astype(np.intp)
