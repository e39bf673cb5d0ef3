"""The list page's CPU per request in one process: the app and the floor, same ASGI request.

``python -m bench.inprocess --url <database url> [--requests 300] [--rounds 3] [--profile app]``

The served figures of ``bench.run`` move with the shared machine's load; CPU time per request
(``time.process_time``) of the same request called in process moves much less. Each round calls
the app, then the floor, ``--requests`` times each on one event loop (after a warm-up), and
reports CPU ms and wall ms per request and the answer's size (the two must be equal: the floor
shapes the same page). The database is one ``bench.run --keep-db`` left behind.
``--profile app`` (or ``floor``) prints cProfile's top functions of one round instead;
``--rate-limits memory`` or ``redis`` turns the app's rate limits on (bench.run runs without).
"""

import argparse
import asyncio
import cProfile
import pstats
import statistics
import time
from collections.abc import Callable, Coroutine
from typing import Any

from bench import floor
from bench.run import LIST_PATH, LIST_QUERY

App = Callable[[dict[str, Any], Any, Any], Coroutine[Any, Any, None]]


def _scope(path: str) -> dict[str, Any]:
    route, _, query = path.partition("?")
    return {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": route,
        "raw_path": route.encode(),
        "query_string": query.encode(),
        "root_path": "",
        "headers": [(b"host", b"127.0.0.1"), (b"accept", b"*/*")],
        "client": ("127.0.0.1", 40000),
        "server": ("127.0.0.1", 8000),
    }


async def call(app: App, path: str, key: str | None = None) -> tuple[int, bytes]:
    """One request (with the key as a bearer token, if any): its status and body."""
    scope = _scope(path)
    if key is not None:
        scope["headers"] = [*scope["headers"], (b"authorization", f"Bearer {key}".encode())]
    status = 0
    body: list[bytes] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        nonlocal status
        if message["type"] == "http.response.start":
            status = message["status"]
        else:
            body.append(message.get("body", b""))

    await app(scope, receive, send)
    return status, b"".join(body)


class Lifespan:
    """An app's lifespan, started and stopped by hand."""

    def __init__(self, app: App) -> None:
        self.app = app
        self.inbox: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self.outbox: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self.task: asyncio.Task[None] | None = None

    async def __aenter__(self) -> "Lifespan":
        async def send(message: dict[str, Any]) -> None:
            await self.outbox.put(message)

        self.task = asyncio.create_task(
            self.app({"type": "lifespan", "asgi": {"version": "3.0"}}, self.inbox.get, send)
        )
        await self.inbox.put({"type": "lifespan.startup"})
        message = await self.outbox.get()
        assert message["type"] == "lifespan.startup.complete", message
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.inbox.put({"type": "lifespan.shutdown"})
        await self.outbox.get()
        assert self.task is not None
        await self.task


async def timed(app: App, n: int) -> tuple[float, float, int]:
    """CPU ms and wall ms per request over ``n`` requests, and the answer's size."""
    size = 0
    cpu, wall = time.process_time(), time.perf_counter()
    for _ in range(n):
        status, body = await call(app, LIST_PATH)
        assert status == 200, (status, body[:200])
        size = len(body)
    return (
        (time.process_time() - cpu) * 1000 / n,
        (time.perf_counter() - wall) * 1000 / n,
        size,
    )


async def main(args: argparse.Namespace, predicate: str) -> None:
    from app.config import Settings
    from app.main import create_app

    limits: dict[str, Any] = {"rate_limits": args.rate_limits != "off"}
    if args.rate_limits == "redis":
        limits["redis_url"] = args.redis_url
    if args.rate_limits != "off":  # one address: a quota no run here exhausts
        limits["rate_limit_per_address"] = 10_000_000
    app = create_app(Settings(database_url=args.url, log_level="warning", **limits))
    base = floor.Floor(args.url, floor.DEFAULT_ORDER, predicate)
    apps: dict[str, App] = {"app": app, "floor": base}
    async with Lifespan(app), Lifespan(base):
        for target in apps.values():
            await timed(target, 30)  # warm: statements, plans, page cache
        if args.profile:
            profiler = cProfile.Profile()
            profiler.enable()
            await timed(apps[args.profile], args.requests)
            profiler.disable()
            stats = pstats.Stats(profiler).sort_stats(args.sort)
            stats.print_stats(args.top)
            return
        figures: dict[str, list[tuple[float, float, int]]] = {"app": [], "floor": []}
        for _ in range(args.rounds):
            for name, target in apps.items():
                figures[name].append(await timed(target, args.requests))
    for name, rows in figures.items():
        cpu = ", ".join(f"{c:.2f}" for c, _, _ in rows)
        wall = ", ".join(f"{w:.2f}" for _, w, _ in rows)
        print(f"{name:5} CPU ms/request: {cpu}; wall ms/request: {wall}; bytes {rows[0][2]}")
    ratio = statistics.median(c for c, _, _ in figures["app"]) / statistics.median(
        c for c, _, _ in figures["floor"]
    )
    print(f"app ÷ floor (median CPU): {ratio:.2f}")


def _arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--url", required=True, help="a database bench.run --keep-db left")
    parser.add_argument("--requests", type=int, default=300)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--profile", choices=["app", "floor"])
    parser.add_argument("--sort", default="tottime")
    parser.add_argument("--top", type=int, default=40)
    parser.add_argument(
        "--rate-limits",
        choices=["off", "memory", "redis"],
        default="off",
        help="the app's rate limits: off (as bench.run), per process, or counted in Redis",
    )
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/0")
    return parser.parse_args()


if __name__ == "__main__":
    arguments = _arguments()
    query = (LIST_QUERY["status"], LIST_QUERY["region_code"], int(LIST_QUERY["limit"]))
    fastest = floor.fastest_predicate(arguments.url, floor.DEFAULT_ORDER, *query)
    asyncio.run(main(arguments, fastest))
