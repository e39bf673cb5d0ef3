"""What the garbage collector costs a served process once the matching cache has been rebuilt.

``python -m bench.collector_rebuild --url <url> [--requests 3000] [--concurrency 32]
[--load list|product-matches]``

The app's lifespan freezes what is alive once the cache is warm (``app.collector.settled``), so
full collections do not scan it. A cache rebuilt later (``MatchingStore.rebuild``: the change log
pruned past the process's position, or too many changes to patch) is made of new objects, which
are not frozen. This loads the list page (or 200 products' ranked projects, as an administrator)
in process, concurrent requests on one event loop, three times: as started, after a rebuild, and
after a rebuild followed by a refreeze that leaks nothing (unfreeze, full collection, freeze),
and reports for each the collections by generation and the time they took (``gc.callbacks``),
with the objects a full collection would scan and the objects frozen. The database is one
``bench.run --keep-db`` or ``bench.generate`` left.
"""

import argparse
import asyncio
import gc
import time
from typing import Any

from bench.inprocess import Lifespan, call
from bench.run import LIST_PATH


class Collections:
    """Counts and times the collector's runs by generation while installed."""

    def __init__(self) -> None:
        self.count = [0, 0, 0]
        self.seconds = [0.0, 0.0, 0.0]
        self._began = 0.0

    def __call__(self, phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            self._began = time.perf_counter()
        else:
            generation = info["generation"]
            self.count[generation] += 1
            self.seconds[generation] += time.perf_counter() - self._began


async def _load(
    app: Any, paths: list[str], key: str | None, requests: int, concurrency: int
) -> tuple[Collections, float]:
    seen = Collections()
    gc.callbacks.append(seen)
    began = time.perf_counter()
    try:
        for round in range(requests // concurrency):
            answers = await asyncio.gather(
                *(
                    call(app, paths[(round * concurrency + i) % len(paths)], key)
                    for i in range(concurrency)
                )
            )
            assert all(status == 200 for status, _ in answers), [s for s, _ in answers]
    finally:
        gc.callbacks.remove(seen)
    return seen, time.perf_counter() - began


def _scanned() -> int:
    """Objects a full collection scans: every tracked one not frozen."""
    return sum(len(gc.get_objects(generation)) for generation in range(3))


async def main(url: str, requests: int, concurrency: int, load: str) -> None:
    from sqlalchemy import select

    from app.config import Settings
    from app.main import create_app
    from app.models import Product, Role
    from app.services import api_keys
    from app.services.matching.store import store_for

    settings = Settings(
        database_url=url,
        rate_limits=False,
        import_worker=False,
        webhook_worker=False,
        audit_seal_interval_s=0,
        log_level="WARNING",
    )
    app = create_app(settings)
    async with Lifespan(app):
        key: str | None = None
        paths = [LIST_PATH]
        if load == "product-matches":
            async with app.state.sessions.begin() as session:
                await session.connection(execution_options={"sqlite_begin": "IMMEDIATE"})
                _, key = await api_keys.create(session, name="bench", role=Role.admin, scope=None)
                ids = (await session.execute(select(Product.id).limit(200))).scalars()
                paths = [f"/api/v1/products/{i}/matches" for i in ids]
        await _load(app, paths, key, concurrency * 4, concurrency)  # warm

        async def rebuild() -> None:
            async with app.state.sessions() as session:
                await store_for(session).rebuild(session)

        print(
            f"{'phase':<28} {'gen0':>6} {'gen1':>6} {'gen2':>5} {'gc ms':>8} {'gen2 ms':>8}"
            f" {'load s':>7} {'scanned':>9} {'frozen':>9}"
        )
        for name, before in (
            ("as started", None),
            ("after a rebuild", rebuild),
            ("rebuilt, then refrozen", rebuild),
        ):
            if before is not None:
                await before()
            if name.endswith("refrozen"):
                # Frozen again without leaking what the rebuild replaced (a cycle among it, or
                # cyclic garbage, frozen for good): let go, collect everything, freeze.
                began = time.perf_counter()
                gc.unfreeze()
                gc.collect()
                gc.freeze()
                print(f"  refreezing took {(time.perf_counter() - began) * 1000:.1f} ms")
            scanned, frozen = _scanned(), gc.get_freeze_count()
            seen, took = await _load(app, paths, key, requests, concurrency)
            print(
                f"{name:<28} {seen.count[0]:>6} {seen.count[1]:>6} {seen.count[2]:>5}"
                f" {sum(seen.seconds) * 1000:>8.1f} {seen.seconds[2] * 1000:>8.1f}"
                f" {took:>7.2f} {scanned:>9} {frozen:>9}"
            )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", required=True, help="plain database URL (SQLite or PostgreSQL)")
    parser.add_argument("--requests", type=int, default=3000)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--load", choices=["list", "product-matches"], default="list")
    args = parser.parse_args()
    asyncio.run(main(args.url, args.requests, args.concurrency, args.load))
