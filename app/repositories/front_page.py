"""The few public counts the front page shows: cheap enough for every visit."""

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.models.pilot import Pilot
from app.models.project import Project, ProjectStatus


async def counts(session: AsyncSession) -> tuple[int, int]:
    """(projects in the library, pilots)."""
    in_library = select(func.count()).where(Project.status == ProjectStatus.in_library)
    pilots = select(func.count()).select_from(Pilot)
    return (await session.scalar(in_library) or 0, await session.scalar(pilots) or 0)
