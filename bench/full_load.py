"""The full re-match against an existing database, in process, step by step.

``python -m bench.full_load --url URL --repeat 3`` (a database filled by ``bench.generate``):
each run reads the library's columns (``library_columns``), builds the library from them
(``Library.of_columns``), reads the active products, re-matches every product
(``rematch_snapshot``), then times ``rematch_all`` whole on a fresh store; wall and CPU seconds
of this process for each step, on PostgreSQL also the CPU seconds of the database's backends
serving this database (read from ``/proc``: the server runs on this machine), and the peak RSS.
Run another checkout's code with ``PYTHONPATH=that/checkout`` to compare before and after.
"""

import argparse
import asyncio
import gc
import inspect
import json
import os
import resource
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from app.config import Settings
from app.db import create_engine, session_factory
from app.repositories import matching as repo
from app.services.matching import service, store
from app.services.matching.library import Library


def _backends_cpu(database: str | None) -> float:
    """User + system CPU seconds so far of the PostgreSQL backends connected to ``database``
    (by their process titles; those that exited before are not counted: read it while the
    engine's connections are open)."""
    if not database:
        return 0.0
    ticks = 0
    for proc in Path("/proc").glob("[0-9]*"):
        try:
            title = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            if not title.startswith("postgres:") or f" {database} " not in title:
                continue
            fields = (proc / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        ticks += int(fields[11]) + int(fields[12])
    return ticks / os.sysconf("SC_CLK_TCK")


class _Steps:
    """Wall, CPU and (PostgreSQL) the database's CPU seconds of each step, by name."""

    def __init__(self, database: str | None) -> None:
        self.out: dict[str, Any] = {}
        self.database = database

    async def timed(self, name: str, work: Callable[..., Any], *args: Any) -> Any:
        wall, cpu = time.perf_counter(), time.process_time()
        db_cpu = _backends_cpu(self.database)
        with store.gc_paused():  # as the store loads
            result = work(*args)
            if inspect.isawaitable(result):
                result = await result
        seconds = [round(time.perf_counter() - wall, 3), round(time.process_time() - cpu, 3)]
        if self.database:
            seconds.append(round(_backends_cpu(self.database) - db_cpu, 2))
        self.out[name] = seconds
        return result


async def _one_run(engine: Any) -> dict[str, Any]:
    postgresql = engine.dialect.name == "postgresql"
    steps = _Steps(engine.url.database if postgresql else None)
    async with session_factory(engine).begin() as session:
        read = await steps.timed("read columns", repo.library_columns, session)
        library = await steps.timed("build library", Library.of_columns, read)
        entries = await steps.timed("read products", store._products, session)
    snap = store.Snapshot(library=library, products=entries, position=repo.FeedPosition(0))
    counts = await steps.timed("re-match", service.rematch_snapshot, snap)
    del read, library, entries, snap
    gc.collect()
    store._STORES.clear()
    async with session_factory(engine).begin() as session:
        await steps.timed("rematch_all", service.rematch_all, session)
    store._STORES.clear()
    gc.collect()
    steps.out["products"], steps.out["eligible"] = len(counts), sum(counts.values())
    steps.out["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024
    return steps.out


async def run(url: str, repeat: int) -> list[dict[str, Any]]:
    engine = create_engine(Settings(database_url=url))
    runs = []
    try:
        for _ in range(repeat):
            out = await _one_run(engine)
            print(json.dumps(out), flush=True)
            runs.append(out)
    finally:
        await engine.dispose()
    return runs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", required=True, help="plain database URL (SQLite or PostgreSQL)")
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument(
        "--split-rows",
        type=int,
        help="PostgreSQL: read the library in two id ranges at once from this many projects "
        "(repositories.matching.SPLIT_ROWS; a huge number reads it in one statement)",
    )
    args = parser.parse_args()
    if args.split_rows is not None:
        repo.SPLIT_ROWS = args.split_rows
    asyncio.run(run(args.url, args.repeat))


if __name__ == "__main__":
    main()
