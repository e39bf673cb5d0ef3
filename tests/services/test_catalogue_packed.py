"""The catalogue's packed masks by value (``catalogue.Packed``): a project's accepting products
read through them (``eligibility.accepting``) are exactly those of a pass of every criterion's
``accepts`` over the whole catalogue; each criterion's ``packed`` is its ``accepts``; ``accepts``
over some products is ``accepts`` over all of them at those products. A product's ranked page
given the climate denominators the snapshot keeps (``service.kept_product``) is the page it
computes without them. Through HTTP, a project's matches follow products created, edited and
paused (the masks are built with the catalogue, anew whenever a product changes)."""

import random
import uuid
from datetime import date, timedelta
from typing import Any

import httpx
import numpy as np
from fastapi import FastAPI
from hypothesis import event, given, settings
from hypothesis import strategies as st
from numpy.typing import NDArray

from app.repositories.matching import FeedPosition
from app.services.matching import service
from app.services.matching.catalogue import Catalogue
from app.services.matching.eligibility import CRITERIA, accepting
from app.services.matching.library import Library, unpack
from app.services.matching.scoring import cursor_of
from app.services.matching.store import ProductEntry, Snapshot
from tests.api.finance.test_matching_catalogue import _open_to
from tests.api.finance.test_matching_property import TODAY, _criteria, _row, criteria, projects
from tests.conftest import Keys
from tests.factories import institution, library_project, product

PROPERTY = settings(max_examples=150, deadline=None)


def scan(cat: Catalogue, lib: Library, position: int, today: date) -> NDArray[np.intp]:
    """``accepting`` as it was: every criterion's ``accepts`` over every product, ANDed."""
    mask = cat.valid_on(today)
    for criterion in CRITERIA:
        m = criterion.accepts(cat, lib, position, slice(None))
        if m is not None:
            mask = mask & m
    return np.flatnonzero(mask).astype(np.intp)


@st.composite
def catalogues(draw: st.DrawFn) -> tuple[Library, Catalogue]:
    """A small library and a catalogue of up to a few hundred products (several words of bits),
    drawn as a few distinct products repeated in a shuffled order. A product drawn at random
    rarely accepts a drawn project, so each distinct one is also kept with its optional
    criteria lifted toward one of the library's projects (``_open_to``), which mostly accepts
    it and keeps the criteria it cannot lift (verification, a type, its day)."""
    library = draw(st.lists(projects(), min_size=1, max_size=8))
    drawn = draw(st.lists(criteria(), min_size=1, max_size=8))
    distinct = drawn + [
        {**_open_to(c, library[k % len(library)]), **{f: c[f] for f in _KEPT}}
        for k, c in enumerate(drawn)
    ]
    count = draw(st.integers(min_value=1, max_value=300))
    order = random.Random(draw(st.integers(0, 2**32 - 1)))
    products = [distinct[order.randrange(len(distinct))] for _ in range(count)]
    lib = Library.build([_row(uuid.uuid4(), p) for p in library])
    return lib, Catalogue.build([_criteria(c) for c in products])


_KEPT = (
    "requires_verification",
    "accepts_two_high_transition",
    "region_prefixes",
    "categories",
    "valid_from",
)
"""Criteria an opened product keeps as drawn, so the packed masks meet them with products that
accept otherwise."""


@PROPERTY
@given(catalogues(), st.sampled_from([TODAY, TODAY - timedelta(days=1), TODAY + timedelta(days=1)]))
def test_accepting_is_the_pass_over_every_product(
    drawn: tuple[Library, Catalogue], day: date
) -> None:
    lib, cat = drawn
    for position in range(lib.size):
        found = accepting(cat, lib, position, day)
        assert found.dtype == np.intp
        assert found.tolist() == scan(cat, lib, position, day).tolist()
        event(f"accepting products: {'some' if len(found) else 'none'}")


@PROPERTY
@given(catalogues(), st.randoms(use_true_random=False))
def test_each_criterion_packed_and_over_some_products_is_its_accepts(
    drawn: tuple[Library, Catalogue], rng: random.Random
) -> None:
    lib, cat = drawn
    some = np.array(sorted(rng.sample(range(cat.size), rng.randint(0, cat.size))), dtype=np.intp)
    for position in range(lib.size):
        for criterion in CRITERIA:
            whole = criterion.accepts(cat, lib, position, slice(None))
            taken = np.ones(cat.size, dtype=np.bool_) if whole is None else whole
            part = criterion.accepts(cat, lib, position, some)
            assert (part is None) == (whole is None)
            if part is not None:
                assert part.tolist() == taken[some].tolist()
            if criterion.packed is not None:
                words = criterion.packed(cat.packed, lib, position)
                held = np.arange(cat.size) if words is None else unpack(words, 0, cat.size, 0)
                assert held.tolist() == np.flatnonzero(taken).tolist(), criterion.name


def _entries(products: list[dict[str, Any]]) -> list[ProductEntry]:
    return [
        ProductEntry(
            id=uuid.uuid4(),
            institution_id=uuid.uuid4(),
            name=f"p{k}",
            type=c["type"],
            rate_min=None,
            rate_max=None,
            criteria=_criteria(c),
        )
        for k, c in enumerate(products)
    ]


@PROPERTY
@given(
    library=st.lists(projects(), min_size=1, max_size=12),
    products=st.lists(criteria(), min_size=1, max_size=6),
    rematched=st.booleans(),
    limit=st.sampled_from([1, 3, 50]),
)
def test_a_product_page_with_the_kept_denominators_is_the_computed_page(
    library: list[dict[str, Any]], products: list[dict[str, Any]], rematched: bool, limit: int
) -> None:
    lib = Library.build([_row(uuid.uuid4(), p) for p in library])
    entries = _entries(products)
    snap = Snapshot(library=lib, products=entries, position=FeedPosition(0))
    if rematched:  # else the memo is filled on first use, as after a patch
        service.rematch_snapshot(snap, TODAY)
    filters = service.ProjectFilters()
    for entry in entries:
        kept, best = service.kept_product(snap, entry.id, _criteria(products[0]), TODAY)
        if entry.criteria != _criteria(products[0]):
            assert (kept, best) == (_criteria(products[0]), None)
        kept, best = service.kept_product(snap, entry.id, entry.criteria, TODAY)
        assert kept is entry.criteria
        assert (best is None) == (not entry.criteria.is_valid_on(TODAY))
        after = None
        for _ in range(3):
            served = service.ranked_projects(lib, kept, filters, after, limit, TODAY, True, best)
            computed = service.ranked_projects(lib, entry.criteria, filters, after, limit, TODAY)
            assert served == computed
            if not served.more:
                break
            after = cursor_of(served.scores_centi[-1], served.ids[-1])
    # a product that is not offered today leaves the memo unknown (NaN) for the day it is
    if snap.bests is not None:
        offered = [e.criteria.is_valid_on(TODAY) for e in entries]
        assert all(np.isnan(snap.bests[0][k]) for k, ok in enumerate(offered) if not ok)


async def test_a_project_s_matches_follow_products_created_edited_and_paused(
    client: httpx.AsyncClient, keys: Keys, app: FastAPI
) -> None:
    project = await library_project(app, name="A", region_code="440304")
    _, bank = await institution(client, keys)
    url = f"/api/v1/projects/{project}/matches"
    admin = await keys.admin()

    async def listed() -> set[str]:
        response = await client.get(url, headers=admin)
        assert response.status_code == 200, response.text
        return {item["product_id"] for item in response.json()["items"]}

    nationwide = await product(client, bank)
    city = await product(client, bank, region_prefixes=["4403"])
    elsewhere = await product(client, bank, region_prefixes=["33"])
    assert await listed() == {nationwide["id"], city["id"]}

    async def edit(item: dict[str, Any], **fields: Any) -> None:
        response = await client.patch(f"/api/v1/products/{item['id']}", json=fields, headers=bank)
        assert response.status_code == 200, response.text

    await edit(elsewhere, region_prefixes=["44"])
    await edit(city, region_prefixes=["4401"])
    assert await listed() == {nationwide["id"], elsewhere["id"]}
    await edit(nationwide, requires_verification=True)  # the project is not verified
    assert await listed() == {elsewhere["id"]}
    await edit(elsewhere, status="paused")
    assert await listed() == set()
    await edit(nationwide, requires_verification=False)
    assert await listed() == {nationwide["id"]}
