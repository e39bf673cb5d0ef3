"""A project's ranked products over a generated library (``bench.generate``, the national data set
at a small size): every page, first and later ones, is the one the plain computation gives: each
product checked, scored and explained on its own (``explain``, ``score``), sorted by (-score,
rate, id) and cut after the cursor, down to the bytes of the explanations' JSON."""

from datetime import date
from decimal import Decimal
from typing import Any

import numpy as np
import orjson
import pytest

pytest.importorskip("stdnum")

from app.repositories.matching import FeedPosition
from app.services.matching import service
from app.services.matching.eligibility import accepting, eligible_positions
from app.services.matching.explanation import Explanation, explain
from app.services.matching.library import Library
from app.services.matching.scoring import ClimateBest, climate_best, score
from app.services.matching.store import ProductEntry, Snapshot
from bench.generate import Spec, matching_rows, product_entries

DAY = date(2026, 6, 1)
_NO_RATE = Decimal("1000")


@pytest.fixture(scope="module")
def snap() -> Snapshot:
    spec = Spec(projects=2_500, products=400, seed=14)
    lib = Library.build(list(matching_rows(spec)))
    snapshot = Snapshot(library=lib, products=product_entries(spec), position=FeedPosition(0))
    service.rematch_snapshot(snapshot, DAY)
    return snapshot


_BESTS: dict[Any, ClimateBest] = {}


def _best(lib: Library, entry: ProductEntry) -> ClimateBest:
    """The product's climate denominators over its eligible projects, computed plainly."""
    if entry.id not in _BESTS:
        _BESTS[entry.id] = climate_best(lib, eligible_positions(lib, entry.criteria, DAY))
    return _BESTS[entry.id]


_PLAIN: dict[int, list[tuple[Any, ProductEntry, Explanation]]] = {}


def _plain(snap: Snapshot, position: int) -> list[tuple[Any, ProductEntry, Explanation]]:
    """Every product that accepts the project, explained alone, in the list's order."""
    if position not in _PLAIN:
        _PLAIN[position] = _computed(snap, position)
    return _PLAIN[position]


def _computed(snap: Snapshot, position: int) -> list[tuple[Any, ProductEntry, Explanation]]:
    lib = snap.library
    at = np.array([position], dtype=np.intp)
    found = []
    for entry in snap.products:
        best = _best(lib, entry)
        explanation = explain(lib, entry.criteria, position, DAY, best)
        if not explanation.eligible:
            continue
        centi = int(score(lib, entry.criteria, at, best).score_centi[0])
        rate = entry.rate_min if entry.rate_min is not None else _NO_RATE
        found.append(((-centi, rate, entry.id.hex), entry, explanation))
    found.sort(key=lambda t: t[0])
    return found


def _json(page: list[tuple[Any, ProductEntry, Explanation]]) -> bytes:
    return orjson.dumps(
        [[key[0], str(key[1]), key[2], e.id.hex, x.score, x.items] for key, e, x in page]
    )


def _positions(snap: Snapshot) -> list[int]:
    """Projects with many accepting products first (several pages), then a spread of others."""
    lib = snap.library
    counts = sorted(
        range(lib.size),
        key=lambda p: -len(accepting(snap.catalogue, lib, p, DAY)),
    )
    return counts[:8] + counts[8 :: max(1, lib.size // 24)]


@pytest.mark.parametrize("limit", [1, 7, 50])
def test_every_page_is_the_plain_computation(snap: Snapshot, limit: int) -> None:
    listed = 0
    for position in _positions(snap):
        expected = _plain(snap, position)
        after = None
        start = 0
        while True:
            page, more = service.ranked_products(snap, position, after, limit, DAY)
            want = expected[start : start + limit]
            assert [(k, e.id) for k, e, _ in page] == [(k, e.id) for k, e, _ in want]
            assert [x for _, _, x in page] == [x for _, _, x in want]
            assert _json(page) == _json(want)
            assert more == (start + limit < len(expected))
            listed += len(page)
            if not more:
                break
            after = page[-1][0]
            start += limit
        assert start + len(page) == len(expected)
    assert listed > 10 * limit or (limit == 50 and listed > 200)


def test_a_cursor_between_products_resumes_after_it(snap: Snapshot) -> None:
    """A cursor names a (score, rate, id) that need not be a listed product's (an edited
    product's old rate, a withdrawn one): the page starts at the first key after it."""
    position = _positions(snap)[0]
    expected = _plain(snap, position)
    assert len(expected) > 3
    for k in range(len(expected) - 1):
        neg, rate, hex_id = expected[k][0]
        for after in ((neg, rate, hex_id[:-1] + "0"), (neg, rate + Decimal("0.0005"), hex_id)):
            page, _ = service.ranked_products(snap, position, after, 5, DAY)
            want = [t for t in expected if t[0] > after][:5]
            assert [k for k, _, _ in page] == [k for k, _, _ in want]
            assert _json(page) == _json(want)
