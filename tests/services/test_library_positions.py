"""The library's ids and positions are read from its id columns (``positions``): they answer as
the list and dict of ids they replace did, in id order or not, through patches that leave,
change, append and re-enter projects."""

import uuid

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from app.services.matching.positions import Ids, Positions


def _halves(ids: list[uuid.UUID]) -> tuple[np.ndarray, np.ndarray]:
    hi = np.array([i.int >> 64 for i in ids], dtype=np.uint64)
    lo = np.array([i.int & ((1 << 64) - 1) for i in ids], dtype=np.uint64)
    return hi, lo


uuids = st.integers(min_value=0, max_value=(1 << 128) - 1).map(lambda n: uuid.UUID(int=n))


@settings(max_examples=200, deadline=None)
@given(
    ids=st.lists(uuids, unique=True, max_size=40),
    ordered=st.booleans(),
    steps=st.lists(st.tuples(st.sampled_from(["leave", "append"]), st.integers(0, 60))),
    strangers=st.lists(uuids, max_size=5),
)
def test_positions_answer_as_a_dict(
    ids: list[uuid.UUID],
    ordered: bool,
    steps: list[tuple[str, int]],
    strangers: list[uuid.UUID],
) -> None:
    if ordered:
        ids = sorted(ids)  # as both databases' index scans give them
    hi, lo = _halves(ids)
    assert list(Ids(hi, lo)) == ids
    assert [Ids(hi, lo)[i] for i in range(len(ids))] == ids
    positions = Positions(hi, lo)
    expected = {pid: i for i, pid in enumerate(ids)}
    size = len(ids)
    pool = ids + strangers
    for action, k in steps:
        if not pool:
            break
        pid = pool[k % len(pool)]
        if action == "leave":
            assert positions.pop(pid, None) == expected.pop(pid, None)
        elif pid not in expected:  # appended (new, or back after leaving) at the end
            positions[pid] = expected[pid] = size
            size += 1
    for pid in pool:
        assert positions.get(pid) == expected.get(pid)
        assert (pid in positions) == (pid in expected)
    assert len(positions) == len(expected)
    assert dict(positions.items()) == expected
