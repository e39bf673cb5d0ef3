"""A 100,000-row import run as a job on a real server: rows per second end to end, whether the
last rows go as fast as the first, and another region's single creates meanwhile.

``python -m bench.import_job --rows 100000`` (``--db sqlite`` for SQLite)

A fresh database (migrated), one server (``python -m uvicorn app.asgi:app``, its import worker
polling every 0.2 s), one ``POST /api/v1/projects/import`` of a CSV of new projects from one
region (深圳市, the file of ``bench.import_scaling``), answered 202; the job is then polled every
0.1 s until it finishes. Meanwhile another region (北京市东城区) creates single projects, one
after the other, each timed. Reported: rows/s from the POST to the job's end (target ≥ 2,000),
the time of the first and the last 10,000 rows (target: the last no slower), and the creates'
p50/p99 during the job (target p99 ≤ 1 s).
"""

import argparse
import itertools
import json
import sys
import time
from dataclasses import asdict, dataclass

import httpx

from bench.common import (
    RESULTS,
    Database,
    cpu_seconds,
    machine,
    percentile,
    serving,
    throwaway_database,
)
from bench.import_scaling import IMPORTING, PROBING, Prober, prepare, probe_items

STRETCH = 10_000
POLL_S = 0.05  # the stretches are read off these polls: fine enough, without loading the server


@dataclass
class Figure:
    rows: int
    created: int
    submit_s: float
    end_to_end_s: float
    rows_per_s: float
    first_10k_s: float
    last_10k_s: float
    probe_creates: int
    probe_p50_ms: float
    probe_p99_ms: float
    probe_max_ms: float
    probe_errors: int
    stretches_s: list[float]  # the time of each successive stretch of rows (10,000 or a quarter)
    # The server's CPU per 1,000 rows from the POST to the job's end (the other region's creates
    # and the sealer included): what moves least with the load of a shared machine.
    server_cpu_ms_per_1000: float = 0.0
    # The same for the first and the last stretch alone: whether the rows cost more as the table
    # grows, read where the wall-clock stretches move with the machine's load.
    first_10k_cpu_s: float = 0.0
    last_10k_cpu_s: float = 0.0


def _crossing(samples: list[tuple[float, int]], rows: int) -> float:
    """When the job had first done at least ``rows`` rows (the poll that saw it)."""
    return next(t for t, done in samples if done >= rows)


def measure(db: Database, rows: int, seed: int) -> Figure:
    keys, data, env = prepare(db, rows, seed)
    env["CLIMATELIB_IMPORT_POLL_INTERVAL_S"] = "0.2"
    with serving(f"import-job-{rows}", "app.asgi:app", env) as server:
        prober = Prober(server.base_url, keys[PROBING], probe_items(5_000, seed + 1))
        headers = {"Authorization": f"Bearer {keys[IMPORTING]}"}
        with httpx.Client(base_url=server.base_url, headers=headers, timeout=600) as http:
            prober.start()
            time.sleep(0.5)  # the prober's first creates run before the import starts
            probes_before = len(prober.times)
            cpu_before = cpu_seconds(server.process.pid)
            started = time.perf_counter()
            answer = http.post(
                "/api/v1/projects/import", files={"file": ("projects.csv", data, "text/csv")}
            )
            submitted = time.perf_counter()
            cpu_submitted = cpu_seconds(server.process.pid) - cpu_before
            if answer.status_code != 202:
                raise RuntimeError(f"import answered {answer.status_code}: {answer.text[:300]}")
            location = answer.headers["location"]
            samples: list[tuple[float, int]] = []
            cpu_at: dict[float, float] = {}  # the server's CPU at each poll, from the POST
            while True:
                job = http.get(location).json()
                now = time.perf_counter()
                samples.append((now, job["rows_done"]))
                cpu_at[now] = cpu_seconds(server.process.pid) - cpu_before
                if job["status"] not in ("queued", "running"):
                    break
                time.sleep(POLL_S)
            ended = time.perf_counter()
            cpu = cpu_seconds(server.process.pid) - cpu_before
            probes_during = len(prober.times)
            prober.stopped.set()
            prober.join()
    if job["status"] != "succeeded":
        raise RuntimeError(f"the job ended {job['status']}: {job}")
    # The first stretch: from the POST's answer (the job queued) to 10,000 rows done; the last:
    # from the poll that saw rows - 10,000 done to the end.
    stretch = min(STRETCH, rows // 4)  # a smaller file compares its first and last quarters
    first = _crossing(samples, stretch) - submitted
    last = ended - _crossing(samples, rows - stretch)
    first_cpu = cpu_at[_crossing(samples, stretch)] - cpu_submitted
    last_cpu = cpu - cpu_at[_crossing(samples, rows - stretch)]
    marks = [submitted] + [_crossing(samples, n) for n in range(stretch, rows, stretch)] + [ended]
    stretches = [round(b - a, 2) for a, b in itertools.pairwise(marks)]
    times = sorted(t * 1000 for t in prober.times[probes_before:probes_during])
    return Figure(
        rows=rows,
        created=job["summary"]["created"],
        submit_s=round(submitted - started, 2),
        end_to_end_s=round(ended - started, 2),
        rows_per_s=round(rows / (ended - started), 1),
        first_10k_s=round(first, 2),
        last_10k_s=round(last, 2),
        probe_creates=len(times),
        probe_p50_ms=round(percentile(times, 50), 1),
        probe_p99_ms=round(percentile(times, 99), 1),
        probe_max_ms=round(times[-1] if times else float("nan"), 1),
        probe_errors=prober.errors,
        stretches_s=stretches,
        server_cpu_ms_per_1000=round(cpu * 1_000_000 / rows),
        first_10k_cpu_s=round(first_cpu, 2),
        last_10k_cpu_s=round(last_cpu, 2),
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--db", choices=["postgresql", "sqlite"], default="postgresql")
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    with throwaway_database(args.db) as db:
        figure = measure(db, args.rows, args.seed)
    verdict = {
        "rows_per_s >= 2000": figure.rows_per_s >= 2000,
        "last 10k no slower than first 10k": figure.last_10k_s <= figure.first_10k_s,
        "probe p99 <= 1 s": figure.probe_p99_ms <= 1000,
    }
    print(
        f"{figure.rows} rows as a job: {figure.end_to_end_s:.1f} s end to end "
        f"({figure.rows_per_s:.0f} rows/s; the POST answered in {figure.submit_s:.2f} s); "
        f"first 10,000 rows {figure.first_10k_s:.2f} s, last 10,000 {figure.last_10k_s:.2f} s | "
        f"other region's creates: {figure.probe_creates}, p50 {figure.probe_p50_ms:.0f} ms, "
        f"p99 {figure.probe_p99_ms:.0f} ms, max {figure.probe_max_ms:.0f} ms, "
        f"{figure.probe_errors} errors\n  each stretch of rows (s): {figure.stretches_s}\n"
        f"  server CPU {figure.server_cpu_ms_per_1000:.0f} ms per 1,000 rows; first 10,000 rows "
        f"{figure.first_10k_cpu_s:.2f} s, last 10,000 {figure.last_10k_cpu_s:.2f} s",
        flush=True,
    )
    for target, met in verdict.items():
        print(f"  {'PASS' if met else 'FAIL'}  {target}")
    RESULTS.mkdir(exist_ok=True)
    out = RESULTS / f"import-job-{args.db}-{time.strftime('%Y%m%d-%H%M%S')}.json"
    out.write_text(
        json.dumps({"machine": machine(), "figure": asdict(figure), "targets": verdict}, indent=2)
    )
    print(f"wrote {out}", file=sys.stderr)


if __name__ == "__main__":
    main()
