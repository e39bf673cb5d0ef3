"""Why a pair matches or not: every criterion (passed or not, the values compared) and, for an
eligible pair, each score component's points. The texts come from the criteria and component
tables, so an explanation always describes the masks and shares that decided the pair."""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

import numpy as np

from app.services.matching.catalogue import Catalogue
from app.services.matching.criteria import Criteria
from app.services.matching.eligibility import CRITERIA, DETAIL_KEYS, eligible_positions
from app.services.matching.library import Library
from app.services.matching.scoring import (
    COMPONENTS,
    Bests,
    ClimateBest,
    climate_best,
    points,
    total,
)


@dataclass(frozen=True)
class Explanation:
    eligible: bool
    score: float | None
    items: list[dict[str, Any]]


def _availability(c: Criteria, today: date) -> dict[str, Any]:
    return {
        "criterion": "product_available",
        "passed": c.is_valid_on(today),
        "detail": (
            f"product {'active' if c.is_active else 'not active'}; valid "
            f"{c.valid_from or 'any'}–{c.valid_to or 'any'}; today {today}"
        ),
        "points": None,
    }


def explain_many(
    lib: Library,
    c: Criteria,
    positions: Sequence[int],
    today: date,
    best: ClimateBest | None = None,
) -> list[Explanation]:
    """For each position: every criterion (passed or not, the values compared) and, if eligible,
    the points. Criteria and points are evaluated once over all the positions.

    ``best`` holds the climate denominators when the caller already computed the product's
    eligible set; otherwise they are computed here.
    """
    idx = np.asarray(positions, dtype=np.intp)
    availability = _availability(c, today)
    masks = [(criterion, criterion.mask(lib, c, idx)) for criterion in CRITERIA]
    items: list[list[dict[str, Any]]] = [[dict(availability)] for _ in range(len(idx))]
    for criterion, m in masks:
        for k, position in enumerate(idx):
            items[k].append(
                {
                    "criterion": criterion.name,
                    "passed": True if m is None else bool(m[k]),
                    "detail": criterion.detail(lib, c, int(position)),
                    "points": None,
                }
            )
    eligible = [all(item["passed"] for item in row) for row in items]
    out = [Explanation(eligible=False, score=None, items=row) for row in items]
    chosen = [k for k, ok in enumerate(eligible) if ok]
    if not chosen:
        return out
    if best is None:
        # The climate component is relative to the product's other eligible projects.
        best = climate_best(lib, eligible_positions(lib, c, today))
    sub = idx[chosen]
    given = points(lib, c, sub, best)
    scored = total(sub, given)
    shares = c.weight_shares()
    for j, k in enumerate(chosen):
        row = items[k]
        for component in COMPONENTS:
            detail = (
                component.detail
                if component.describe is None
                else component.describe(lib, int(sub[j]), best)
            )
            row.append(
                {
                    "criterion": component.name,
                    "passed": True,
                    "detail": f"{detail} (max {shares[component.name]:.2f} points)",
                    "points": round(float(given[component.name][j]), 2),
                }
            )
        out[k] = Explanation(eligible=True, score=int(scored.score_centi[j]) / 100, items=row)
    return out


def explain(
    lib: Library, c: Criteria, position: int, today: date, best: ClimateBest | None = None
) -> Explanation:
    """One pair's explanation (see explain_many)."""
    return explain_many(lib, c, [position], today, best)[0]


def explain_accepted(
    cat: Catalogue,
    lib: Library,
    criteria: Sequence[Criteria],
    position: int,
    today: date,
    bests: Bests,
) -> list[Explanation]:
    """The project at ``position`` explained against products that accept it (a project's
    ranked page): the catalogue positions and climate denominators in ``bests``, the products'
    criteria in the same order. The same items as ``explain`` gives each pair, built for the
    page at once: every criterion passed (that is what accepting means, the same rules as the
    masks), and each component's points come from its ``over_products`` share over the page's
    products, the points ``score_products`` sums (a property test holds them to ``share``'s).
    Only the per-criterion detail texts stay per pair."""
    maxima = cat.weight_shares[bests.products]
    given = [
        component.over_products(cat, lib, position, bests) * maxima[:, k]
        for k, component in enumerate(COMPONENTS)
    ]
    # The score as score_products sums it: the components' points in the table's order.
    summed = np.zeros(len(bests.products))
    for column in given:
        summed += column
    scores = total(bests.products, {"summed": summed}).score_centi
    # The detail texts were half the page's cost: one project against products that mostly
    # share a type, a region, a range, so each distinct text is built once per page. A detail
    # reads the product only through its criterion's keyed_by fields; the key is their repr,
    # so values that compare equal but print apart (0.0 and -0.0) never share a text.
    texts: dict[tuple[str, str], str] = {}
    out = []
    for j, c in enumerate(criteria):
        row = [_availability(c, today)]
        for criterion, values in DETAIL_KEYS:
            key = (criterion.name, repr(values(c)))
            text = texts.get(key)
            if text is None:
                text = texts[key] = criterion.detail(lib, c, position)
            row.append(
                {"criterion": criterion.name, "passed": True, "detail": text, "points": None}
            )
        best = ClimateBest(float(bests.mitigation[j]), float(bests.adaptation[j]))
        shares = c.weight_shares()
        for k, component in enumerate(COMPONENTS):
            detail = (
                component.detail
                if component.describe is None
                else component.describe(lib, position, best)
            )
            row.append(
                {
                    "criterion": component.name,
                    "passed": True,
                    "detail": f"{detail} (max {shares[component.name]:.2f} points)",
                    "points": round(float(given[k][j]), 2),
                }
            )
        out.append(Explanation(eligible=True, score=int(scores[j]) / 100, items=row))
    return out
