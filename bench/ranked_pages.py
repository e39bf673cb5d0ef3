"""Both ranked pages' CPU per request in one process, with where it goes.

``python -m bench.ranked_pages --url <database url> [--requests 400] [--rounds 3]
[--concurrency 1 32] [--sections] [--profile product|project]``

``bench.run``'s served figures move with the shared machine's load; the CPU time of the same
requests called in process (``time.process_time``, the app's lifespan started as served, so the
matching cache is warm and frozen) moves much less, and can be compared between two scales or
two versions of the code minutes apart. The pages are those ``bench.run`` loads: a product's
ranked projects (for the first 1,000 products by id, where ``bench.run`` takes the first
generated), a project's ranked products for 1,000
library projects sampled with a fixed seed, both as an administrator. Each round runs each page
``--requests`` times, one at a time or ``--concurrency`` at once on one event loop, and reports
CPU ms per request and the collector's collections by generation. ``--sections`` adds the CPU ms per
request inside the service's steps (the matcher's, the card query, the snapshot check, the owner
check), so that what grows between two scales shows up by name; one at a time only, since an
awaited step's CPU would include the other requests'.
``--profile`` prints cProfile's top functions (CPU time) of one round instead. The database is
one ``bench.generate`` (or ``bench.run --keep-db``) left behind.
"""

import argparse
import asyncio
import cProfile
import gc
import pstats
import random
import statistics
import time
from collections import defaultdict
from collections.abc import Callable
from typing import Any

from bench.collector_rebuild import Collections
from bench.inprocess import Lifespan, call

# The service's steps timed by --sections: (module, function) pairs, outermost first.
SECTIONS = {
    "app.services.matching.service": (
        "product_matches",
        "ranked_projects",
        "eligible_slots",
        "climate_best",
        "score",
        "top",
        "explain_eligible",
        "explain_many",
        "project_matches",
        "ranked_products",
        "accepting",
        "score_products",
        "explain_accepted",
        "snapshot",
        "_own_product",
        "_project_for_matches",
    ),
    "app.repositories.matching": ("project_cards",),
}


def _timed_sections(spent: dict[str, float]) -> None:
    """Wrap each step of ``SECTIONS`` that exists so its CPU time adds up in ``spent``."""
    import importlib

    def wrapped(name: str, f: Callable[..., Any]) -> Callable[..., Any]:
        if asyncio.iscoroutinefunction(f):

            async def timed_async(*args: Any, **kwargs: Any) -> Any:
                began = time.process_time()
                try:
                    return await f(*args, **kwargs)
                finally:
                    spent[name] += time.process_time() - began

            return timed_async

        def timed(*args: Any, **kwargs: Any) -> Any:
            began = time.process_time()
            try:
                return f(*args, **kwargs)
            finally:
                spent[name] += time.process_time() - began

        return timed

    for module_name, names in SECTIONS.items():
        module = importlib.import_module(module_name)
        for name in names:
            if callable(getattr(module, name, None)):
                setattr(module, name, wrapped(name, getattr(module, name)))


async def _round(app: Any, paths: list[str], key: str, n: int, concurrency: int) -> float:
    """CPU ms per request over ``n`` requests, ``concurrency`` at a time."""
    began = time.process_time()
    done = 0
    while done < n:
        batch = [paths[(done + i) % len(paths)] for i in range(min(concurrency, n - done))]
        answers = await asyncio.gather(*(call(app, p, key) for p in batch))
        bad = [(s, b[:200]) for s, b in answers if s != 200]
        assert not bad, bad
        done += len(batch)
    return (time.process_time() - began) * 1000 / n


async def main(args: argparse.Namespace) -> None:
    from sqlalchemy import select

    from app.config import Settings
    from app.main import create_app
    from app.models import Product, Project, ProjectStatus, Role
    from app.services import api_keys

    settings = Settings(
        database_url=args.url,
        rate_limits=False,
        import_worker=False,
        webhook_worker=False,
        audit_seal_interval_s=0,
        log_level="WARNING",
    )
    spent: dict[str, float] = defaultdict(float)
    if args.sections:
        _timed_sections(spent)
    app = create_app(settings)
    async with Lifespan(app):
        async with app.state.sessions.begin() as session:
            await session.connection(execution_options={"sqlite_begin": "IMMEDIATE"})
            _, key = await api_keys.create(session, name="bench", role=Role.admin, scope=None)
            products = (
                await session.execute(select(Product.id).order_by(Product.id).limit(1000))
            ).scalars()
            library = (
                await session.execute(
                    select(Project.id).where(Project.status == ProjectStatus.in_library)
                )
            ).scalars()
            projects = random.Random(14).sample(list(library), 1000)
        pages = {
            "product": [f"/api/v1/products/{i}/matches" for i in products],
            "project": [f"/api/v1/projects/{i}/matches" for i in projects],
        }
        for paths in pages.values():
            await _round(app, paths, key, 100, 1)  # warm: statements, plans, memos
        if args.profile:
            profiler = cProfile.Profile(time.process_time)  # CPU: not the waits for the database
            profiler.enable()
            await _round(app, pages[args.profile], key, args.requests, args.concurrency[0])
            profiler.disable()
            pstats.Stats(profiler).sort_stats(args.sort).print_stats(args.top)
            return
        for concurrency in args.concurrency:
            for name, paths in pages.items():
                figures, collected = [], Collections()
                gc.callbacks.append(collected)
                spent.clear()
                try:
                    for _ in range(args.rounds):
                        figures.append(await _round(app, paths, key, args.requests, concurrency))
                finally:
                    gc.callbacks.remove(collected)
                print(
                    f"{name}'s page, {concurrency:>2} at once: CPU ms/request "
                    + ", ".join(f"{f:.2f}" for f in figures)
                    + f" (median {statistics.median(figures):.2f}); collections by generation"
                    f" {collected.count}, {sum(collected.seconds) * 1000:.0f} ms"
                )
                if spent and concurrency == 1:  # awaited steps' CPU would include others'
                    per_request = 1000 / (args.requests * args.rounds)
                    steps = sorted(spent.items(), key=lambda kv: -kv[1])
                    print("  " + "; ".join(f"{k} {v * per_request:.3f}" for k, v in steps))


def _arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", required=True, help="plain database URL (SQLite or PostgreSQL)")
    parser.add_argument("--requests", type=int, default=400)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 32])
    parser.add_argument("--sections", action="store_true", help="CPU ms inside each step")
    parser.add_argument("--profile", choices=["product", "project"])
    parser.add_argument("--sort", default="tottime")
    parser.add_argument("--top", type=int, default=40)
    return parser.parse_args()


if __name__ == "__main__":
    asyncio.run(main(_arguments()))
