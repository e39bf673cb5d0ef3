"""The per-process matching cache, derived from the database and checked on every request.

Triggers (migration 0003) bump ``matching_state`` in the same transaction as any change to
``projects`` or ``products`` and log the changed project ids with their generation. Each request
reads the counters (one small query); when the projects' counter moved, the arrays are patched
with just the projects logged since (a full rebuild when too many changed, the log was pruned
past us, or too many positions are dead); when the products' counter moved, the active products
are re-read. So a project entering or leaving the library, a financing update or a product edit
shows on the next request of every process, with nothing process-local deciding correctness.
"""

import asyncio
import gc
import uuid
import weakref
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from app.repositories import matching as repo
from app.services.matching.criteria import Criteria, criteria_of
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


@dataclass
class Snapshot:
    library: Library
    products: list[ProductEntry]
    generations: dict[str, int]
    # The best climate intensity among each product's eligible projects: the climate component's
    # denominator, memoised for the per-project view (valid for this snapshot only).
    top_intensity: dict[uuid.UUID, float] = field(default_factory=dict)


class MatchingStore:
    def __init__(self) -> None:
        self._lock = asyncio.Lock()
        self._snapshot: Snapshot | None = None
        self._library_gen: int | None = None
        self._products_gen: int | None = None

    async def current(self, session: AsyncSession) -> Snapshot:
        """The snapshot at the database's current generations, patched if anything changed."""
        gens = await repo.generations(session)
        snapshot = self._snapshot
        if snapshot is not None and snapshot.generations == gens:
            return snapshot
        async with self._lock:
            snapshot = self._snapshot
            if snapshot is not None and snapshot.generations == gens:
                return snapshot
            # Counters are read before the data, so the arrays are at least as new as `gens`.
            library = await self._library(session, snapshot, gens.get("projects", 0))
            products = (
                snapshot.products
                if snapshot is not None
                and snapshot.generations.get("products") == gens.get("products")
                else await _products(session)
            )
            self._snapshot = Snapshot(library=library, products=products, generations=gens)
            return self._snapshot

    async def rebuild(self, session: AsyncSession) -> Snapshot:
        """A snapshot read afresh from the database (no patching), made the current one."""
        async with self._lock:
            gens = await repo.generations(session)
            library = await _full_library(session)
            with _gc_paused():
                products = await _products(session)
            self._snapshot = Snapshot(library=library, products=products, generations=gens)
            return self._snapshot

    async def _library(
        self, session: AsyncSession, snapshot: Snapshot | None, upto: int
    ) -> Library:
        if snapshot is not None:
            seen = snapshot.generations.get("projects", 0)
            if seen == upto:
                return snapshot.library
            library = snapshot.library
            if upto - seen <= PATCH_LIMIT and library.dead <= max(1000, library.size // 5):
                changed = await repo.changed_projects(session, seen, upto)
                if len(changed) <= PATCH_ROWS:
                    rows = await repo.library_rows(session, changed)
                    in_library = {r.id for r in rows}
                    library.apply(rows, [pid for pid in changed if pid not in in_library])
                    return library
        return await _full_library(session)


@contextmanager
def _gc_paused() -> Iterator[None]:
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
    with _gc_paused():
        return Library.build(await repo.library_rows(session))


PATCH_LIMIT = 2_000
"""Beyond this many generations behind, rebuild instead of patching. Kept well below
CHANGES_KEPT, so the log entries a patch reads cannot have been pruned (that would take 8,000
committed write statements between reading the counter and reading the log)."""
PATCH_ROWS = 20_000
"""Beyond this many changed projects, a full rebuild is cheaper than a patch."""


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
