"""Revision 0022: the matcher's full load reads the library from the covering index
``ix_projects_matching`` on both databases, on SQLite also under statistics that give every
status the same share of the projects; the index holds library projects only; and the revision
goes down and up again."""

import asyncio

import pytest
import sqlalchemy as sa
from alembic import command
from sqlalchemy.ext.asyncio import create_async_engine

from app.db import async_url
from app.migrate import alembic_config, upgrade
from app.repositories.matching import library_columns_statement

INDEX = "ix_projects_matching"
# What ANALYZE wrote for the bench's 100,000 projects over eight statuses: the status indexes
# promise 12,500 projects per status, though 80 % of them are in the library.
SKEWED = {
    "ix_projects_status_region": "100000 12500 9",
    "ix_projects_status_created": "100000 12500 1 1",
    INDEX: "80000 80000" + " 1" * 20,
}


def _plan(sync: sa.Connection) -> str:
    postgresql = sync.dialect.name == "postgresql"
    stmt = library_columns_statement(postgresql)
    sql = str(stmt.compile(dialect=sync.dialect, compile_kwargs={"literal_binds": True}))
    if postgresql:
        # An empty table is scanned whatever its indexes: ask whether the index can serve.
        sync.exec_driver_sql("SET LOCAL enable_seqscan = off")
        lines = sync.exec_driver_sql(f"EXPLAIN {sql}").scalars().all()
    else:
        lines = [row[-1] for row in sync.exec_driver_sql(f"EXPLAIN QUERY PLAN {sql}")]
    return "\n".join(str(line) for line in lines)


def _definition(sync: sa.Connection) -> str | None:
    if sync.dialect.name == "postgresql":
        found = "SELECT indexdef FROM pg_indexes WHERE indexname = :name"
    else:
        found = "SELECT sql FROM sqlite_master WHERE type = 'index' AND name = :name"
    return sync.execute(sa.text(found), {"name": INDEX}).scalar()


def _skew_statistics(sync: sa.Connection) -> None:
    sync.exec_driver_sql("ANALYZE")  # creates sqlite_stat1
    sync.exec_driver_sql("DELETE FROM sqlite_stat1 WHERE tbl = 'projects'")
    for index, stat in SKEWED.items():
        sync.execute(
            sa.text("INSERT INTO sqlite_stat1 VALUES ('projects', :idx, :stat)"),
            {"idx": index, "stat": stat},
        )
    sync.exec_driver_sql("ANALYZE sqlite_schema")  # reloads the statistics


async def _look(url: str, skewed: bool = False) -> tuple[str | None, str]:
    engine = create_async_engine(async_url(url))
    try:
        async with engine.connect() as conn:

            def look(sync: sa.Connection) -> tuple[str | None, str]:
                definition = _definition(sync)
                if definition is None:
                    return None, ""
                if skewed:
                    _skew_statistics(sync)
                return definition, _plan(sync)

            return await conn.run_sync(look)
    finally:
        await engine.dispose()


async def test_the_full_load_reads_the_library_from_the_covering_index(
    db_kind: str, database_url: str
) -> None:
    definition, plan = await _look(database_url)
    assert definition is not None
    assert "WHERE" in definition and "in_library" in definition, definition
    if db_kind == "postgresql":
        assert f"Index Only Scan using {INDEX}" in plan, plan
    else:
        assert f"USING COVERING INDEX {INDEX}" in plan, plan


async def test_sqlite_keeps_to_the_index_when_its_statistics_spread_the_statuses(
    db_kind: str, database_url: str
) -> None:
    if db_kind != "sqlite":
        pytest.skip("PostgreSQL's statistics count each status's own share")
    _, plan = await _look(database_url, skewed=True)
    assert f"USING COVERING INDEX {INDEX}" in plan, plan


def test_the_revision_goes_down_and_up_again(database_url: str) -> None:
    # Synchronous: alembic runs its own event loop.
    command.downgrade(alembic_config(database_url), "0021")
    assert asyncio.run(_look(database_url))[0] is None
    upgrade(database_url)
    assert asyncio.run(_look(database_url))[0] is not None
