"""Import jobs across real server processes: a job survives its process being killed (SIGKILL)
midway, resuming in a new one with every row applied once; two processes on one PostgreSQL
database never run the same job twice; another region's creates are served while a job runs,
by the job's process or another one on the same database (SQLite's one write lock included)."""

import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from app.config import Settings
from app.db import create_engine, session_factory
from app.models import AuditEvent, ImportJob, ImportResult, Project, Role
from tests.api.bulk.helpers import IMPORT
from tests.api.bulk.test_import import row, to_csv
from tests.factories import project_payload
from tests.uvicorn_server import ServerProcess, issue_key

# Short leases and polls keep each test within seconds; the defaults are 30 s and 1 s.
JOB_SETTINGS = {"rate_limits": "false", "import_lease_s": "2", "import_poll_interval_s": "0.1"}
Servers = Callable[..., ServerProcess]


@pytest.fixture
def servers(tmp_path: Path) -> Iterator[Servers]:
    """Makes server processes (not started) and stops whatever is left of them at the end."""
    made: list[ServerProcess] = []

    def make(database_url: str, **settings: str) -> ServerProcess:
        log_dir = tmp_path / f"server{len(made)}"
        log_dir.mkdir()
        made.append(ServerProcess(database_url, log_dir, **(JOB_SETTINGS | settings)))
        return made[-1]

    yield make
    for server in made:
        server.stop()


def submit(url: str, headers: dict[str, str], rows: list[dict[str, Any]]) -> str:
    data = to_csv(rows)
    answer = httpx.post(
        url + IMPORT, files={"file": ("p.csv", data, "text/csv")}, headers=headers, timeout=60
    )
    assert answer.status_code == 202, answer.text
    return url + answer.headers["location"]


def poll(
    location: str, headers: dict[str, str], until: Callable[[dict[str, Any]], bool], seconds: float
) -> dict[str, Any]:
    deadline = time.monotonic() + seconds
    while True:
        job: dict[str, Any] = httpx.get(location, headers=headers, timeout=30).json()
        if until(job):
            return job
        assert time.monotonic() < deadline, f"not there in {seconds} s: {job}"
        time.sleep(0.05)


def finished(job: dict[str, Any]) -> bool:
    return job["status"] in ("succeeded", "failed", "cancelled")


async def counts(database_url: str) -> dict[str, Any]:
    """What the database holds: projects, distinct refs, create steps, results per job."""
    engine = create_engine(Settings(database_url=database_url))
    try:
        async with session_factory(engine)() as session:

            async def one(stmt: Any) -> int:
                return int((await session.execute(stmt)).scalar_one())

            per_job = await session.execute(
                select(
                    ImportResult.job_id, func.count(), func.count(func.distinct(ImportResult.row))
                ).group_by(ImportResult.job_id)
            )
            jobs = await session.execute(select(ImportJob.id, ImportJob.rows_done))
            return {
                "projects": await one(select(func.count()).select_from(Project)),
                "refs": await one(select(func.count(func.distinct(Project.external_ref)))),
                "steps": await one(select(func.count()).where(AuditEvent.object_type == "project")),
                "results": {str(j): (n, rows) for j, n, rows in per_job},
                "rows_done": {str(j): n for j, n in jobs},
            }
    finally:
        await engine.dispose()


async def test_a_job_killed_midway_resumes_in_a_new_process_with_every_row_once(
    database_url: str, servers: Servers
) -> None:
    total = 5000
    headers = await issue_key(database_url, Role.region, "440304")
    server = servers(database_url)
    server.start()
    location = submit(server.url, headers, [row(n) for n in range(total)])
    path = location.removeprefix(server.url)
    poll(location, headers, lambda job: job["rows_done"] >= 1000, 60)
    server.kill()
    at_kill = await counts(database_url)
    [done_at_kill] = at_kill["rows_done"].values()
    assert 1000 <= done_at_kill < total, "the job was not midway when its process was killed"
    assert at_kill["projects"] == done_at_kill  # the chunk in flight left nothing behind

    server.start()
    job = poll(server.url + path, headers, finished, 60)
    assert job["status"] == "succeeded", job
    assert job["attempts"] == 2
    assert job["summary"] == {"created": total, "updated": 0, "unchanged": 0, "error": 0}
    after = await counts(database_url)
    assert after["projects"] == after["refs"] == after["steps"] == total
    assert list(after["results"].values()) == [(total, total)]


async def test_a_job_stopped_by_sigterm_gives_its_lease_up_and_resumes_at_once(
    database_url: str, servers: Servers
) -> None:
    total = 5000
    headers = await issue_key(database_url, Role.region, "440304")
    # A lease far longer than the test: only a lease given up lets the next process resume.
    server = servers(database_url, import_lease_s="600")
    server.start()
    location = submit(server.url, headers, [row(n) for n in range(total)])
    path = location.removeprefix(server.url)
    poll(location, headers, lambda job: job["rows_done"] >= 1000, 60)
    server.stop()  # SIGTERM: the worker stops between chunks
    [done_at_stop] = (await counts(database_url))["rows_done"].values()
    assert done_at_stop < total, "the job was not midway when its process was stopped"

    server.start()
    job = poll(server.url + path, headers, finished, 60)
    assert job["status"] == "succeeded", job
    assert job["attempts"] == 2
    after = await counts(database_url)
    assert after["projects"] == after["refs"] == after["steps"] == total
    assert list(after["results"].values()) == [(total, total)]


async def test_two_processes_on_one_database_never_run_the_same_job_twice(
    db_kind: str, database_url: str, servers: Servers
) -> None:
    if db_kind != "postgresql":
        pytest.skip("several server processes share PostgreSQL (SQLite is one host's file)")
    jobs, rows_each = 6, 1200
    headers = await issue_key(database_url, Role.region, "440304")
    first, second = servers(database_url), servers(database_url)
    first.start()
    second.start()
    locations = [
        submit(
            (first if n % 2 else second).url,
            headers,
            [row(n * rows_each + i) for i in range(rows_each)],
        )
        for n in range(jobs)
    ]
    answers = [poll(location, headers, finished, 60) for location in locations]
    assert [job["status"] for job in answers] == ["succeeded"] * jobs
    assert [job["attempts"] for job in answers] == [1] * jobs  # each claimed exactly once
    after = await counts(database_url)
    assert after["projects"] == after["refs"] == after["steps"] == jobs * rows_each
    assert sorted(after["results"].values()) == [(rows_each, rows_each)] * jobs


def create_until_finished(
    url: str, path: str, importer: dict[str, str], other: dict[str, str]
) -> tuple[list[float], dict[str, Any]]:
    """Region 110101 creates projects one after another until the job has finished: the time
    each create took, and the finished job."""
    took: list[float] = []
    with httpx.Client(base_url=url, timeout=60) as http:
        while True:
            body = project_payload(region_code="110101", external_ref=f"B-{len(took)}")
            started = time.monotonic()
            answer = http.post("/api/v1/projects", json=body, headers=other)
            took.append(time.monotonic() - started)
            assert answer.status_code == 201, answer.text
            job: dict[str, Any] = http.get(path, headers=importer).json()
            if finished(job):
                return took, job
            time.sleep(0.05)


# A create waits for the chunk in hand at most (on SQLite: the write lock, app.db.SqliteWriteGate),
# not for the job. Chunks take from a few tenths of a second to seconds on a busy machine, so the
# bound is in chunks: one running, one the create may just miss, and room for the create itself.
CREATE_BOUND_CHUNKS = 3


@pytest.mark.parametrize("workers", ["1", "2"])
async def test_another_regions_creates_are_served_while_a_job_runs(
    database_url: str, servers: Servers, workers: str
) -> None:
    total = 8000
    importer = await issue_key(database_url, Role.region, "440304")
    other = await issue_key(database_url, Role.region, "110101")
    # Two workers: the job runs in one of them and the creates land on both. A lease and a busy
    # timeout longer than any chunk on a loaded machine: a job resumed elsewhere, or a create
    # given up (503), is not what this is about; how long each create waited is.
    server = servers(
        database_url, workers=workers, import_lease_s="60", sqlite_busy_timeout_ms="30000"
    )
    server.start()
    location = submit(server.url, importer, [row(n) for n in range(total)])
    path = location.removeprefix(server.url)
    done_at_start = poll(location, importer, lambda job: job["rows_done"] >= 1000, 60)["rows_done"]
    started_at = time.monotonic()
    took, job = create_until_finished(server.url, path, importer, other)
    chunk_s = (time.monotonic() - started_at) / ((total - done_at_start) / 1000)
    assert job["status"] == "succeeded", job
    assert len(took) >= 5, "too few creates while the job ran"
    assert max(took) < CREATE_BOUND_CHUNKS * chunk_s, (chunk_s, sorted(took)[-5:])
    after = await counts(database_url)
    assert after["projects"] == total + len(took)
