"""The rate limiter's own CPU per request: the middleware alone around an app that answers at once.

``python -m bench.ratelimit_cpu [--requests 20000] [--rounds 3] [--limits off memory redis]``

Served figures move with the shared machine's load, and the limiter is a small part of a page;
alone, in one process, its cost is what is left. Each round sends ``--requests`` requests through
``RateLimitMiddleware`` from 1 and from 32 concurrent callers on one event loop (the callers of
one worker under load) and reports CPU µs per request (``time.process_time``: this process only,
so Redis's own work is not counted; the round trip is) and wall µs per request. Quotas are out of
reach, so every request is counted in full and none refused; the Redis keys get a prefix of the
run's own, deleted after. ``--profile`` prints cProfile's top functions of one Redis round at 32.
"""

import argparse
import asyncio
import cProfile
import pstats
import statistics
import time
import uuid
from typing import Any

from app.config import Settings
from app.ratelimit.middleware import RateLimitMiddleware

SCOPE: dict[str, Any] = {
    "type": "http",
    "method": "GET",
    "path": "/api/v1/projects",
    "query_string": b"status=in_library&region_code=44&limit=50",
    "headers": [(b"host", b"bench"), (b"accept", b"application/json")],
    "client": ("127.0.0.1", 50000),
}


async def _answer(scope: Any, receive: Any, send: Any) -> None:
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": b"{}"})


async def _receive() -> dict[str, Any]:
    return {"type": "http.request", "body": b""}


async def _sent(message: Any) -> None:
    return None


async def _round(
    limiter: RateLimitMiddleware, requests: int, callers: int, profiler: cProfile.Profile | None
) -> tuple[float, float]:
    async def caller(n: int) -> None:
        for _ in range(n):
            await limiter(SCOPE, _receive, _sent)

    if profiler:
        profiler.enable()
    cpu, wall = time.process_time(), time.perf_counter()
    await asyncio.gather(*(caller(requests // callers) for _ in range(callers)))
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    if profiler:
        profiler.disable()
    done = requests // callers * callers
    return cpu * 1e6 / done, wall * 1e6 / done


async def measure(limits: str, args: argparse.Namespace, prefix: str) -> None:
    settings = Settings(
        database_url="sqlite://",
        rate_limits=limits != "off",
        rate_limit_per_address=10_000_000,
        redis_url=args.redis_url if limits == "redis" else None,
        redis_key_prefix=prefix,
    )
    limiter = RateLimitMiddleware(_answer, settings=settings)
    try:
        await _round(limiter, 1000, 4, None)  # warm: the connection, the caches
        if args.profile:
            if limits == "redis":
                profiler = cProfile.Profile()
                await _round(limiter, args.requests, 32, profiler)
                pstats.Stats(profiler).sort_stats("tottime").print_stats(args.top)
            return
        for callers in (1, 32):
            figures = [
                await _round(limiter, args.requests, callers, None) for _ in range(args.rounds)
            ]
            cpu = ", ".join(f"{c:.1f}" for c, _ in figures)
            wall = ", ".join(f"{w:.1f}" for _, w in figures)
            median = statistics.median(c for c, _ in figures)
            print(
                f"{limits:6} {callers:2} callers: CPU µs/request {cpu} (median {median:.1f}); "
                f"wall µs/request {wall}"
            )
    finally:
        await limiter.buckets.aclose()


def _delete(url: str, prefix: str) -> None:
    import redis

    with redis.Redis.from_url(url) as client:
        keys = list(client.scan_iter(match=prefix + "*", count=1000))
        if keys:
            client.delete(*keys)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=20_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument(
        "--limits", nargs="+", choices=["off", "memory", "redis"], default=["off", "redis"]
    )
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/0")
    parser.add_argument("--profile", action="store_true")
    parser.add_argument("--top", type=int, default=25)
    args = parser.parse_args()
    prefix = f"climatelib-bench:{uuid.uuid4().hex[:12]}:"
    try:
        for limits in args.limits:
            asyncio.run(measure(limits, args, prefix))
    finally:
        if "redis" in args.limits:
            _delete(args.redis_url, prefix)


if __name__ == "__main__":
    main()
