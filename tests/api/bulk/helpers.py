"""Shortcuts shared by the bulk tests."""

import asyncio
import time
from collections.abc import Callable
from typing import Any

import httpx
from fastapi import FastAPI
from sqlalchemy import func, select

from app.models import AuditEvent, Project
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
        stmt = select(func.count()).where(AuditEvent.object_type == "project")
        return int((await session.execute(stmt)).scalar_one())


FINISHED = ("succeeded", "failed", "cancelled")


async def wait_for_job(
    client: httpx.AsyncClient,
    headers: dict[str, str],
    location: str,
    until: Callable[[dict[str, Any]], bool] = lambda job: job["status"] in FINISHED,
    seconds: float = 60,
) -> dict[str, Any]:
    """Poll an import job until ``until`` holds (by default: it has finished)."""
    deadline = time.monotonic() + seconds
    while True:
        answer = await client.get(location, headers=headers)
        assert answer.status_code == 200, answer.text
        job: dict[str, Any] = answer.json()
        if until(job):
            return job
        assert time.monotonic() < deadline, f"the job did not get there in {seconds} s: {job}"
        await asyncio.sleep(0.05)


async def all_results(
    client: httpx.AsyncClient, headers: dict[str, str], location: str, limit: int = 200
) -> list[dict[str, Any]]:
    """Every result of a job, page after page."""
    results: list[dict[str, Any]] = []
    cursor: str | None = None
    while True:
        params: dict[str, Any] = {"limit": limit, **({"cursor": cursor} if cursor else {})}
        page = await client.get(f"{location}/results", headers=headers, params=params)
        assert page.status_code == 200, page.text
        results += page.json()["items"]
        cursor = page.json()["next_cursor"]
        if cursor is None:
            return results
