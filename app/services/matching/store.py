"""The per-process matching cache, derived from the database and checked on every request.

Triggers (migration 0003) bump ``matching_state`` in the same transaction as any change to
``projects`` or ``products``. Each request reads those counters (one primary-key query); when they
differ from the ones the arrays were built at, the arrays are rebuilt before answering. So a project
entering or leaving the library, a financing update or a product edit shows on the next request of
every process, with nothing process-local deciding correctness.
"""

import asyncio
import uuid
import weakref
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from app.repositories import matching as repo
from app.services.matching.criteria import Criteria, criteria_of
from app.services.matching.engine import Library


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
        """The snapshot at the database's current generations, rebuilt if anything changed."""
        gens = await repo.generations(session)
        snapshot = self._snapshot
        if snapshot is not None and snapshot.generations == gens:
            return snapshot
        async with self._lock:
            snapshot = self._snapshot
            if snapshot is not None and snapshot.generations == gens:
                return snapshot
            # Counters are read before the data, so the arrays are at least as new as `gens`.
            library = (
                snapshot.library
                if snapshot is not None
                and snapshot.generations.get("projects") == gens.get("projects")
                else Library.build(await repo.library_rows(session))
            )
            products = (
                snapshot.products
                if snapshot is not None
                and snapshot.generations.get("products") == gens.get("products")
                else [
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
            )
            self._snapshot = Snapshot(library=library, products=products, generations=gens)
            return self._snapshot


_STORES: "weakref.WeakKeyDictionary[Any, MatchingStore]" = weakref.WeakKeyDictionary()


def store_for(session: AsyncSession) -> MatchingStore:
    """One store per database engine (a process serving one database has exactly one)."""
    engine = session.get_bind()
    store = _STORES.get(engine)
    if store is None:
        store = _STORES[engine] = MatchingStore()
    return store
