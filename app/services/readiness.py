"""Readiness: the database answers and its schema is at the newest migration."""

from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncEngine

from app.migrate import head_revision
from app.repositories.schema import current_revision


async def check(engine: AsyncEngine) -> str | None:
    """None when ready, else why not."""
    try:
        current = await current_revision(engine)
    except (SQLAlchemyError, OSError) as exc:
        return f"The database does not answer or has no schema ({type(exc).__name__})."
    head = head_revision()
    if current != head:
        return (
            f"The schema is at {current}, not at the newest migration {head}; "
            "run 'climatelib migrate'."
        )
    return None
