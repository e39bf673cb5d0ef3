"""Property: the products that accept a project, read the other way round through the products'
columns (a project's ranked products), are exactly the pairs the plain-Python reference accepts,
and exactly those the library-side masks (a product's ranked projects) list."""

import uuid
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from app.services.matching.catalogue import Catalogue
from app.services.matching.eligibility import accepting, eligible_positions
from app.services.matching.library import Library
from tests.api.finance.test_matching_property import (
    TODAY,
    _criteria,
    _row,
    criteria,
    projects,
    reference_eligible,
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
