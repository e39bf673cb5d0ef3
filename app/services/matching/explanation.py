"""Why a pair matches or not: every criterion (passed or not, the values compared) and, for an
eligible pair, each score component's points. The texts come from the criteria and component
tables, so an explanation always describes the masks and shares that decided the pair."""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

import numpy as np
from numpy.typing import NDArray

from app.services.matching.catalogue import Catalogue
from app.services.matching.criteria import Criteria
from app.services.matching.eligibility import CRITERIA, DETAIL_KEYS, eligible_positions
from app.services.matching.library import Library
from app.services.matching.readonly import ReadOnlyItem
from app.services.matching.scoring import (
    COMPONENTS,
    Bests,
    ClimateBest,
    best_figures,
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


def _project_keys(lib: Library, columns: tuple[str, ...], idx: NDArray[np.intp]) -> list[Any]:
    """Per position, the values of ``columns`` (a criterion's ``reads``): equal keys, equal
    detail texts. Floats by their repr, so values that compare equal but print apart (0.0 and
    -0.0) never share a text."""
    values = []
    for name in columns:
        column = getattr(lib, name)[idx]
        listed = column.tolist()
        values.append([repr(v) for v in listed] if column.dtype.kind == "f" else listed)
    return values[0] if len(values) == 1 else list(zip(*values, strict=True))


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
    eligible set; otherwise they are computed here. A criterion's item is built once per
    distinct value of the columns its detail reads (``reads``) and verdict, so positions may
    share item dicts (read them, never change them).
    """
    idx = np.asarray(positions, dtype=np.intp)
    n = len(idx)
    ints = idx.tolist()
    availability = _availability(c, today)
    items: list[list[dict[str, Any]]] = [[dict(availability)] for _ in range(n)]
    passing = np.full(n, availability["passed"], dtype=np.bool_)
    for criterion in CRITERIA:
        m = criterion.mask(lib, c, idx)
        if m is None:
            verdicts = [True] * n
        else:
            passing &= m
            verdicts = m.tolist()
        built: dict[tuple[Any, bool], dict[str, Any]] = {}
        for k, key in enumerate(_project_keys(lib, criterion.reads, idx)):
            passed = verdicts[k]
            item = built.get((key, passed))
            if item is None:
                item = built[key, passed] = {
                    "criterion": criterion.name,
                    "passed": passed,
                    "detail": criterion.detail(lib, c, ints[k]),
                    "points": None,
                }
            items[k].append(item)
    out = [Explanation(eligible=False, score=None, items=row) for row in items]
    chosen = np.flatnonzero(passing).tolist()
    if not chosen:
        return out
    if best is None:
        # The climate component is relative to the product's other eligible projects.
        best = climate_best(lib, eligible_positions(lib, c, today))
    sub = idx[chosen]
    given = points(lib, c, sub, best)
    scored = total(sub, given).score_centi.tolist()
    given_points = [given[component.name].tolist() for component in COMPONENTS]
    kept = prepared(c)
    for j, k in enumerate(chosen):
        row = items[k]
        for t, component in enumerate(COMPONENTS):
            describe = component.describe
            detail = (
                kept.fixed[t] if describe is None else describe(lib, ints[k])(best) + kept.maxima[t]
            )
            row.append(
                {
                    "criterion": component.name,
                    "passed": True,
                    "detail": detail,
                    "points": round(given_points[t][j], 2),
                }
            )
        out[k] = Explanation(eligible=True, score=scored[j] / 100, items=row)
    return out


def explain_eligible(
    lib: Library, c: Criteria, positions: Sequence[int], today: date, best: ClimateBest
) -> list[Explanation]:
    """``explain_many`` for positions the product accepts (a product's ranked page), given its
    climate denominators: the same items, built without evaluating any mask again (accepting is
    passing every criterion) and with the product's halves of the texts kept per product version
    (``prepared``), so a page pays per listed project only the project's halves, each built once
    per distinct value of the columns it reads, and the points. Its items are shared between the
    page's explanations (read them, never change them)."""
    idx = np.asarray(positions, dtype=np.intp)
    if not len(idx):
        return []
    ints = idx.tolist()
    kept = prepared(c)
    columns: list[list[dict[str, Any]]] = [[_availability_item(c, today)] * len(ints)]
    for t, criterion in enumerate(CRITERIA):
        tail = kept.tails[t]
        built: dict[Any, dict[str, Any]] = {}
        column = []
        for k, key in enumerate(_project_keys(lib, criterion.reads, idx)):
            item = built.get(key)
            if item is None:
                item = built[key] = {
                    "criterion": criterion.name,
                    "passed": True,
                    "detail": criterion.head(lib, ints[k]) + tail,
                    "points": None,
                }
            column.append(item)
        columns.append(column)
    given = points(lib, c, idx, best)
    scores = total(idx, given).score_centi.tolist()
    figures = best_figures(best)
    for t, component in enumerate(COMPONENTS):
        name, describe = component.name, component.describe
        # round() of a Python float gives the same as of the numpy scalar, at a fraction of it
        rounded = [round(x, 2) for x in given[name].tolist()]
        if describe is None:
            fixed = kept.fixed[t]
            # -0.0 equals 0.0 but prints apart: keyed by its text, never by the value alone
            shared: dict[str, dict[str, Any]] = {}
            column = []
            for x in rounded:
                item = shared.get(text := repr(x))
                if item is None:
                    item = shared[text] = {
                        "criterion": name,
                        "passed": True,
                        "detail": fixed,
                        "points": x,
                    }
                column.append(item)
        else:
            maximum = kept.maxima[t]
            column = [
                {
                    "criterion": name,
                    "passed": True,
                    "detail": describe(lib, i)(best, figures) + maximum,
                    "points": x,
                }
                for i, x in zip(ints, rounded, strict=True)
            ]
        columns.append(column)
    return [
        Explanation(eligible=True, score=score / 100, items=list(row))
        for score, row in zip(scores, zip(*columns, strict=True), strict=True)
    ]


def explain(
    lib: Library, c: Criteria, position: int, today: date, best: ClimateBest | None = None
) -> Explanation:
    """One pair's explanation (see explain_many)."""
    return explain_many(lib, c, [position], today, best)[0]


@dataclass(frozen=True, slots=True)
class _Prepared:
    """The parts of a product's explanation that depend on the product alone."""

    keys: tuple[str, ...]
    """Per criterion (``DETAIL_KEYS``' order) its name and keyed_by values: products with equal
    keys share the detail text for any one project."""
    maxima: tuple[str, ...]
    """Per score component, the end of its detail: `` (max N points)``."""
    fixed: tuple[str, ...]
    """Per score component, its whole text where the detail does not depend on the project
    (``describe`` is None)."""
    tails: tuple[str, ...]
    """Per criterion, the product's half of its detail text (``Criterion.tail``)."""


def prepared(c: Criteria) -> _Prepared:
    """What a product's explanations read of it alone, kept per product version."""
    found: _Prepared | None = c.memo.get("explanation")
    if found is None:
        shares = c.weight_shares()
        maxima = tuple(f" (max {shares[component.name]:.2f} points)" for component in COMPONENTS)
        # the keyed_by values' repr, so values that compare equal but print apart (0.0 and
        # -0.0) never share a text
        keys = tuple(f"{criterion.name}={values(c)!r}" for criterion, values in DETAIL_KEYS)
        found = c.memo["explanation"] = _Prepared(
            keys=keys,
            tails=tuple(criterion.tail(c) for criterion, _ in DETAIL_KEYS),
            maxima=maxima,
            fixed=tuple(
                component.detail + tail for component, tail in zip(COMPONENTS, maxima, strict=True)
            ),
        )
    return found


def _best_figures(c: Criteria, m: float, a: float) -> tuple[ClimateBest, tuple[str, str]]:
    """A product's climate denominators and their printed figures, kept while they stay the
    same (a snapshot's): not zeros, which compare equal but print apart (0.0 and -0.0)."""
    found: tuple[float, float, ClimateBest, tuple[str, str]] | None = c.memo.get("bests")
    if found is not None and found[0] == m and found[1] == a and m and a:
        return found[2], found[3]
    best = ClimateBest(m, a)
    figures = best_figures(best)
    c.memo["bests"] = (m, a, best, figures)
    return best, figures


def _availability_item(c: Criteria, today: date) -> dict[str, Any]:
    """The product_available item, kept for the day asked last: one dict shared by every page
    that lists the product that day, read-only so that no answer can change the next ones'."""
    found: tuple[date, dict[str, Any]] | None = c.memo.get("available")
    if found is None or found[0] != today:
        found = c.memo["available"] = (today, ReadOnlyItem(_availability(c, today)))
    return found[1]


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

    What depends on the product alone is built once per product version (``_Prepared``, the
    availability item once per day), what depends on the project alone once per page (the
    criteria's and the climate's halves of their texts), and each item once per distinct
    value on the page, so the page's items share those dicts (read them, never change them).
    The items are built a column (a criterion or a component) at a time: what a page costs
    per listed product is what a full page at the national scale pays fifty times."""
    maxima = cat.weight_shares[bests.products]
    given = [
        component.over_products(cat, lib, position, bests) * maxima[:, k]
        for k, component in enumerate(COMPONENTS)
    ]
    # The score as score_products sums it: the components' points in the table's order.
    summed = np.zeros(len(bests.products))
    for column in given:
        summed += column
    scores = total(bests.products, {"summed": summed}).score_centi.tolist()
    preps = [c.memo.get("explanation") or prepared(c) for c in criteria]
    columns = [[_availability_item(c, today) for c in criteria]]
    # The detail texts were half the page's cost: one project against products that mostly
    # share a type, a region, a range, so each distinct criterion item is built once per page
    # (a detail reads the product only through its criterion's keyed_by fields), from the
    # project's half of the text (once per page) and the product's (once per product version).
    for t, (criterion, _) in enumerate(DETAIL_KEYS if criteria else ()):
        head = criterion.head(lib, position)
        keys = [p.keys[t] for p in preps]
        built = {
            key: {
                "criterion": criterion.name,
                "passed": True,
                "detail": head + p.tails[t],
                "points": None,
            }
            for key, p in dict(zip(keys, preps, strict=True)).items()
        }
        columns.append(list(map(built.__getitem__, keys)))
    # Python floats: round() of one gives the same as of the numpy scalar, at a fraction of
    # the cost.
    for k, (component, column) in enumerate(zip(COMPONENTS, given, strict=True)):
        name = component.name
        points = column.tolist()
        if component.describe is None:
            details = [p.fixed[k] for p in preps]
            if np.signbit(column).any():  # -0.0 equals 0.0 but prints apart: nothing shared
                pairs: list[Any] = list(range(len(points)))
            else:  # a few distinct (detail, points) per page but for amount_fit's points
                pairs = list(zip(details, points, strict=True))
            built = {}
            for pair, detail, x in zip(pairs, details, points, strict=True):
                if pair not in built:
                    built[pair] = {
                        "criterion": name,
                        "passed": True,
                        "detail": detail,
                        "points": round(x, 2),
                    }
            columns.append(list(map(built.__getitem__, pairs)))
            continue
        describe = component.describe(lib, position)
        # products with the same denominators (often the same best project) share the text
        texts: dict[tuple[float, float], str] = {}
        items = []
        for c, p, m, a, x in zip(
            criteria,
            preps,
            bests.mitigation.tolist(),
            bests.adaptation.tolist(),
            points,
            strict=True,
        ):
            text = texts.get((m, a)) if m and a else None
            if text is None:
                best, figures = _best_figures(c, m, a)
                text = texts[m, a] = describe(best, figures)
            items.append(
                {
                    "criterion": name,
                    "passed": True,
                    "detail": text + p.maxima[k],
                    "points": round(x, 2),
                }
            )
        columns.append(items)
    return [
        Explanation(eligible=True, score=score / 100, items=list(row))
        for score, row in zip(scores, zip(*columns, strict=True), strict=True)
    ]
