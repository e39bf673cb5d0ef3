"""Fallback load driver when ``wrk`` is absent: ``python -m bench.load URL PATHS_JSON``.

N asyncio tasks, one keep-alive connection each, request the paths round robin until the time is
up; each request is timed here, so p50/p99 include the client's own overhead (wrk's do not).
Prints one JSON object (the fields of ``bench.common.Load``).
"""

import argparse
import asyncio
import itertools
import json
import time
from pathlib import Path

import httpx

from bench.common import percentile


async def drive(
    base_url: str, paths: list[str], headers: dict[str, str], connections: int, seconds: float
) -> dict[str, object]:
    latencies: list[float] = []
    errors = 0
    cycle = itertools.cycle(paths)
    limits = httpx.Limits(max_connections=connections, max_keepalive_connections=connections)
    async with httpx.AsyncClient(base_url=base_url, headers=headers, limits=limits) as client:
        deadline = time.perf_counter() + seconds

        async def worker() -> None:
            nonlocal errors
            while time.perf_counter() < deadline:
                path = next(cycle)
                start = time.perf_counter()
                try:
                    response = await client.get(path, timeout=10)
                    await response.aread()
                    if response.status_code >= 400:
                        errors += 1
                except httpx.HTTPError:
                    errors += 1
                latencies.append((time.perf_counter() - start) * 1000)

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(connections)))
        elapsed = time.perf_counter() - started
    latencies.sort()
    return {
        "requests": len(latencies),
        "seconds": elapsed,
        "rps": len(latencies) / elapsed,
        "p50_ms": percentile(latencies, 50),
        "p99_ms": percentile(latencies, 99),
        "errors": errors,
        "driver": "httpx",
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("base_url")
    parser.add_argument("paths_json", type=Path)
    parser.add_argument("--connections", type=int, default=1)
    parser.add_argument("--seconds", type=float, default=5)
    args = parser.parse_args()
    spec = json.loads(args.paths_json.read_text())
    result = asyncio.run(
        drive(args.base_url, spec["paths"], spec.get("headers", {}), args.connections, args.seconds)
    )
    print(json.dumps(result))


if __name__ == "__main__":
    main()
