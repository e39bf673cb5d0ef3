"""Packed masks: ``unpack`` lists exactly the rows a plain byte-per-row unpacking lists, on each
of its paths (the set bits peeled from a wide sparse run, every bit unpacked otherwise); and a
product's ranked pages over a library wide enough to take those paths, filtered and paged, are
the pages a plain evaluation of every criterion over every project gives."""

import random
import uuid
from datetime import date
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from numpy.typing import NDArray

from app.models.flags import CATEGORIES
from app.services.matching import library as library_module
from app.services.matching.criteria import CONSTRUCTION_CODES, OBJECTIVE_CODES, Criteria
from app.services.matching.eligibility import CRITERIA
from app.services.matching.library import Library, Words, pack, unpack
from app.services.matching.scoring import climate_best, cursor_of, score
from app.services.matching.service import ProjectFilters, ranked_projects, rematch_snapshot
from app.services.matching.store import ProductEntry, Snapshot
from bench.generate import Spec, matching_rows, product_entries

WIDE_WORDS, WIDE_SHARE = 256, 40
"""``SPARSE_WORDS`` and ``SPARSE_SHARE`` while these tests run: runs from 256 words (16,384
rows) with under one row in 40 set are peeled, so a library of 20,000 projects and its products
reach both paths (at the real thresholds it would take a library of 160,000). Which path runs
decides the cost only, never the rows."""


@pytest.fixture(autouse=True)
def _peel_smaller_runs(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(library_module, "SPARSE_WORDS", WIDE_WORDS)
    monkeypatch.setattr(library_module, "SPARSE_SHARE", WIDE_SHARE)


def _plain(words: Words, lo: int, hi: int, base: int) -> NDArray[np.intp]:
    bits = np.unpackbits(words.view(np.uint8), bitorder="little")
    found: NDArray[np.intp] = np.flatnonzero(bits[lo - base : hi - base]) + lo
    return found


@settings(max_examples=300, deadline=None)
@given(
    rows=st.integers(min_value=1, max_value=4 * WIDE_WORDS * 64),
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
    """A generated library wider than ``WIDE_WORDS`` words, and its catalogue."""
    spec = Spec(projects=25_000, products=120)
    lib = Library.build(list(matching_rows(spec)))
    assert lib.size > WIDE_WORDS * 64
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


def _plain_list(
    lib: Library, c: Criteria, day: date, f: ProjectFilters
) -> list[tuple[int, uuid.UUID]]:
    """Every pair of the product's list under ``f``, in order: ``_plain_page`` without a limit,
    the filters applied to the plain positions one by one."""
    ranked = _plain_page(lib, c, day, lib.size)
    prefix = f.region_code or ""
    out = []
    for score_centi, p in ranked:
        if not f"{int(lib.region[p]):06d}".startswith(prefix):
            continue
        if f.category and not int(lib.categories[p]) & CATEGORIES.bit(f.category):
            continue
        if f.objective and int(lib.objective[p]) != OBJECTIVE_CODES[f.objective]:
            continue
        if (
            f.construction_status
            and int(lib.cstatus[p]) != CONSTRUCTION_CODES[f.construction_status]
        ):
            continue
        if f.min_score is not None and score_centi < round(f.min_score * 100):
            continue
        out.append((score_centi, lib.ids[p]))
    return out


_FILTERS = st.builds(
    ProjectFilters,
    region_code=st.sampled_from([None, "11", "44", "4403", "51", "65"]),
    category=st.sampled_from([None, "M1", "M2", "A1"]),
    objective=st.sampled_from([None, "mitigation", "adaptation", "both"]),
    construction_status=st.sampled_from([None, "operational", "planning"]),
    min_score=st.sampled_from([None, 20.0, 45.5, 60.0]),
)


@settings(max_examples=60, deadline=None)
@given(
    pick=st.integers(min_value=0, max_value=10**6),
    filters=_FILTERS,
    limit=st.sampled_from([1, 7, 50]),
)
def test_ranked_pages_with_filters_walk_the_plain_order(
    wide_rematched: tuple[Library, list[ProductEntry]],
    pick: int,
    filters: ProjectFilters,
    limit: int,
) -> None:
    """Each page after the last one's cursor, under any filters, is the next slice of the plain
    list, until a page says no more follow; wide products reach every path of ``unpack``."""
    lib, products = wide_rematched
    entry = products[pick % len(products)]
    day = date(2026, 6, 1)
    expected = _plain_list(lib, entry.criteria, day, filters)
    served: list[tuple[int, uuid.UUID]] = []
    after = None
    for _ in range(4):
        page = ranked_projects(lib, entry.criteria, filters, after, limit, day, False)
        served += list(zip(page.scores_centi, page.ids, strict=True))
        assert served == expected[: len(served)]
        assert page.more == (len(expected) > len(served))
        if not page.more:
            break
        after = cursor_of(page.scores_centi[-1], page.ids[-1])


@pytest.fixture(scope="module")
def wide_rematched(wide: tuple[Library, list[ProductEntry]]) -> tuple[Library, list[ProductEntry]]:
    """``wide`` with the masks every product shares kept, as after the app's startup."""
    from app.repositories.matching import FeedPosition

    lib, products = wide
    rematch_snapshot(Snapshot(library=lib, products=products, position=FeedPosition(0)))
    return wide


def test_wide_products_take_every_unpack_path(
    wide_rematched: tuple[Library, list[ProductEntry]], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The generated catalogue's products over ``wide`` unpack their runs through the peeled
    bits and the plain unpacking, so the property above covers both."""
    lib, products = wide_rematched
    taken: dict[str, int] = {"_set_bits": 0}
    for name in taken:
        original = getattr(library_module, name)

        def counted(*args: Any, _name: str = name, _original: Any = original) -> Any:
            taken[_name] += 1
            return _original(*args)

        monkeypatch.setattr(library_module, name, counted)
    plain = np.unpackbits
    unpacked: list[int] = []

    def counted_plain(*args: Any, **kwargs: Any) -> Any:
        unpacked.append(1)
        return plain(*args, **kwargs)

    monkeypatch.setattr(np, "unpackbits", counted_plain)
    day = date(2026, 6, 1)
    for entry in products:
        ranked_projects(lib, entry.criteria, ProjectFilters(), None, 50, day, False)
    assert taken["_set_bits"] and unpacked, (taken, len(unpacked))
