"""Row ids: version-7 UUIDs, in the order they were minted, on the clock."""

import itertools
import time
import uuid

from app.ids import new_id


def test_ids_are_standard_version_7_uuids_in_minting_order_on_the_clock() -> None:
    before_ms = time.time_ns() // 1_000_000
    # Tens of ids a millisecond: the order within a millisecond comes from the counter.
    ids = [new_id() for _ in range(20_000)]
    after_ms = time.time_ns() // 1_000_000
    assert all(type(i) is uuid.UUID for i in ids)
    assert {(i.version, i.variant) for i in ids} == {(7, uuid.RFC_4122)}
    assert len(set(ids)) == len(ids)
    # Increasing as PostgreSQL's uuid (bytes) and SQLite's stored hex text compare them.
    assert all(a.bytes < b.bytes for a, b in itertools.pairwise(ids))
    assert all(a.hex < b.hex for a, b in itertools.pairwise(ids))
    # The leading 48 bits are the Unix time in milliseconds, not pushed ahead of the clock.
    assert before_ms <= ids[0].int >> 80 <= ids[-1].int >> 80 <= after_ms
    assert uuid.UUID(str(ids[0])) == ids[0]
