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
CPU ms per request and the collector's collections by generation (one at a time, also each
request's CPU p50 / p99 / max: a tail without the shared machine's scheduling in it).
``--sections`` adds the CPU ms per request inside the service's steps (the matcher's, the card
query, the snapshot check, the owner check), so that what grows between two scales shows up by
name; one at a time only, since an awaited step's CPU would include the other requests'.
``--profile`` prints cProfile's top functions (CPU time) of one round instead. The database is
one ``bench.generate`` (or ``bench.run --keep-db``) left behind.

``--served SECONDS`` instead serves the app as ``bench.run`` does (uvicorn, one worker, this
checkout's code) and loads a product's ranked page over HTTP at one connection, ``--rounds``
windows of ``SECONDS`` after the loads ``bench.run`` runs before it (the list page, one
project) and its warm-up: p50 and p99 of each window, the server's
startup and CPU per request, and the collector's pauses from ``/metrics``: the tail the
in-process CPU figures cannot show.
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


async def _round(
    app: Any, paths: list[str], key: str, n: int, concurrency: int, each: list[float] | None = None
) -> float:
    """CPU ms per request over ``n`` requests, ``concurrency`` at a time (with ``each``, one at
    a time, also each request's CPU ms appended to it: a collection lands on one request)."""
    began = time.process_time()
    done = 0
    while done < n:
        batch = [paths[(done + i) % len(paths)] for i in range(min(concurrency, n - done))]
        one = time.process_time()
        answers = await asyncio.gather(*(call(app, p, key) for p in batch))
        if each is not None:
            each.append((time.process_time() - one) * 1000)
        bad = [(s, b[:200]) for s, b in answers if s != 200]
        assert not bad, bad
        done += len(batch)
    return (time.process_time() - began) * 1000 / n


def _tail(each: list[float]) -> str:
    ordered = sorted(each)

    def at(q: float) -> float:
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))]

    return f"per request p50 {at(0.5):.2f}, p99 {at(0.99):.2f}, max {ordered[-1]:.2f} ms"


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
                each: list[float] | None = [] if concurrency == 1 else None
                gc.callbacks.append(collected)
                spent.clear()
                try:
                    for _ in range(args.rounds):
                        figures.append(
                            await _round(app, paths, key, args.requests, concurrency, each)
                        )
                finally:
                    gc.callbacks.remove(collected)
                print(
                    f"{name}'s page, {concurrency:>2} at once: CPU ms/request "
                    + ", ".join(f"{f:.2f}" for f in figures)
                    + f" (median {statistics.median(figures):.2f}); collections by generation"
                    f" {collected.count}, {sum(collected.seconds) * 1000:.0f} ms"
                    + (f"; {_tail(each)}" if each else "")
                )
                if spent and concurrency == 1:  # awaited steps' CPU would include others'
                    per_request = 1000 / (args.requests * args.rounds)
                    steps = sorted(spent.items(), key=lambda kv: -kv[1])
                    print("  " + "; ".join(f"{k} {v * per_request:.3f}" for k, v in steps))


async def _admin_key_and_paths(url: str) -> tuple[str, list[str], list[str]]:
    """An admin key, a product's ranked page for the first 1,000 products by id, and one
    project for 1,000 library projects sampled with a fixed seed."""
    from sqlalchemy import select

    from app.config import Settings
    from app.db import create_engine, session_factory
    from app.models import Product, Project, ProjectStatus, Role
    from app.services import api_keys

    engine = create_engine(Settings(database_url=url))
    try:
        async with session_factory(engine).begin() as session:
            _, key = await api_keys.create(session, name="bench", role=Role.admin, scope=None)
            ids = (
                await session.execute(select(Product.id).order_by(Product.id).limit(1000))
            ).scalars()
            products = [f"/api/v1/products/{i}/matches" for i in ids]
            library = (
                await session.execute(
                    select(Project.id).where(Project.status == ProjectStatus.in_library)
                )
            ).scalars()
            projects = [
                f"/api/v1/projects/{i}" for i in random.Random(14).sample(list(library), 1000)
            ]
    finally:
        await engine.dispose()
    return key, products, projects


def _gc_pauses(base_url: str) -> str:
    """The collector's pauses so far by generation (count, seconds), from ``/metrics``."""
    import re

    import httpx

    text = httpx.get(base_url + "/metrics", timeout=10).text
    out = []
    for kind in ("count", "sum"):
        pattern = rf'^climatelib_gc_pause_seconds_{kind}{{generation="(\d)"}} (\S+)$'
        out += [f"g{g} {kind} {float(v):.3g}" for g, v in re.findall(pattern, text, re.M)]
    return ", ".join(out) or "none"


def served(args: argparse.Namespace) -> None:
    from bench.common import run_load, serving
    from bench.run import LIST_PATH

    key, paths, projects = asyncio.run(_admin_key_and_paths(args.url))
    headers = {"Authorization": f"Bearer {key}"}
    env = {"CLIMATELIB_DATABASE_URL": args.url, "CLIMATELIB_RATE_LIMITS": "false"}
    with serving("ranked", "app.asgi:app", env, startup_timeout=600) as server:
        print(f"startup {server.startup_seconds:.2f} s; {_gc_pauses(server.base_url)}", flush=True)
        # What bench.run serves before this page: the list page and one project, each warmed
        # at 4 connections, then at 1 and at 32.
        for before in ([LIST_PATH], projects):
            for connections in (4, 1, 32):
                run_load(server.base_url, before, connections, args.served, headers)
        print(f"after the list and one project: {_gc_pauses(server.base_url)}", flush=True)
        run_load(server.base_url, paths, 4, max(1.0, args.served / 3), headers)  # as bench.run
        for _ in range(args.rounds):
            cpu = server.cpu_seconds()
            load = run_load(server.base_url, paths, 1, args.served, headers)
            per_request = (server.cpu_seconds() - cpu) * 1000 / max(1, load.requests)
            print(
                f"1 conn: {load.requests} requests, p50 {load.p50_ms:.2f} ms, p99 "
                f"{load.p99_ms:.2f} ms, errors {load.errors}, server CPU {per_request:.2f} ms/req;"
                f" collector so far: {_gc_pauses(server.base_url)}",
                flush=True,
            )


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
    parser.add_argument("--served", type=float, metavar="SECONDS", help="over HTTP, 1 conn")
    return parser.parse_args()


if __name__ == "__main__":
    arguments = _arguments()
    if arguments.served:
        served(arguments)
    else:
        asyncio.run(main(arguments))
