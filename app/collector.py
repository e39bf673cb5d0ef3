"""The cyclic garbage collector while the app serves: what its collections scan, how often.

A collection scans every object of its generation. A served process holds about 300,000
long-lived ones at 100,000 projects (the modules, and the matching cache with one UUID per
project: ten times that many at a million), and with the default thresholds a page of 50 rows
read by each of 32 concurrent requests set collections off dozens of times a second, a full
one every few hundred requests: on the PostgreSQL list page at 32 connections 0.56 ms of a
request's 2.4 ms of CPU was collecting, against almost none at 1 connection, where one
request's objects are freed before the count of new ones reaches the threshold.
"""

import gc
from collections.abc import Iterator
from contextlib import contextmanager

# Objects made and not yet freed that set off a young collection (default 700). Requests free
# nearly everything they make by reference counting, so the count grows only with what is in
# flight (32 pages' rows stayed below it), outlives them, or sits in a reference cycle:
# collections become rare, and each still scans only what was made since the last one. A few
# megabytes of cyclic garbage at most wait for one.
YOUNG_THRESHOLD = 50_000


@contextmanager
def settled() -> Iterator[None]:
    """While the block runs: everything alive at its start (the modules, the warmed matching
    cache) frozen out of every collection's scan, young collections past ``YOUNG_THRESHOLD``.
    Both are undone at its end, so that an app started and stopped again in one process (the
    tests') leaves the collector as it found it; frozen objects are still freed by reference
    counting meanwhile, only a cycle among them waits for the end."""
    previous = gc.get_threshold()
    gc.freeze()
    gc.set_threshold(YOUNG_THRESHOLD, *previous[1:])
    try:
        yield
    finally:
        gc.set_threshold(*previous)
        gc.unfreeze()
