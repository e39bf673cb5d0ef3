"""The floor the performance targets are measured against: the library list page with no
framework, the raw driver and orjson.

Serve it as any ASGI app (``python -m uvicorn bench.floor:app``) with
``BENCH_FLOOR_DATABASE_URL`` (a plain SQLite or PostgreSQL URL), ``BENCH_FLOOR_ORDER`` (one of
``ORDERS``) and ``BENCH_FLOOR_PREDICATE`` (one of ``PREDICATES``). It answers
``GET /api/v1/projects?status=&region_code=&limit=`` with the public fields of a project shaped as
the API shapes them, and ``GET /healthz``.

``raw_query_times`` times the same statement alone on one connection (the "raw SQL" figure).
"""

import asyncio
import base64
import os
import sqlite3
import statistics
import time
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any
from urllib.parse import parse_qs

import orjson
import sqlalchemy as sa

from app.models.flags import CATEGORIES, FINANCING_TYPES

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

# Sort name → ORDER BY; "newest first" variants put the id last so that the order is total.
ORDERS = {
    "created_at": "created_at DESC, id DESC",
    "updated_at": "updated_at DESC, id DESC",
    "approved_at": "approved_at DESC, id DESC",
    "id": "id ASC",
}
DEFAULT_ORDER = "created_at"
POOL_SIZE = 10  # the service's own steady pool (CLIMATELIB_DB_POOL_SIZE's default)

# The columns of a public project answer, in the API's order of its fields (the contact is never
# read: the public never sees it).
_FIELDS = (
    "id", "library_code", "status", "exit_reason", "external_ref", "name", "summary",
    "region_code", "pilot_id", "owner_name", "owner_uscc", "owner_type", "objective",
    "categories_mask", "classifications", "primary_category", "industry_code", "fuel", "nature",
    "capacity_replacement", "construction_status", "start_date", "end_date", "total_investment",
    "financing_need", "financing_secured", "financing_types_mask", "tenor_months",
    "annual_emission_reduction_tco2e", "annual_energy_saving_tce", "annual_carbon_sink_tco2e",
    "adaptation_beneficiaries", "adaptation_benefit", "accounting_methodology", "baseline",
    "third_party_verified", "verifier", "disclosure_commitment", "name_en", "summary_en",
    "location_lat", "location_lon", "is_two_high", "two_high_outcome", "screening",
    "taxonomy_version", "verified_emission_reduction_tco2e", "verified_carbon_sink_tco2e",
    "verified_energy_saving_tce", "verified_credited_tco2e", "verified_adaptation_beneficiaries",
    "verified_reports", "verified_days", "version", "approved_at", "created_at", "updated_at",
)  # fmt: skip
_MONEY = ("total_investment", "financing_need", "financing_secured")
_TIMES = ("approved_at", "created_at", "updated_at")
_UUIDS = ("id", "pilot_id")
_BOOLS = ("third_party_verified", "disclosure_commitment", "is_two_high", "capacity_replacement")


def _select_list(dialect: str) -> str:
    out = []
    for name in _FIELDS:
        if name in _MONEY:
            # Money leaves the database as its exact decimal text: no Decimal objects on the way.
            out.append(f"{name}::text" if dialect == "postgresql" else f"printf('%.2f', {name})")
        elif name in _UUIDS and dialect == "postgresql":
            out.append(f"{name}::text")
        else:
            out.append(name)
    return ", ".join(out)


# Two equivalent ways to say "region code starts with the prefix"; which one is fastest depends on
# the indexes: a range uses (status, region_code) and then sorts every match; LIKE (which neither
# database can run on that index here) lets the planner walk an index in the page's order instead.
PREDICATES = ("range", "like")


def list_sql(dialect: str, order: str = DEFAULT_ORDER, predicate: str = "range") -> str:
    """The filtered page: status, region prefix, order, limit (callers ask for limit + 1)."""
    marks = ["$1", "$2", "$3", "$4"] if dialect == "postgresql" else ["?"] * 4
    if predicate == "range":
        where = f"status = {marks[0]} AND region_code >= {marks[1]} AND region_code < {marks[2]}"
        limit = marks[3]
    else:
        where = f"status = {marks[0]} AND region_code LIKE {marks[1]}"
        limit = marks[2]
    return (
        f"SELECT {_select_list(dialect)} FROM projects WHERE {where} "
        f"ORDER BY {ORDERS[order]} LIMIT {limit}"
    )


def query_args(predicate: str, status: str, prefix: str, limit: int) -> tuple[Any, ...]:
    if predicate == "range":
        return (status, *prefix_range(prefix), limit)
    return (status, prefix + "%", limit)


def prefix_range(prefix: str) -> tuple[str, str]:
    """[prefix, next prefix): region codes are digits, so the bound is the prefix + 1."""
    upper = str(int(prefix) + 1).zfill(len(prefix)) if prefix else "a"
    return prefix, upper


def _uuid_text(hex32: str) -> str:
    return f"{hex32[:8]}-{hex32[8:12]}-{hex32[12:16]}-{hex32[16:20]}-{hex32[20:]}"


def _between(first: str, stop: str | None) -> tuple[str, ...]:
    """The plain columns from ``first`` up to ``stop`` (excluded; None: to the end)."""
    return _FIELDS[_FIELDS.index(first) : _FIELDS.index(stop) if stop else None]


# The runs of columns the answer takes as they are, found once (not per row: this is the floor).
_HEAD = _between("id", "owner_name")
_CLASSIFIED_TO_MONEY = _between("primary_category", "financing_types_mask")
_TENOR_TO_SUMMARY_EN = _between("tenor_months", "location_lat")
_TAIL = _between("version", None)


def shape(row: Any, dialect: str) -> dict[str, Any]:
    """One row as the API writes a project item to the public (same fields, same order)."""
    v = dict(zip(_FIELDS, row, strict=True))
    if dialect == "sqlite":
        for name in _UUIDS:
            if v[name] is not None:
                v[name] = _uuid_text(v[name])
        for name in _TIMES:
            if v[name] is not None:
                # as Python writes a UTC datetime: no fraction when it is zero
                v[name] = v[name].replace(" ", "T").removesuffix(".000000") + "+00:00"
        for name in _BOOLS:
            v[name] = bool(v[name])
    screening = orjson.loads(v["screening"]) if isinstance(v["screening"], str) else v["screening"]
    classifications = v["classifications"]
    if isinstance(classifications, str):
        classifications = orjson.loads(classifications)
    outcome = v["two_high_outcome"]
    return {
        **{k: v[k] for k in _HEAD},
        "owner": {"name": v["owner_name"], "uscc": v["owner_uscc"], "type": v["owner_type"]},
        "objective": v["objective"],
        "categories": CATEGORIES.decode(v["categories_mask"]),
        "classifications": classifications,
        **{k: v[k] for k in _CLASSIFIED_TO_MONEY},
        "financing_types": FINANCING_TYPES.decode(v["financing_types_mask"]),
        **{k: v[k] for k in _TENOR_TO_SUMMARY_EN},
        "location": (
            {"lat": v["location_lat"], "lon": v["location_lon"]}
            if v["location_lat"] is not None
            else None
        ),
        "contact": None,
        "screening": {
            "outcome": outcome,
            "is_two_high": v["is_two_high"],
            "flagged_for_review": outcome == "two_high_transition",
            "rule_id": screening["rule_id"],
            "rule_version": screening["rule_version"],
            "list_version": screening.get("list_version"),
            "reasons": screening["reasons"],
        },
        "taxonomy_version": v["taxonomy_version"],
        "verified": {
            "emission_reduction_tco2e": f"{v['verified_emission_reduction_tco2e'] or 0:.3f}",
            "carbon_sink_tco2e": f"{v['verified_carbon_sink_tco2e'] or 0:.3f}",
            "energy_saving_tce": f"{v['verified_energy_saving_tce'] or 0:.3f}",
            "credited_tco2e": f"{v['verified_credited_tco2e'] or 0:.3f}",
            "adaptation_beneficiaries": v["verified_adaptation_beneficiaries"] or 0,
            "reports": v["verified_reports"] or 0,
            "days": v["verified_days"] or 0,
        },
        **{k: v[k] for k in _TAIL},
    }


def _cursor(item: dict[str, Any], order: str) -> str:
    if order == "id":
        raw = orjson.dumps({"s": "id", "v": [item["id"]]})
    else:
        moment = item[order]
        key = moment if isinstance(moment, str) else moment.isoformat()
        raw = orjson.dumps({"s": f"-{order}", "v": [key, item["id"]]})
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def page_body(rows: list[Any], dialect: str, limit: int, order: str) -> bytes:
    items = [shape(r, dialect) for r in rows[:limit]]
    cursor = _cursor(items[-1], order) if len(rows) > limit else None
    return orjson.dumps({"items": items, "next_cursor": cursor})


def dialect_of(url: str) -> str:
    return sa.make_url(url).get_backend_name()


def sqlite_path(url: str) -> str:
    database = sa.make_url(url).database
    assert database, "a file-backed SQLite database"
    return database


def asyncpg_dsn(url: str) -> str:
    return sa.make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


class Floor:
    """A raw ASGI app: one route, one query, orjson."""

    def __init__(self, url: str, order: str, predicate: str = "range") -> None:
        self.url = url
        self.dialect = dialect_of(url)
        self.order = order
        self.predicate = predicate
        self.sql = list_sql(self.dialect, order, predicate)
        self.pool: Any = None
        self.sqlite: sqlite3.Connection | None = None

    async def startup(self) -> None:
        if self.dialect == "postgresql":
            import asyncpg

            self.pool = await asyncpg.create_pool(
                asyncpg_dsn(self.url), min_size=POOL_SIZE, max_size=POOL_SIZE
            )
        else:
            # One connection, queried on the event loop itself: SQLite answers a page in well
            # under a millisecond from the page cache, and a thread hop would cost more.
            self.sqlite = sqlite3.connect(sqlite_path(self.url))
            self.sqlite.execute("PRAGMA journal_mode=WAL")

    async def shutdown(self) -> None:
        if self.pool is not None:
            await self.pool.close()
        if self.sqlite is not None:
            self.sqlite.close()

    async def fetch(self, status: str, prefix: str, limit: int) -> list[Any]:
        args = query_args(self.predicate, status, prefix, limit + 1)
        if self.pool is not None:
            async with self.pool.acquire() as conn:
                return list(await conn.fetch(self.sql, *args))
        assert self.sqlite is not None
        return self.sqlite.execute(self.sql, args).fetchall()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
            return
        path = scope["path"]
        if path == "/healthz":
            await _respond(send, 200, b'{"status":"ok"}')
        elif path == "/api/v1/projects" and scope["method"] == "GET":
            query = parse_qs(scope["query_string"].decode())
            status = query.get("status", ["in_library"])[0]
            prefix = query.get("region_code", [""])[0]
            limit = min(max(int(query.get("limit", ["50"])[0]), 1), 200)
            rows = await self.fetch(status, prefix, limit)
            await _respond(send, 200, page_body(rows, self.dialect, limit, self.order))
        else:
            await _respond(send, 404, b'{"code":"not_found"}')

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await self.startup()
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await self.shutdown()
                await send({"type": "lifespan.shutdown.complete"})
                return


async def _respond(send: Send, status: int, body: bytes) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


def raw_query_times(
    url: str,
    order: str = DEFAULT_ORDER,
    status: str = "in_library",
    prefix: str = "44",
    limit: int = 50,
    repeat: int = 500,
    predicate: str = "range",
) -> dict[str, float]:
    """The statement alone on one connection (rows fetched, nothing encoded): p50/p99 in ms."""
    dialect = dialect_of(url)
    sql = list_sql(dialect, order, predicate)
    args = query_args(predicate, status, prefix, limit + 1)
    times: list[float] = []
    if dialect == "postgresql":

        async def run() -> None:
            import asyncpg

            conn = await asyncpg.connect(asyncpg_dsn(url))
            try:
                statement = await conn.prepare(sql)
                for _ in range(max(1, repeat // 10)):  # warm the plan and the cache
                    await statement.fetch(*args)
                for _ in range(repeat):
                    start = time.perf_counter()
                    await statement.fetch(*args)
                    times.append((time.perf_counter() - start) * 1000)
            finally:
                await conn.close()

        asyncio.run(run())
    else:
        conn = sqlite3.connect(sqlite_path(url))
        try:
            for _ in range(max(1, repeat // 10)):
                conn.execute(sql, args).fetchall()
            for _ in range(repeat):
                start = time.perf_counter()
                conn.execute(sql, args).fetchall()
                times.append((time.perf_counter() - start) * 1000)
        finally:
            conn.close()
    times.sort()
    return {
        "p50_ms": statistics.median(times),
        "p99_ms": times[min(len(times) - 1, int(len(times) * 0.99))],
        "repeat": repeat,
    }


def fastest_predicate(url: str, order: str, status: str, prefix: str, limit: int) -> str:
    """The prefix predicate the schema runs fastest (the floor is the best the database allows)."""
    timed = {
        p: raw_query_times(url, order, status, prefix, limit, repeat=40, predicate=p)["p50_ms"]
        for p in PREDICATES
    }
    return min(timed, key=lambda p: timed[p])


def page_ids(url: str, order: str, status: str, prefix: str, limit: int) -> list[str]:
    """The ids of the first page in a given order (to tell which order the service uses)."""
    dialect = dialect_of(url)
    sql = list_sql(dialect, order)
    args = query_args("range", status, prefix, limit)
    if dialect == "postgresql":

        async def run() -> list[str]:
            import asyncpg

            conn = await asyncpg.connect(asyncpg_dsn(url))
            try:
                rows = await conn.fetch(sql, *args)
            finally:
                await conn.close()
            return [r[0] for r in rows]

        return asyncio.run(run())
    conn = sqlite3.connect(sqlite_path(url))
    try:
        rows = conn.execute(sql, args).fetchall()
    finally:
        conn.close()
    return [_uuid_text(r[0]) for r in rows]


def _from_environment() -> Any:
    url = os.environ.get("BENCH_FLOOR_DATABASE_URL")
    if not url:
        return None
    return Floor(
        url,
        os.environ.get("BENCH_FLOOR_ORDER", DEFAULT_ORDER),
        os.environ.get("BENCH_FLOOR_PREDICATE", "range"),
    )


app = _from_environment()
