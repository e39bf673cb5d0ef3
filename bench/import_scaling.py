"""Import time against file size, and what a large import does to everyone else's writes.

``python -m bench.import_scaling --sizes 1000 8000 16000 24000``

For each size: a fresh database (migrated), a server (``python -m uvicorn app.asgi:app``), one
``POST /api/v1/projects/import`` of a CSV with that many new projects from one region (深圳市)
(above 1,000 rows an import job, followed to its end),
and meanwhile another region's single creates (北京市东城区), one after the other, each timed.
A linear import takes about the same time per thousand rows at every size; a write path that
queues every writer behind one shared row shows as a growing time per thousand and as creates
that wait for the import's commit.
"""

import argparse
import asyncio
import csv
import io
import json
import random
import sys
import threading
import time
import uuid
from dataclasses import asdict, dataclass
from typing import Any

import httpx

from app.reference.regions import region_table
from app.services.tabular import SHEET
from bench.common import RESULTS, Database, machine, percentile, serving, throwaway_database
from bench.generate import Spec, api_item, project_rows

IMPORTING = "440300"  # 深圳市 and its districts
PROBING = "110101"  # 北京市东城区: another province's office pushing one project at a time
PROBE_PAUSE_S = 0.1


@dataclass
class Figure:
    rows: int
    seconds: float
    ms_per_1000_rows: float
    created: int
    probe_creates: int
    probe_p50_ms: float
    probe_max_ms: float
    probe_errors: int


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return ";".join(str(v) for v in value)
    return str(value)


def _at(item: dict[str, Any], path: tuple[str, ...]) -> Any:
    value: Any = item
    for part in path:
        if not isinstance(value, dict):
            return None
        value = value.get(part)
    return value


def import_file(size: int, seed: int) -> bytes:
    """A CSV of ``size`` new projects of the importing region, in the export's columns."""
    table = region_table()
    codes = [c for c in table.children.get(IMPORTING, ()) if table.is_current(c)]
    rng = random.Random(seed)
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow([column.name for column in SHEET])
    run = uuid.uuid4().hex[:6]
    for n, row in enumerate(project_rows(Spec(projects=size, seed=seed), rng)):
        row["region_code"] = rng.choice(codes)
        item = api_item(row, external_ref=f"SCALE-{run}-{n:06d}")
        writer.writerow([_cell(_at(item, column.path)) for column in SHEET])
    return buffer.getvalue().encode()


def probe_items(count: int, seed: int) -> list[dict[str, Any]]:
    rng = random.Random(seed)
    items = []
    for n, row in enumerate(project_rows(Spec(projects=count, seed=seed), rng)):
        row["region_code"] = PROBING
        items.append(api_item(row, external_ref=f"PROBE-{seed}-{n:05d}"))
    return items


async def issue_keys(url: str) -> dict[str, str]:
    from app.config import Settings
    from app.db import create_engine, session_factory
    from app.models import Role
    from app.services import api_keys

    engine = create_engine(Settings(database_url=url))
    try:
        async with session_factory(engine).begin() as session:
            keys = {}
            for scope in (IMPORTING, PROBING):
                _, keys[scope] = await api_keys.create(
                    session, name=f"bench {scope}", role=Role.region, scope=scope
                )
    finally:
        await engine.dispose()
    return keys


class Prober(threading.Thread):
    """Single creates from the other region, one at a time, until stopped."""

    def __init__(self, base_url: str, key: str, items: list[dict[str, Any]]) -> None:
        super().__init__(daemon=True)
        self.base_url, self.key, self.items = base_url, key, items
        self.stopped = threading.Event()
        self.times: list[float] = []
        self.errors = 0

    def run(self) -> None:
        headers = {"Authorization": f"Bearer {self.key}"}
        with httpx.Client(base_url=self.base_url, headers=headers, timeout=600) as http:
            for item in self.items:
                if self.stopped.is_set():
                    return
                started = time.perf_counter()
                answer = http.post("/api/v1/projects", json=item)
                self.times.append(time.perf_counter() - started)
                if answer.status_code != 201:
                    self.errors += 1
                self.stopped.wait(PROBE_PAUSE_S)


def follow_job(http: httpx.Client, location: str) -> httpx.Response:
    """Poll an import job until it ends; its last document (which has the summary)."""
    while True:
        answer = http.get(location)
        if answer.json()["status"] not in ("queued", "running"):
            return answer
        time.sleep(0.1)


def prepare(db: Database, size: int, seed: int) -> tuple[dict[str, str], bytes, dict[str, str]]:
    """A migrated database with the two regions' keys, the file to import, the server's
    environment (no rate limits: the benchmark is the flood)."""
    from app.migrate import upgrade

    upgrade(db.url)
    keys = asyncio.run(issue_keys(db.url))
    env = {
        "CLIMATELIB_DATABASE_URL": db.url,
        "CLIMATELIB_RATE_LIMITS": "false",
        "CLIMATELIB_LOG_LEVEL": "WARNING",
    }
    return keys, import_file(size, seed), env


def measure(db: Database, size: int, seed: int) -> Figure:
    keys, data, env = prepare(db, size, seed)
    with serving(f"import-{size}", "app.asgi:app", env) as server:
        prober = Prober(server.base_url, keys[PROBING], probe_items(2_000, seed + 1))
        headers = {"Authorization": f"Bearer {keys[IMPORTING]}"}
        with httpx.Client(base_url=server.base_url, headers=headers, timeout=1800) as http:
            prober.start()
            time.sleep(0.5)  # the prober's first creates run before the import starts
            started = time.perf_counter()
            answer = http.post(
                "/api/v1/projects/import", files={"file": ("projects.csv", data, "text/csv")}
            )
            if answer.status_code == 202:  # more than one batch: follow the job to its end
                answer = follow_job(http, answer.headers["location"])
            seconds = time.perf_counter() - started
            time.sleep(0.5)
            prober.stopped.set()
            prober.join()
        if answer.status_code >= 300:
            raise RuntimeError(f"import answered {answer.status_code}: {answer.text[:300]}")
        created = answer.json().get("summary", {}).get("created", 0)
    times = sorted(t * 1000 for t in prober.times)
    return Figure(
        rows=size,
        seconds=round(seconds, 2),
        ms_per_1000_rows=round(seconds * 1_000_000 / size, 1),
        created=created,
        probe_creates=len(times),
        probe_p50_ms=round(percentile(times, 50), 1),
        probe_max_ms=round(times[-1] if times else float("nan"), 1),
        probe_errors=prober.errors,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--db", choices=["postgresql", "sqlite"], default="postgresql")
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 8000, 16000, 24000])
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    figures = []
    for size in args.sizes:
        with throwaway_database(args.db) as db:
            figure = measure(db, size, args.seed)
        figures.append(figure)
        print(
            f"{size:>7} rows: {figure.seconds:8.2f} s ({figure.ms_per_1000_rows:.0f} ms per 1,000;"
            f" {figure.created} created) | other region's creates: {figure.probe_creates},"
            f" p50 {figure.probe_p50_ms:.0f} ms, max {figure.probe_max_ms:.0f} ms,"
            f" {figure.probe_errors} errors",
            flush=True,
        )
    RESULTS.mkdir(exist_ok=True)
    out = RESULTS / f"import-scaling-{args.db}-{time.strftime('%Y%m%d-%H%M%S')}.json"
    out.write_text(
        json.dumps({"machine": machine(), "figures": [asdict(f) for f in figures]}, indent=2)
    )
    print(f"wrote {out}", file=sys.stderr)


if __name__ == "__main__":
    main()
