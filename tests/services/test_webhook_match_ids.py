"""A product's ``match.new`` lists the projects it newly accepts by id, in library position
order: ``ids_at`` gathers them from the id columns at once and must give exactly the ids that
reading ``lib.ids`` one position at a time gives."""

import uuid

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from app.services.matching.library import Library
from app.services.webhooks_worker import ids_at

uuids = st.integers(min_value=0, max_value=(1 << 128) - 1).map(lambda n: uuid.UUID(int=n))


def _library(ids: list[uuid.UUID]) -> Library:
    lib = Library.build([])
    lib.id_hi = np.array([i.int >> 64 for i in ids], dtype=np.uint64)
    lib.id_lo = np.array([i.int & ((1 << 64) - 1) for i in ids], dtype=np.uint64)
    return lib


@settings(max_examples=200, deadline=None)
@given(ids=st.lists(uuids, unique=True, max_size=50), data=st.data())
def test_ids_at_gives_each_positions_id_in_order(ids: list[uuid.UUID], data: st.DataObject) -> None:
    lib = _library(ids)
    chosen = data.draw(st.lists(st.integers(0, max(0, len(ids) - 1)), max_size=len(ids)))
    positions = np.array(chosen if ids else [], dtype=np.intp)
    assert ids_at(lib, positions) == [lib.ids[int(i)] for i in positions]
    assert ids_at(lib, positions) == [ids[i] for i in chosen]


def test_ids_at_keeps_the_top_bits_of_both_halves() -> None:
    extremes = [uuid.UUID(int=(1 << 128) - 1), uuid.UUID(int=1 << 127), uuid.UUID(int=1 << 63)]
    lib = _library(extremes)
    assert ids_at(lib, np.array([2, 0, 1], dtype=np.intp)) == [extremes[2], *extremes[:2]]
    assert ids_at(lib, np.array([], dtype=np.intp)) == []
