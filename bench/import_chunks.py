"""The import worker alone, in-process: the time of every 1,000-row chunk of a 100,000-row job, and
the statements whose time grows from the first chunks to the last.

``python -m bench.import_chunks --rows 100000`` (``--db sqlite`` for SQLite)

``bench.import_job`` measures the same import end to end on a real server, reading the job's
progress off polls; its stretches move by ±10 % from run to run on this shared machine. Here each
chunk is timed where it runs, and every statement the worker sends is timed through SQLAlchemy's
cursor events, so a cost that grows with the table shows up by name. Reported: the first ten and
the last ten chunks' total seconds (linear: the last no slower, within 10 %), and the per-chunk
milliseconds of the statements that take most time in either.

Those milliseconds are the event loop's: from sending a statement to resuming after it, so they
include the time the loop spent on other tasks meanwhile (the sealer's hashing, the next chunk's
parsing, another statement's turn). On SQLite each statement also runs in its connection's own
thread (aiosqlite), and there its own CPU is measured too: what the statement costs SQLite, which
the rest of the process does not move.
"""

import argparse
import asyncio
import cProfile
import json
import os
import sys
import threading
import time
from collections import defaultdict
from dataclasses import asdict, dataclass, field
from typing import Any

import httpx
from sqlalchemy import event

from bench.common import RESULTS, machine, throwaway_database
from bench.import_scaling import IMPORTING, prepare

EDGE = 10  # chunks at each end


@dataclass
class Figure:
    rows: int
    seconds: float
    rows_per_s: float
    first_chunks_s: float
    last_chunks_s: float
    statements_ms_per_chunk: dict[str, dict[str, float]]  # statement → {"first", "last"}
    # Statements sent per chunk (the worker's and, when on, the background sealer's).
    statements_per_chunk: dict[str, float] = field(default_factory=dict)
    seal_interval_s: float = 1.0
    # CPU of this process (time.process_time): the worker's Python, the driver and, on SQLite,
    # the database itself; the rest of the wall time is waiting (PostgreSQL's own CPU, the disk,
    # other processes on a shared machine).
    cpu_seconds: float = 0.0
    first_chunks_cpu_s: float = 0.0
    last_chunks_cpu_s: float = 0.0
    # SQLite only: CPU of each statement in its connection's thread, ms a chunk.
    sqlite_cpu_ms_per_chunk: dict[str, dict[str, float]] = field(default_factory=dict)


class Timer:
    """Statement and chunk times, filed under the first or the last chunks of the job."""

    def __init__(self, chunks: int) -> None:
        self.chunks = chunks
        self.done = 0
        self.sql: dict[str, dict[str, float]] = defaultdict(lambda: defaultdict(float))
        self.count: dict[str, int] = defaultdict(int)
        self.chunk: dict[str, float] = defaultdict(float)
        self.cpu: dict[str, float] = defaultdict(float)
        self.sqlite_cpu: dict[str, dict[str, float]] = defaultdict(lambda: defaultdict(float))
        self.lock = threading.Lock()  # the SQLite threads file their CPU here

    def edge(self) -> str | None:
        if self.done < EDGE:
            return "first"
        return "last" if self.chunks - EDGE <= self.done < self.chunks else None

    def statement(self, text: str, seconds: float) -> None:
        if (edge := self.edge()) is not None:
            self.sql[_name(text)][edge] += seconds
            self.count[edge] += 1

    def sqlite_statement(self, edge: str, name: str, cpu: float) -> None:
        with self.lock:
            self.sqlite_cpu[name][edge] += cpu

    def chunk_done(self, seconds: float, cpu: float) -> None:
        if (edge := self.edge()) is not None:
            self.chunk[edge] += seconds
            self.cpu[edge] += cpu
        self.done += 1


def _name(text: str) -> str:
    return " ".join(text.split()[:3])


def _time_sqlite_threads(timer: Timer) -> Any:
    """Have every aiosqlite call of this process timed (its thread's CPU) and filed by statement
    under the chunk edge it was sent in; returns the undo."""
    import aiosqlite.core

    sent: Any = aiosqlite.core.Connection._execute

    async def _execute(self: Any, fn: Any, *args: Any, **kwargs: Any) -> Any:
        edge = timer.edge()
        if edge is None:
            return await sent(self, fn, *args, **kwargs)
        text = args[0] if args and isinstance(args[0], str) else getattr(fn, "__name__", "call")
        name = _name(text)

        def timed(*a: Any, **k: Any) -> Any:
            cpu = time.thread_time()
            try:
                return fn(*a, **k)
            finally:
                timer.sqlite_statement(edge, name, time.thread_time() - cpu)

        return await sent(self, timed, *args, **kwargs)

    aiosqlite.core.Connection._execute = _execute  # type: ignore[method-assign]

    def undo() -> None:
        aiosqlite.core.Connection._execute = sent  # type: ignore[method-assign]

    return undo


async def run(
    keys: dict[str, str],
    data: bytes,
    env: dict[str, str],
    rows: int,
    seal_interval_s: float = 1.0,
    profile: str | None = None,
) -> Figure:
    # seal_interval_s 0: no sealer while the import runs (the chain is still sealed and verified
    # after it), to tell the sealer's share of the import's time from the writes' own.
    os.environ.update(
        env,
        CLIMATELIB_IMPORT_WORKER="false",
        CLIMATELIB_AUDIT_SEAL_INTERVAL_S=str(seal_interval_s),
    )
    from app.config import Settings
    from app.main import create_app
    from app.services.audit_chain import verify
    from app.services.import_worker import ImportWorker

    settings = Settings()
    app = create_app(settings)
    timer = Timer(-(-rows // 1000))
    on_sqlite = env["CLIMATELIB_DATABASE_URL"].startswith("sqlite")
    undo = _time_sqlite_threads(timer) if on_sqlite else None
    async with app.router.lifespan_context(app):
        engine = app.state.engine.sync_engine

        @event.listens_for(engine, "before_cursor_execute")
        def _before(conn: Any, _cursor: Any, _text: str, *_args: Any) -> None:
            conn.info["started"] = time.perf_counter()

        @event.listens_for(engine, "after_cursor_execute")
        def _after(conn: Any, _cursor: Any, text: str, *_args: Any) -> None:
            timer.statement(text, time.perf_counter() - conn.info["started"])

        transport = httpx.ASGITransport(app=app)
        headers = {"Authorization": f"Bearer {keys[IMPORTING]}"}
        async with httpx.AsyncClient(
            transport=transport, base_url="http://bench", headers=headers, timeout=600
        ) as http:
            files = {"file": ("projects.csv", data, "text/csv")}
            answer = await http.post("/api/v1/projects/import", files=files)
            if answer.status_code != 202:
                raise RuntimeError(f"import answered {answer.status_code}: {answer.text[:300]}")
            timer.sql.clear()  # the upload's own statements are not the worker's
            timer.sqlite_cpu.clear()
            worker = ImportWorker(app.state.sessions, settings)
            chunk = worker._chunk

            async def timed(*args: Any, **kwargs: Any) -> bool:
                started, cpu = time.perf_counter(), time.process_time()
                going = await chunk(*args, **kwargs)
                timer.chunk_done(time.perf_counter() - started, time.process_time() - cpu)
                return going

            worker._chunk = timed  # type: ignore[method-assign]
            profiler = cProfile.Profile() if profile else None
            started, cpu_started = time.perf_counter(), time.process_time()
            if profiler is not None:
                profiler.enable()
            await worker.run_once()
            if profiler is not None and profile:
                profiler.disable()
                profiler.dump_stats(profile)
            seconds = time.perf_counter() - started
            cpu_seconds = time.process_time() - cpu_started
            job = (await http.get(answer.headers["location"])).json()
            if job["status"] != "succeeded":
                raise RuntimeError(f"the job ended {job['status']}")
            # Outside the timing: seal what is left, then the whole chain must verify.
            event.remove(engine, "before_cursor_execute", _before)
            event.remove(engine, "after_cursor_execute", _after)
            if undo is not None:
                undo()
            await app.state.audit_sealer.stop()  # one sealer: the background one may be mid-round
            while await app.state.audit_sealer.seal():
                pass
            async with app.state.sessions() as session:
                verdict = await verify(session)
            if not verdict.ok or verdict.unsealed:
                raise RuntimeError(f"the audit chain does not verify after the import: {verdict}")
            print(f"  audit chain verifies: {verdict.checked} links", file=sys.stderr)
    biggest = sorted(timer.sql, key=lambda k: -max(timer.sql[k].values()))[:6]
    costliest = sorted(timer.sqlite_cpu, key=lambda k: -max(timer.sqlite_cpu[k].values()))[:6]
    return Figure(
        rows=rows,
        seconds=round(seconds, 2),
        rows_per_s=round(rows / seconds),
        first_chunks_s=round(timer.chunk["first"], 2),
        last_chunks_s=round(timer.chunk["last"], 2),
        cpu_seconds=round(cpu_seconds, 2),
        first_chunks_cpu_s=round(timer.cpu["first"], 2),
        last_chunks_cpu_s=round(timer.cpu["last"], 2),
        seal_interval_s=seal_interval_s,
        statements_per_chunk={edge: timer.count[edge] / EDGE for edge in ("first", "last")},
        statements_ms_per_chunk={
            name: {
                edge: round(timer.sql[name][edge] * 1000 / EDGE, 1) for edge in ("first", "last")
            }
            for name in biggest
        },
        sqlite_cpu_ms_per_chunk={
            name: {
                edge: round(timer.sqlite_cpu[name][edge] * 1000 / EDGE, 1)
                for edge in ("first", "last")
            }
            for name in costliest
        },
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--db", choices=["postgresql", "sqlite"], default="postgresql")
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument(
        "--seal-interval",
        type=float,
        default=1.0,
        help="the audit sealer's interval while the import runs (0: no sealer until it ends)",
    )
    parser.add_argument("--profile", metavar="FILE", help="cProfile the worker into FILE")
    args = parser.parse_args()
    if args.rows < 2 * EDGE * 1000:
        parser.error(f"--rows must be at least {2 * EDGE * 1000}")
    with throwaway_database(args.db) as db:
        keys, data, env = prepare(db, args.rows, args.seed)  # before any event loop runs
        figure = asyncio.run(run(keys, data, env, args.rows, args.seal_interval, args.profile))
    linear = figure.last_chunks_s <= figure.first_chunks_s * 1.10
    print(
        f"{figure.rows} rows in {figure.seconds:.1f} s ({figure.rows_per_s} rows/s, worker only); "
        f"first {EDGE} chunks {figure.first_chunks_s:.2f} s, "
        f"last {EDGE} {figure.last_chunks_s:.2f} s"
    )
    print(
        f"  CPU of this process {figure.cpu_seconds:.1f} s of {figure.seconds:.1f} s "
        f"(first {EDGE} chunks {figure.first_chunks_cpu_s:.2f} s, "
        f"last {figure.last_chunks_cpu_s:.2f} s)"
    )
    counts = figure.statements_per_chunk
    print(
        f"  sealer interval {figure.seal_interval_s:g} s; statements a chunk: "
        f"first {counts['first']:.1f}, last {counts['last']:.1f}"
    )
    for name, times in figure.statements_ms_per_chunk.items():
        print(f"  {times['first']:7.1f} → {times['last']:7.1f} ms a chunk  {name}")
    if figure.sqlite_cpu_ms_per_chunk:
        print("  CPU in the SQLite connection's thread:")
    for name, times in figure.sqlite_cpu_ms_per_chunk.items():
        print(f"  {times['first']:7.1f} → {times['last']:7.1f} ms CPU a chunk  {name}")
    print(f"  {'PASS' if linear else 'FAIL'}  last {EDGE} chunks no slower than the first (±10 %)")
    RESULTS.mkdir(exist_ok=True)
    out = RESULTS / f"import-chunks-{args.db}-{time.strftime('%Y%m%d-%H%M%S')}.json"
    out.write_text(json.dumps({"machine": machine(), "figure": asdict(figure)}, indent=2))
    print(f"wrote {out}", file=sys.stderr)


if __name__ == "__main__":
    main()
