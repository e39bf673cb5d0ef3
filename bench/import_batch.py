"""Batch import alone: ``POST /api/v1/projects/batch`` 10 × 1,000 new projects on a real server.

``python -m bench.import_batch`` (``--db sqlite``, ``--repeats 3``, ``--seal-interval 0``,
``--projects 100000``)

The same requests as ``bench.run``'s batch import row (``bench.run.batch_import``), without the
read loads around it, so that the write path can be measured before and after a change in a
minute. Each repeat is a fresh database and server. By default the batch goes into an empty
table; ``--projects N`` first generates ``bench.run``'s library of N projects (``bench.generate``,
as ``bench.run`` does), whose indexes the batch's inserts then land in: what ``bench.run``'s row
measures. The server's audit sealer runs at its usual interval unless ``--seal-interval`` says
otherwise (0: none, to see the sealer's share).
"""

import argparse
import json
import statistics
import sys
import time

from bench.common import RESULTS, cpu_seconds, machine, serving, throwaway_database
from bench.generate import Spec, generate
from bench.import_scaling import IMPORTING, prepare
from bench.run import batch_import


def measure(
    db_kind: str, batches: int, seal_interval_s: float, projects: int = 0
) -> tuple[float, float, str]:
    """Projects/s, the server's CPU ms per 1,000 projects (sealing included), the note."""
    with throwaway_database(db_kind) as db:
        keys, _data, env = prepare(db, 1, 7)
        if projects:
            generate(db.url, Spec(projects=projects))
        env["CLIMATELIB_AUDIT_SEAL_INTERVAL_S"] = str(seal_interval_s)
        with serving("import-batch", "app.asgi:app", env) as server:
            pid = server.process.pid
            before = cpu_seconds(pid)
            row = batch_import(server.base_url, keys[IMPORTING], Spec(), batches)
            time.sleep(max(seal_interval_s, 0) + 0.5)  # the sealer's round for the last batch
            cpu = cpu_seconds(pid) - before
    assert row.load is not None
    return row.load.rps, cpu * 1000 / batches, row.note


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--db", choices=["postgresql", "sqlite"], default="postgresql")
    parser.add_argument("--batches", type=int, default=10)
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--seal-interval", type=float, default=1.0)
    parser.add_argument(
        "--projects", type=int, default=0, help="generate a library of this many projects first"
    )
    args = parser.parse_args()
    figures, cpus = [], []
    for _ in range(args.repeats):
        rps, cpu_ms, note = measure(args.db, args.batches, args.seal_interval, args.projects)
        figures.append(round(rps))
        cpus.append(round(cpu_ms))
        print(
            f"  {rps:,.0f} projects/s, server CPU {cpu_ms:,.0f} ms / 1,000 ({note})",
            file=sys.stderr,
        )
    each = ", ".join(f"{f:,}" for f in figures)
    median = statistics.median(figures)
    print(
        f"batch import {args.batches} × 1,000 into {args.projects:,} projects, {args.db}, "
        f"sealer interval "
        f"{args.seal_interval:g} s: {each} projects/s (median {median:,.0f}); server CPU "
        f"{', '.join(str(c) for c in cpus)} ms per 1,000 projects"
    )
    RESULTS.mkdir(exist_ok=True)
    out = RESULTS / f"import-batch-{args.db}-{time.strftime('%Y%m%d-%H%M%S')}.json"
    out.write_text(
        json.dumps(
            {
                "machine": machine(),
                "seal_interval_s": args.seal_interval,
                "projects_before": args.projects,
                "projects_per_s": figures,
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
