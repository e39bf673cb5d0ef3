"""Shortcuts shared by the bulk tests."""

from typing import Any

from fastapi import FastAPI
from sqlalchemy import func, select

from app.models import Project, ProjectTransition
from tests.factories import project_payload as payload

BATCH = "/api/v1/projects/batch"
IMPORT = "/api/v1/projects/import"
EXPORT = "/api/v1/projects/export"


def item(n: int, **overrides: Any) -> dict[str, Any]:
    """A valid project with external_ref R-<n>."""
    return payload(**{"external_ref": f"R-{n:05d}", "name": f"Project {n}", **overrides})


async def count_projects(app: FastAPI) -> int:
    async with app.state.sessions() as session:
        return int((await session.execute(select(func.count()).select_from(Project))).scalar_one())


async def count_transitions(app: FastAPI) -> int:
    async with app.state.sessions() as session:
        stmt = select(func.count()).select_from(ProjectTransition)
        return int((await session.execute(stmt)).scalar_one())
