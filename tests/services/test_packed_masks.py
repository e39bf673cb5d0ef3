"""Packed masks: ``unpack`` lists exactly the rows a plain byte-per-row unpacking lists, on both
of its paths (the set bits peeled from a wide sparse run, every bit unpacked otherwise); and a
product's ranked pages over a library wide enough to take the peeled path are the pages a plain
evaluation of every criterion over every project gives."""

import random
from datetime import date
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from numpy.typing import NDArray

from app.services.matching import library as library_module
from app.services.matching.criteria import Criteria
from app.services.matching.eligibility import CRITERIA
from app.services.matching.library import SPARSE_WORDS, Library, Words, pack, unpack
from app.services.matching.scoring import climate_best, score
from app.services.matching.service import ProjectFilters, ranked_projects, rematch_snapshot
from app.services.matching.store import ProductEntry, Snapshot
from bench.generate import Spec, matching_rows, product_entries


def _plain(words: Words, lo: int, hi: int, base: int) -> NDArray[np.intp]:
    bits = np.unpackbits(words.view(np.uint8), bitorder="little")
    found: NDArray[np.intp] = np.flatnonzero(bits[lo - base : hi - base]) + lo
    return found


@settings(max_examples=300, deadline=None)
@given(
    rows=st.integers(min_value=1, max_value=4 * SPARSE_WORDS * 64),
    density=st.sampled_from([0.0, 1e-4, 1e-3, 0.01, 0.03, 0.2, 1.0]),
    seed=st.integers(min_value=0, max_value=2**32 - 1),
    bounds=st.tuples(st.floats(0, 1), st.floats(0, 1)),
)
def test_unpack_lists_the_rows_a_plain_unpacking_lists(
    rows: int, density: float, seed: int, bounds: tuple[float, float]
) -> None:
    rng = np.random.default_rng(seed)
    mask = rng.random(rows) < density
    mask[rng.integers(0, rows, 3)] = True  # words with bits in the first and last places too
    a, b = sorted(int(x * rows) for x in bounds)
    w0 = a // 64
    words = pack(mask)[w0 : -(-b // 64)]
    found = unpack(words, a, b, w0 * 64)
    assert found.dtype == np.intp
    assert found.tolist() == _plain(words, a, b, w0 * 64).tolist()


@pytest.fixture(scope="module")
def wide() -> tuple[Library, list[ProductEntry]]:
    """A generated library wider than ``SPARSE_WORDS`` words, and its catalogue."""
    spec = Spec(projects=25_000, products=120)
    lib = Library.build(list(matching_rows(spec)))
    assert lib.size > SPARSE_WORDS * 64
    return lib, product_entries(spec)


def _plain_page(lib: Library, c: Criteria, day: date, limit: int) -> list[tuple[int, int]]:
    """(score in hundredths, position) of the first ``limit`` pairs: every criterion's mask
    over every project, scored, sorted by score then id."""
    mask = lib.alive.copy() if c.is_valid_on(day) else np.zeros(lib.size, dtype=np.bool_)
    for criterion in CRITERIA:
        m = criterion.mask(lib, c, slice(0, lib.size))
        if m is not None:
            mask &= m
    positions = np.flatnonzero(mask)
    scored = score(lib, c, positions, climate_best(lib, positions))
    ranked = sorted(
        zip(scored.score_centi.tolist(), positions.tolist(), strict=True),
        key=lambda t: (-t[0], lib.ids[t[1]].int),
    )
    return ranked[:limit]


@pytest.mark.parametrize("rematched", [False, True])
def test_ranked_pages_over_a_wide_library_are_the_plain_pages(
    wide: tuple[Library, list[ProductEntry]], rematched: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    lib, products = wide
    day = date(2026, 6, 1)
    if rematched:  # the masks every product shares are kept, as after the app's startup
        from app.repositories.matching import FeedPosition

        rematch_snapshot(Snapshot(library=lib, products=products, position=FeedPosition(0)), day)
    peeled: list[int] = []
    set_bits = library_module._set_bits

    def counted(*args: Any) -> NDArray[np.intp]:
        peeled.append(1)
        return set_bits(*args)

    monkeypatch.setattr(library_module, "_set_bits", counted)
    listed = 0
    for entry in random.Random(3).sample(products, 40):
        page = ranked_projects(lib, entry.criteria, ProjectFilters(), None, 20, day, False)
        expected = _plain_page(lib, entry.criteria, day, 20)
        assert page.scores_centi == [s for s, _ in expected]
        assert page.ids == [lib.ids[p] for _, p in expected]
        listed += len(page.ids)
    assert peeled, "no product took the peeled path"
    assert listed > 200
