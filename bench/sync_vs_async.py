"""Issue 2's question, measured: sync or async database access for a list query?

Two FastAPI apps, identical but for the access style, serve the same filtered 50-row page
(``GET /api/v1/projects?status=in_library&region_code=44&limit=50``) from the real ``projects``
table of a migrated, generated database:

- ``sync``: a ``def`` endpoint (FastAPI runs it in its thread pool) with a sync SQLAlchemy engine,
  psycopg 3 on PostgreSQL, sqlite3 on SQLite;
- ``async``: an ``async def`` endpoint with the async engine the service uses, asyncpg / aiosqlite.

Both use the same Core statement, the same row → dict code and orjson, and the service's pool
settings. Each is served by uvicorn in its own process and loaded from another (wrk, or the httpx
driver) with 1 and 32 connections.

``python -m bench.sync_vs_async [--db postgresql sqlite] [--projects 20000] [--seconds 10]``
"""

import argparse
import json
import os
import statistics
import sys
import time
from collections.abc import Iterator
from contextlib import ExitStack, asynccontextmanager, contextmanager
from typing import Any

import sqlalchemy as sa
from fastapi import FastAPI
from fastapi.responses import ORJSONResponse
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker, create_async_engine
from sqlalchemy.orm import sessionmaker

from app.db import async_url
from app.models import Project
from app.models.flags import CATEGORIES, FINANCING_TYPES
from bench.common import RESULTS, Load, machine, run_load, serving, throwaway_database
from bench.generate import Spec, generate, sync_url

PATH = "/api/v1/projects?status=in_library&region_code=44&limit=50"
_T = Project.__table__
_COLUMNS = [c for c in _T.columns if not c.name.startswith("contact_") and c.name != "screening"]
_MONEY = {"total_investment", "financing_need", "financing_secured"}


def _statement(status: str, region_prefix: str, limit: int) -> sa.Select[Any]:
    return (
        sa.select(*_COLUMNS)
        .where(_T.c.status == status, _T.c.region_code.startswith(region_prefix))
        .order_by(_T.c.created_at.desc(), _T.c.id.desc())
        .limit(limit)
    )


def _item(row: Any) -> dict[str, Any]:
    item = dict(row._mapping)
    # asyncpg hands back its own UUID subclass, which orjson refuses: text for both styles.
    item["id"] = str(item["id"])
    item["created_by"] = str(item["created_by"]) if item["created_by"] else None
    for name in _MONEY:
        item[name] = f"{item[name]:.2f}"
    item["categories"] = CATEGORIES.decode(item.pop("categories_mask"))
    item["financing_types"] = FINANCING_TYPES.decode(item.pop("financing_types_mask"))
    return item


def _sqlite_pragmas(engine: sa.Engine) -> None:
    @sa.event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        cursor = dbapi_conn.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA busy_timeout=5000")
        cursor.close()


def sync_app(url: str) -> FastAPI:
    engine = sa.create_engine(sync_url(url), pool_size=10, max_overflow=20)
    if engine.dialect.name == "sqlite":
        _sqlite_pragmas(engine)
    sessions = sessionmaker(engine)
    api = FastAPI()

    @api.get("/healthz")
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @api.get("/api/v1/projects")
    def list_projects(status: str, region_code: str = "", limit: int = 50) -> ORJSONResponse:
        with sessions() as session:
            rows = session.execute(_statement(status, region_code, limit)).all()
        return ORJSONResponse({"items": [_item(r) for r in rows], "next_cursor": None})

    return api


def async_app(url: str) -> FastAPI:
    engine = create_async_engine(async_url(url), pool_size=10, max_overflow=20)
    if engine.dialect.name == "sqlite":
        _sqlite_pragmas(engine.sync_engine)
    sessions = async_sessionmaker(engine, class_=AsyncSession)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> Any:
        yield
        await engine.dispose()

    api = FastAPI(lifespan=lifespan)

    @api.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @api.get("/api/v1/projects")
    async def list_projects(status: str, region_code: str = "", limit: int = 50) -> ORJSONResponse:
        async with sessions() as session:
            rows = (await session.execute(_statement(status, region_code, limit))).all()
        return ORJSONResponse({"items": [_item(r) for r in rows], "next_cursor": None})

    return api


def _from_environment() -> FastAPI | None:
    url = os.environ.get("BENCH_SVA_DATABASE_URL")
    if not url:
        return None
    return sync_app(url) if os.environ.get("BENCH_SVA_MODE") == "sync" else async_app(url)


app = _from_environment()


# Bench-only: an index that serves the list's order, so that the page costs about a millisecond
# and the access style (not a 25 ms sort of 8,000 rows) is what the comparison measures.
ORDER_INDEX = "CREATE INDEX bench_status_created ON projects (status, created_at DESC, id DESC)"


@contextmanager
def _prepared(kind: str, projects: int, order_index: bool) -> Iterator[str]:
    from app.migrate import upgrade

    with throwaway_database(kind) as db:
        upgrade(db.url)
        generate(db.url, Spec(projects=projects, products=0))
        if order_index:
            engine = sa.create_engine(sync_url(db.url))
            with engine.begin() as conn:
                conn.exec_driver_sql(ORDER_INDEX)
                conn.exec_driver_sql("ANALYZE")
            engine.dispose()
        yield db.url


def measure(
    kinds: list[str], projects: int, seconds: float, order_index: bool = True, rounds: int = 3
) -> list[dict[str, Any]]:
    """Both servers up at once, loaded in alternation round after round: the machine's noise
    (other processes come and go) falls on both alike; each figure is the median of the rounds."""
    results = []
    for kind in kinds:
        with _prepared(kind, projects, order_index) as url:
            servers = {}
            with ExitStack() as stack:
                for mode in ("sync", "async"):
                    env = {"BENCH_SVA_DATABASE_URL": url, "BENCH_SVA_MODE": mode}
                    servers[mode] = stack.enter_context(
                        serving(f"{mode}-{kind}", "bench.sync_vs_async:app", env)
                    )
                    run_load(servers[mode].base_url, [PATH], 4, max(1.0, seconds / 3))  # warm up
                loads: dict[tuple[str, int], list[Load]] = {}
                for _ in range(rounds):
                    for connections in (1, 32):
                        for mode, server in servers.items():
                            load = run_load(server.base_url, [PATH], connections, seconds)
                            loads.setdefault((mode, connections), []).append(load)
            for (mode, connections), runs in loads.items():
                figures = {
                    "p50_ms": statistics.median(r.p50_ms for r in runs),
                    "p99_ms": statistics.median(r.p99_ms for r in runs),
                    "rps": statistics.median(r.rps for r in runs),
                    "errors": sum(r.errors for r in runs),
                }
                results.append(
                    {"db": kind, "mode": mode, "connections": connections, "rounds": len(runs)}
                    | figures
                    | {"runs": [r.as_dict() for r in runs]}
                )
                print(
                    f"{kind:<10} {mode:<5} c={connections:<2} p50 {figures['p50_ms']:7.2f} ms"
                    f"  p99 {figures['p99_ms']:7.2f} ms  {figures['rps']:8.1f} req/s"
                    f"  errors {figures['errors']}",
                    flush=True,
                )
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", nargs="+", default=["postgresql", "sqlite"])
    parser.add_argument("--projects", type=int, default=20_000)
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument(
        "--no-order-index",
        dest="order_index",
        action="store_false",
        help="measure on the schema as migrated (the page then costs a sort of every match)",
    )
    args = parser.parse_args()
    results = measure(args.db, args.projects, args.seconds, args.order_index, args.rounds)
    RESULTS.mkdir(exist_ok=True)
    out = RESULTS / f"sync_vs_async-{time.strftime('%Y%m%dT%H%M%S')}.json"
    out.write_text(
        json.dumps(
            {
                "machine": machine(),
                "projects": args.projects,
                "order_index": args.order_index,
                "path": PATH,
                "results": results,
            },
            indent=2,
        )
    )
    print(f"written {out}", file=sys.stderr)


if __name__ == "__main__":
    main()
