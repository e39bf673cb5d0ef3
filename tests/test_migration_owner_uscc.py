"""Revision 0021: the projects' owner USCC is indexed on both databases, the integrity flags'
lookup of an owner's other projects can use it, and the revision goes down and up again."""

import asyncio

import sqlalchemy as sa
from alembic import command
from sqlalchemy.ext.asyncio import create_async_engine

from app.db import async_url
from app.migrate import alembic_config, upgrade

INDEX = "ix_projects_owner_uscc"
LOOKUP = "SELECT id FROM projects WHERE owner_uscc = '91440300MA5XXXXXX1'"


async def _index_and_plan(url: str) -> tuple[list[list[str]], str]:
    engine = create_async_engine(async_url(url))
    try:
        async with engine.connect() as conn:

            def look(sync: sa.Connection) -> tuple[list[list[str]], str]:
                found = [
                    [str(c) for c in ix["column_names"]]
                    for ix in sa.inspect(sync).get_indexes("projects")
                    if ix["name"] == INDEX
                ]
                if sync.dialect.name == "postgresql":
                    # An empty table is scanned whatever its indexes: ask whether one can serve.
                    sync.exec_driver_sql("SET LOCAL enable_seqscan = off")
                    plan = sync.exec_driver_sql(f"EXPLAIN {LOOKUP}").scalars().all()
                else:
                    plan = [r[-1] for r in sync.exec_driver_sql(f"EXPLAIN QUERY PLAN {LOOKUP}")]
                return found, "\n".join(str(line) for line in plan)

            return await conn.run_sync(look)
    finally:
        await engine.dispose()


async def test_the_owner_uscc_is_indexed_and_the_lookup_uses_it(database_url: str) -> None:
    columns, plan = await _index_and_plan(database_url)
    assert columns == [["owner_uscc"]]
    assert INDEX in plan, plan


def test_the_revision_goes_down_and_up_again(database_url: str) -> None:
    # Synchronous: alembic runs its own event loop.
    command.downgrade(alembic_config(database_url), "0020")
    assert asyncio.run(_index_and_plan(database_url))[0] == []
    upgrade(database_url)
    assert asyncio.run(_index_and_plan(database_url))[0] == [["owner_uscc"]]
