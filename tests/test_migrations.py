"""The schema comes from alembic alone, and the models and migrations never disagree."""

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Connection
from sqlalchemy.ext.asyncio import create_async_engine

from app.db import async_url
from app.migrate import alembic_config, head_revision, include_object, upgrade
from app.models import Base


def _diff(connection: Connection) -> list[object]:
    opts = {"compare_type": True, "include_object": include_object(connection.dialect.name)}
    context = MigrationContext.configure(connection, opts=opts)
    assert context.get_current_revision() == head_revision()
    return list(compare_metadata(context, Base.metadata))


async def _compare(url: str) -> list[object]:
    engine = create_async_engine(async_url(url))
    try:
        async with engine.connect() as conn:
            return await conn.run_sync(_diff)
    finally:
        await engine.dispose()


async def test_upgrade_head_matches_models(database_url: str) -> None:
    """The equivalent of `alembic check` on a database built by `alembic upgrade head`."""
    assert await _compare(database_url) == []


def test_every_revision_downgrades_and_upgrades_again(database_url: str) -> None:
    command.downgrade(alembic_config(database_url), "base")
    upgrade(database_url)
    command.downgrade(alembic_config(database_url), "-1")
    upgrade(database_url)
