"""The schema's own bookkeeping: which migration the database is at."""

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine


async def current_revision(engine: AsyncEngine) -> str | None:
    """The alembic revision recorded in the database (raises when it does not answer)."""
    async with engine.connect() as conn:
        revision = (await conn.execute(text("SELECT version_num FROM alembic_version"))).scalar()
    return None if revision is None else str(revision)
