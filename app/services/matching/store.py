"""The per-process matching cache, derived from the database and checked on every request.

Triggers log every change the matcher can see (a project entering, changing in or leaving the
library; an active product written) in ``matching_changes``, in the writing transaction, without
any row shared between writers. Each request reads the log past its position (one small query);
the arrays are patched with just the projects logged since (a full rebuild when too many changed,
the log was pruned past us, or too many positions are dead), and the active products are re-read
when one of them changed. The position only moves past transactions that have all finished, so a
change that commits after a later one is still read. A project entering or leaving the library,
a financing update or a product edit shows on the next request of every process, with nothing
process-local deciding correctness.
"""

import asyncio
import gc
import uuid
import weakref
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from decimal import Decimal
from functools import cached_property
from typing import Any

import numpy as np
from numpy.typing import NDArray
from sqlalchemy.ext.asyncio import AsyncSession

from app.repositories import matching as repo
from app.services.matching.catalogue import Catalogue
from app.services.matching.criteria import Criteria, criteria_of
from app.services.matching.explanation import prepared
from app.services.matching.library import Library


@dataclass(frozen=True)
class ProductEntry:
    id: uuid.UUID
    institution_id: uuid.UUID
    name: str
    type: str
    rate_min: Any
    rate_max: Any
    criteria: Criteria

    @cached_property
    def memo(self) -> dict[str, Any]:
        """What the service derives from this product version alone (its card's JSON, built
        once for every project's page that lists it), kept as long as the entry is."""
        return {}


NO_RATE = Decimal("1000")
"""Products without an indicative rate sort after those with one."""


@dataclass(frozen=True)
class Tiebreak:
    """The active products in a project's list order among equal scores, (rate_min, id hex),
    as a rank per catalogue position and the keys in rank order: the page is ordered by
    (-score, rank) in numpy, and only its own keys are built in Python."""

    rank: NDArray[np.int64]
    keys: list[tuple[Any, str]]

    @classmethod
    def build(cls, products: list[ProductEntry]) -> "Tiebreak":
        keys = [(NO_RATE if e.rate_min is None else e.rate_min, e.id.hex) for e in products]
        order = sorted(range(len(keys)), key=keys.__getitem__)
        rank = np.empty(len(keys), dtype=np.int64)
        rank[order] = np.arange(len(keys), dtype=np.int64)
        return cls(rank=rank, keys=[keys[k] for k in order])


@dataclass
class Snapshot:
    library: Library
    products: list[ProductEntry]
    position: repo.FeedPosition
    bests: tuple[NDArray[np.float64], NDArray[np.float64]] | None = None
    """The best climate benefits among each product's eligible projects (mitigation,
    adaptation), the climate component's denominators, as columns over ``products``, memoised
    for the per-project view (this snapshot only; NaN: not known yet). Filled only for products
    offered on the day asked: the same on every day a product is offered, and never read on
    another (see ``rematch_snapshot``)."""
    tiebreak: "Tiebreak | None" = None
    """The products' order among equal scores on a project's page (built with the catalogue;
    see ``service.ranked_products``)."""
    _catalogue: Catalogue | None = None
    _product_positions: dict[uuid.UUID, int] | None = None

    def product_position(self, product_id: uuid.UUID) -> int | None:
        """The catalogue position of an active product (None: not among them), from a map
        built on first use and kept while the products are."""
        if self._product_positions is None:
            self._product_positions = {entry.id: k for k, entry in enumerate(self.products)}
        return self._product_positions.get(product_id)

    @property
    def catalogue(self) -> Catalogue:
        """The products' criteria as columns (built on first use, kept while they are)."""
        if self._catalogue is None:
            criteria = [entry.criteria for entry in self.products]
            # What a project's page reads of each product (its order, its explanation's texts)
            # is built here with the columns, once per set of products, not by the requests
            # that first list each product (at 20,000 products nearly every one of them).
            self.tiebreak = Tiebreak.build(self.products)
            for c in criteria:
                prepared(c)
            self._catalogue = Catalogue.build(criteria)
        return self._catalogue


class MatchingStore:
    def __init__(self) -> None:
        self._lock = asyncio.Lock()
        self._snapshot: Snapshot | None = None

    async def current(self, session: AsyncSession) -> Snapshot:
        """The snapshot with every change committed so far, patched if anything changed."""
        snapshot = self._snapshot
        if snapshot is not None:
            changes = await repo.changes_since(session, snapshot.position, PATCH_ROWS)
            if changes.nothing_new:
                if self._snapshot is snapshot and changes.position != snapshot.position:
                    # Same data, a narrower window to read next time.
                    self._snapshot = replace(snapshot, position=changes.position)
                return snapshot
        async with self._lock:
            if self._snapshot is None:
                return await self._rebuild(session)
            if self._snapshot is not snapshot:
                # Another request moved the cache while we waited: read on from where it stands.
                snapshot = self._snapshot
                changes = await repo.changes_since(session, snapshot.position, PATCH_ROWS)
            self._snapshot = await self._patched(session, snapshot, changes)
            return self._snapshot

    async def rebuild(self, session: AsyncSession) -> Snapshot:
        """A snapshot read afresh from the database (no patching), made the current one."""
        async with self._lock:
            return await self._rebuild(session)

    async def _rebuild(self, session: AsyncSession) -> Snapshot:
        # The position is read before the data, so the arrays are at least as new as it.
        position = (await repo.changes_since(session, None, PATCH_ROWS)).position
        library = await _full_library(session)
        with gc_paused():
            products = await _products(session)
        self._snapshot = Snapshot(library=library, products=products, position=position)
        return self._snapshot

    async def _patched(
        self, session: AsyncSession, snapshot: Snapshot, changes: repo.Changes
    ) -> Snapshot:
        library = snapshot.library
        if not changes.complete or library.dead > max(1000, library.size // 5):
            return await self._rebuild(session)
        if changes.projects:
            rows = await repo.library_rows(session, changes.projects)
            in_library = {r.id for r in rows}
            library.apply(rows, [pid for pid in changes.projects if pid not in in_library])
        if changes.products:
            products, catalogue, tiebreak, places = await _products(session), None, None, None
        else:
            products, catalogue = snapshot.products, snapshot._catalogue
            tiebreak, places = snapshot.tiebreak, snapshot._product_positions
        return Snapshot(
            library=library,
            products=products,
            position=changes.position,
            tiebreak=tiebreak,
            _catalogue=catalogue,
            _product_positions=places,
        )


@contextmanager
def gc_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector around a bulk load.

    Loading the library allocates about a million small objects, none in a cycle; each batch of
    them set off another collection over everything alive, 40 % of a full rebuild. The pause
    is process-wide but lasts only the load (under a second); nothing cyclic is lost, it is
    collected when the collector resumes.
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


async def _full_library(session: AsyncSession) -> Library:
    with gc_paused():
        return Library.of_columns(await repo.library_columns(session))


PATCH_ROWS = 20_000
"""Beyond this many logged changes, a full rebuild is cheaper than a patch."""


async def _products(session: AsyncSession) -> list[ProductEntry]:
    return [
        ProductEntry(
            id=p.id,
            institution_id=p.institution_id,
            name=p.name,
            type=p.type,
            rate_min=p.rate_min,
            rate_max=p.rate_max,
            criteria=criteria_of(p),
        )
        for p in await repo.active_products(session)
    ]


_STORES: "weakref.WeakKeyDictionary[Any, MatchingStore]" = weakref.WeakKeyDictionary()


def store_for(session: AsyncSession) -> MatchingStore:
    """One store per database engine (a process serving one database has exactly one)."""
    engine = session.get_bind()
    store = _STORES.get(engine)
    if store is None:
        store = _STORES[engine] = MatchingStore()
    return store
