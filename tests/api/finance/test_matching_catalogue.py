"""Property: the products that accept a project, read the other way round through the products'
columns (a project's ranked products), are exactly the pairs the plain-Python reference accepts,
and exactly those the library-side masks (a product's ranked projects) list; the scores over the
catalogue are each product's own; the full re-match counts the reference pairs."""

import dataclasses
import uuid
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest
from hypothesis import event, given, settings
from hypothesis import strategies as st

from app.services.matching.catalogue import Catalogue
from app.services.matching.eligibility import (
    CRITERIA,
    DETAIL_KEYS,
    _keyed,
    _match,
    accepting,
    eligible_positions,
    match_all,
)
from app.services.matching.explanation import (
    explain,
    explain_accepted,
    explain_eligible,
    explain_many,
)
from app.services.matching.library import Library
from app.services.matching.scoring import Bests, climate_best, score, score_products
from tests.api.finance.test_matching_property import (
    PROVIDES,
    TODAY,
    _criteria,
    _row,
    criteria,
    projects,
    reference_eligible,
)
from tests.conftest import MAIN_EXAMPLES

# Every property here draws from the same few shapes: a catalogue's worth of products over a small
# library (PAIRS), a page whose projects repeat one another's values (PAGES).
PROPERTY = settings(max_examples=150, deadline=None)
PAIRS: dict[str, st.SearchStrategy[Any]] = {
    "library": st.lists(projects(), min_size=1, max_size=10),
    "products": st.lists(criteria(), min_size=1, max_size=8),
}
PAGES: dict[str, st.SearchStrategy[Any]] = {
    "distinct": st.lists(projects(), min_size=1, max_size=4),
    "picks": st.lists(st.integers(0, 3), min_size=1, max_size=12),
    "product": criteria(),
}
# A product drawn at random accepts a drawn project rarely (10 pages of 150 had a candidate): a
# property over the accepted positions draws its product again, up to REDRAWS times, until it
# accepts one of the page's projects, else lifts the last one's optional criteria (_open_to), and
# asserts that at least ACCEPTING_SHARE of its pages had some.
ACCEPTING_SHARE = 0.2
REDRAWS = 20


@st.composite
def accepting_pages(draw: st.DrawFn) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """A PAGES library and a product that, unless REDRAWS draws found none, accepts some of it."""
    distinct, picks = draw(PAGES["distinct"]), draw(PAGES["picks"])
    library = [distinct[k % len(distinct)] for k in picks]
    for _ in range(REDRAWS):
        product = draw(criteria())
        if any(reference_eligible(p, product, TODAY) for p in distinct):
            return library, product
    # None did (hypothesis's first, simplest draws rarely do): the last product with its
    # optional criteria lifted and a type the page's first project asks for, if that accepts it.
    opened = _open_to(product, library[0]) if library else product
    if any(reference_eligible(p, opened, TODAY) for p in library):
        return library, opened
    return library, product


def _open_to(product: dict[str, Any], p: dict[str, Any]) -> dict[str, Any]:
    kinds = sorted(t for t, provided in PROVIDES.items() if provided & set(p["financing_types"]))
    lifted = dict.fromkeys(OPTIONAL_CRITERIA) | {
        "requires_verification": False,
        "requires_verified_results": False,
        "accepts_two_high_transition": True,
    }
    return {**product, **lifted, "type": kinds[0] if kinds else product["type"]}


OPTIONAL_CRITERIA = (
    "objectives",
    "categories",
    "gfc_codes",
    "region_prefixes",
    "construction_statuses",
    "amount_min",
    "amount_max",
    "tenor_min_months",
    "tenor_max_months",
    "min_emission_reduction_tco2e",
    "valid_from",
    "valid_to",
)


class TestProductsAcceptingAProject:
    @settings(max_examples=200, deadline=None)
    @given(
        library=st.lists(projects(), min_size=1, max_size=12),
        products=st.lists(criteria(), min_size=1, max_size=8),
    )
    def test_both_directions_list_the_reference_pairs(
        self, library: list[dict[str, Any]], products: list[dict[str, Any]]
    ) -> None:
        ids = [uuid.uuid4() for _ in library]
        lib = Library.build([_row(i, p) for i, p in zip(ids, library, strict=True)])
        crits = [_criteria(c) for c in products]
        catalogue = Catalogue.build(crits)
        by_product = [{int(i) for i in eligible_positions(lib, crit, TODAY)} for crit in crits]
        for position, p in enumerate(library):
            accepted = {int(k) for k in accepting(catalogue, lib, position, TODAY)}
            expected = {k for k, c in enumerate(products) if reference_eligible(p, c, TODAY)}
            assert accepted == expected
            assert accepted == {k for k, listed in enumerate(by_product) if position in listed}


def _matched(
    library: list[dict[str, Any]], products: list[dict[str, Any]]
) -> tuple[Library, list[Any], Catalogue, list[Any]]:
    """The library, the products' criteria and catalogue, and each product's climate bests."""
    lib = Library.build([_row(uuid.uuid4(), p) for p in library])
    crits = [_criteria(c) for c in products]
    best = [climate_best(lib, eligible_positions(lib, crit, TODAY)) for crit in crits]
    return lib, crits, Catalogue.build(crits), best


def _accepted(
    lib: Library, crits: list[Any], catalogue: Catalogue, best: list[Any]
) -> Iterator[tuple[int, Any, Bests]]:
    """Per project: its position, the products accepting it and their climate bests."""
    for position in range(lib.size):
        ks = accepting(catalogue, lib, position, TODAY)
        yield (
            position,
            ks,
            Bests(
                ks,
                np.array([best[k].mitigation for k in ks], dtype=np.float64),
                np.array([best[k].adaptation for k in ks], dtype=np.float64),
            ),
        )


class TestScoresOverTheCatalogue:
    @PROPERTY
    @given(**PAIRS)
    def test_each_products_score_of_a_project_is_its_own_score(
        self, library: list[dict[str, Any]], products: list[dict[str, Any]]
    ) -> None:
        """A project's ranked products score every accepting product at once over the
        catalogue's columns: each score is the one ``score`` gives the pair, to the last bit."""
        lib, crits, catalogue, best = _matched(library, products)
        for position, ks, bests in _accepted(lib, crits, catalogue, best):
            at = np.array([position], dtype=np.intp)
            expected = [int(score(lib, crits[k], at, best[k]).score_centi[0]) for k in ks]
            assert score_products(catalogue, lib, position, bests).tolist() == expected

    @PROPERTY
    @given(**PAIRS)
    def test_a_pages_explanations_are_each_pairs_own(
        self, library: list[dict[str, Any]], products: list[dict[str, Any]]
    ) -> None:
        """A project's ranked page explains its products together (``explain_accepted``): each
        explanation, items, points and score, is the one ``explain`` gives the pair."""
        lib, crits, catalogue, best = _matched(library, products)
        for position, ks, bests in _accepted(lib, crits, catalogue, best):
            got = explain_accepted(catalogue, lib, [crits[k] for k in ks], position, TODAY, bests)
            assert got == [explain(lib, crits[k], position, TODAY, best[k]) for k in ks]
            assert got == [explain(lib, crits[k], position, TODAY) for k in ks]


@st.composite
def alike(draw: st.DrawFn) -> list[dict[str, Any]]:
    """Products each made of the fields of two drawn ones (a page of products that share types,
    regions, ranges, as a real catalogue's do, but differ elsewhere)."""
    pool = (draw(criteria()), draw(criteria()))
    picks = draw(st.lists(st.lists(st.booleans(), min_size=len(pool[0])), min_size=1, max_size=10))
    return [
        {name: pool[int(pick)][name] for name, pick in zip(pool[0], row, strict=False)}
        for row in picks
    ]


class TestSharedDetailTexts:
    @PROPERTY
    @given(library=st.lists(projects(), min_size=1, max_size=6), products=alike())
    def test_a_page_of_alike_products_is_explained_pair_by_pair(
        self, library: list[dict[str, Any]], products: list[dict[str, Any]]
    ) -> None:
        """``explain_accepted`` builds each distinct detail text once per page: on products that
        share most criteria each explanation is still the pair's own."""
        lib, crits, catalogue, best = _matched(library, products)
        for position, ks, bests in _accepted(lib, crits, catalogue, best):
            got = explain_accepted(catalogue, lib, [crits[k] for k in ks], position, TODAY, bests)
            assert got == [explain(lib, crits[k], position, TODAY, best[k]) for k in ks]

    @PROPERTY
    @given(project=projects(), products=st.tuples(criteria(), criteria()))
    def test_a_detail_reads_the_product_only_through_its_keyed_fields(
        self, project: dict[str, Any], products: tuple[dict[str, Any], dict[str, Any]]
    ) -> None:
        """Two products that agree on a criterion's keyed_by fields get the same detail text,
        whatever else differs (what lets a page share the texts)."""
        lib = Library.build([_row(uuid.uuid4(), project)])
        a, b = (_criteria(c) for c in products)
        for criterion, values in DETAIL_KEYS:
            mixed = dataclasses.replace(
                b, **{name: getattr(a, name) for name in criterion.keyed_by}
            )
            assert values(mixed) == values(a)
            assert criterion.detail(lib, mixed, 0) == criterion.detail(lib, a, 0)


class TestDetailsReadTheirColumns:
    @PROPERTY
    @given(pair=st.tuples(projects(), projects()), product=criteria())
    def test_a_detail_reads_the_project_only_through_its_columns(
        self, pair: tuple[dict[str, Any], dict[str, Any]], product: dict[str, Any]
    ) -> None:
        """A project that takes another's values in a criterion's ``reads`` columns gets that
        project's detail text, whatever else differs (what lets a product's page share them)."""
        lib = Library.build([_row(uuid.uuid4(), p) for p in pair])
        c = _criteria(product)
        for criterion in CRITERIA:
            copy = dataclasses.replace(lib)
            for name in criterion.reads:
                column = getattr(lib, name).copy()
                column[1] = column[0]
                setattr(copy, name, column)
            assert criterion.detail(copy, c, 1) == criterion.detail(lib, c, 0)

    @PROPERTY
    @given(**PAGES)
    def test_a_page_explained_at_once_is_each_pairs_own(
        self, distinct: list[dict[str, Any]], picks: list[int], product: dict[str, Any]
    ) -> None:
        """``explain_many`` builds each distinct detail once over its positions (projects that
        repeat one another's values share it): each explanation is still the one the pair gets
        alone, eligible or not."""
        library = [distinct[k % len(distinct)] for k in picks]
        lib = Library.build([_row(uuid.uuid4(), p) for p in library])
        c = _criteria(product)
        best = climate_best(lib, eligible_positions(lib, c, TODAY))
        positions = list(range(lib.size))
        got = explain_many(lib, c, positions, TODAY, best)
        assert got == [explain(lib, c, position, TODAY, best) for position in positions]

    @pytest.mark.parametrize(
        "examples",
        [MAIN_EXAMPLES, pytest.param(PROPERTY.max_examples, marks=pytest.mark.slow)],
        ids=["main", "long"],
    )
    def test_an_eligible_page_explained_without_masks_is_each_pairs_own(
        self, examples: int
    ) -> None:
        """``explain_eligible`` (a product's ranked page: positions it accepts) evaluates no
        mask and keeps the product's halves of the texts: its explanations are still the ones
        each pair gets alone. A page with no accepted position checks nothing, so a good share
        of the examples must reach pages with some."""
        accepting: list[bool] = []

        @settings(PROPERTY, max_examples=examples)  # the tier's count, as conftest.py's
        @given(accepting_pages())
        def explained(page: tuple[list[dict[str, Any]], dict[str, Any]]) -> None:
            library, product = page
            lib = Library.build([_row(uuid.uuid4(), p) for p in library])
            c = _criteria(product)
            positions = eligible_positions(lib, c, TODAY).tolist()
            accepting.append(bool(positions))
            event("accepted positions", "some" if positions else "none")
            best = climate_best(lib, np.array(positions, dtype=np.intp))
            got = explain_eligible(lib, c, positions, TODAY, best)
            assert got == [explain(lib, c, position, TODAY, best) for position in positions]

        explained()
        assert sum(accepting) >= ACCEPTING_SHARE * len(accepting), (
            f"{sum(accepting)} of {len(accepting)} examples reached a page with candidates"
        )


class TestFullRematch:
    @PROPERTY
    @given(
        library=st.lists(projects(), max_size=150),
        products=st.lists(criteria(), min_size=1, max_size=6),
        shared=st.sets(st.sampled_from([c.name for c in CRITERIA])),
    )
    def test_counts_and_climate_bests_are_the_reference_ones(
        self,
        library: list[dict[str, Any]],
        products: list[dict[str, Any]],
        shared: set[str],
    ) -> None:
        """The full re-match over the region index, with any choice of which masks are packed
        and shared (the rest run over candidates), counts exactly the reference pairs and finds
        the best climate benefits among them. Up to 150 projects: runs cross 64-project words."""
        lib = Library.build([_row(uuid.uuid4(), p) for p in library])
        crits = [_criteria(c) for c in products]
        expected = [
            [i for i, p in enumerate(library) if reference_eligible(p, c, TODAY)] for c in products
        ]
        for k, (crit, got) in enumerate(zip(crits, match_all(lib, crits, TODAY), strict=True)):
            want = expected[k] if crit.is_valid_on(TODAY) else []
            assert got.eligible == len(want)
            assert got.climate_best == climate_best(lib, np.array(want, dtype=np.intp))
        if not lib.size:
            return
        for k, crit in enumerate(crits):
            if not crit.is_valid_on(TODAY):
                continue  # the re-match leaves it out before any mask
            positions = np.array(expected[k], dtype=np.intp)
            for chosen in (
                # every mask packed and shared (a nationwide product then counts bits)
                _match(lib.index, crit, _keyed(crit), lambda key: True),
                _match(lib.index, crit, _keyed(crit), lambda key: key[0] in shared),
            ):
                assert chosen.eligible == len(positions)
                assert chosen.climate_best == climate_best(lib, positions)
