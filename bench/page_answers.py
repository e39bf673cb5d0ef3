"""The public page's answers from sqlite3's rows, the two ways, CPU per page in one process.

``python -m bench.page_answers --path <sqlite file>`` (a database ``bench.run --db sqlite
--keep-db`` left): the anonymous list page's 51 rows read once from sqlite3, then, alternating,
turned into the answer's dicts through SQLAlchemy's values (``convert_rows`` + ``to_json``, the
way before ``public_answers``) and straight from sqlite3's values (``public_answers``). The two
must encode to the same bytes. Served figures move with the shared machine's load; this one
isolates the step that changed.
"""

import argparse
import sqlite3
import statistics
import time
from collections.abc import Callable
from typing import Any

import orjson
from sqlalchemy.dialects import sqlite

from app.auth import ANONYMOUS
from app.models.project import ProjectStatus
from app.models.project_query import ProjectFilters
from app.repositories import projects as repo
from app.repositories.sqlite_reads import convert_rows
from app.repositories.statements import driver_plan
from app.services.project_rows import public_answers, to_json


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--path", required=True, help="the SQLite database file")
    parser.add_argument("--pages", type=int, default=300)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    filters = ProjectFilters(status=[ProjectStatus.in_library], region_code="44")
    stmt, params = repo.list_statement(ANONYMOUS, filters, repo.DEFAULT_SORT, None, 50)
    plan = driver_plan(stmt, sqlite.dialect())
    assert plan is not None
    connection = sqlite3.connect(args.path)
    rows = connection.execute(plan.sql, plan.args(params)).fetchall()

    def before() -> Any:
        return [to_json(r, ANONYMOUS) for r in convert_rows(rows, plan.results)]

    def after() -> Any:
        return public_answers(rows, plan)

    assert orjson.dumps(before()) == orjson.dumps(after()), "the two answers differ"
    ways: dict[str, tuple[Callable[[], Any], list[float]]] = {
        "before (convert + to_json)": (before, []),
        "after (public_answers)": (after, []),
    }
    for _ in range(args.rounds):
        for build, times in ways.values():
            start = time.process_time()
            for _ in range(args.pages):
                build()
            times.append((time.process_time() - start) / args.pages * 1000)
    print(f"{len(rows)} rows a page; CPU ms per page, {args.rounds} rounds of {args.pages}")
    for name, (_, times) in ways.items():
        shown = ", ".join(f"{t:.3f}" for t in times)
        print(f"{name}: {shown}; median {statistics.median(times):.3f}")


if __name__ == "__main__":
    main()
