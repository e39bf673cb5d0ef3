"""Webhooks across real server processes: deliveries in flight when their process is killed
(SIGKILL) are delivered by the next process once their lease runs out, each once; events written
while no worker ran are delivered by the next process that has one."""

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from app.config import Settings
from app.db import create_engine, session_factory
from app.models import Role, WebhookDelivery
from tests.api.webhook_receiver import Receiver, verify
from tests.factories import project_payload
from tests.uvicorn_server import ServerProcess, issue_key

SETTINGS = {
    "rate_limits": "false",
    "import_worker": "false",
    "webhook_allow_private": "true",
    "webhook_lease_s": "2",
    "webhook_poll_interval_s": "0.1",
    "webhook_retry_base_s": "0.2",
    "webhook_retry_max_s": "0.5",
}


@pytest.fixture
def server(database_url: str, tmp_path: Path) -> Iterator[ServerProcess]:
    process = ServerProcess(database_url, tmp_path, **SETTINGS)
    yield process
    process.stop()


def into_library(url: str, actors: dict[str, dict[str, str]]) -> str:
    """A project pushed by the region and taken into the library; its id."""
    made = httpx.post(f"{url}/api/v1/projects", json=project_payload(), headers=actors["region"])
    assert made.status_code == 201, made.text
    project = made.json()
    for actor, action in (("region", "submit"), ("reviewer", "recommend"), ("admin", "approve")):
        moved = httpx.post(
            f"{url}/api/v1/projects/{project['id']}/transitions",
            json={"action": action},
            headers={**actors[actor], "If-Match": f'"{project["version"]}"'},
        )
        assert moved.status_code == 200, moved.text
        project = moved.json()
    return str(project["id"])


async def delivery_rows(database_url: str) -> list[Any]:
    engine = create_engine(Settings(database_url=database_url))
    try:
        async with session_factory(engine)() as session:
            return list((await session.execute(select(WebhookDelivery))).scalars())
    finally:
        await engine.dispose()


def wait(condition: Any, seconds: float, what: str, then_s: float = 0) -> None:
    """Until ``condition()``; then ``then_s`` more (for anything that should not come)."""
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, f"{what}: not within {seconds} s"
        time.sleep(0.05)
    time.sleep(then_s)


def subscribe(url: str, headers: dict[str, str], hook_url: str) -> str:
    """Subscribe ``hook_url`` to approvals; the secret."""
    made = httpx.post(
        f"{url}/api/v1/webhooks",
        json={"url": hook_url, "events": ["project.approved"]},
        headers=headers,
    )
    assert made.status_code == 201, made.text
    return str(made.json()["secret"])


async def test_deliveries_in_flight_survive_a_killed_process_and_arrive_once(
    server: ServerProcess, database_url: str
) -> None:
    actors = {
        "admin": await issue_key(database_url, Role.admin),
        "reviewer": await issue_key(database_url, Role.reviewer, "44"),
        "region": await issue_key(database_url, Role.region, "440304"),
    }
    with Receiver() as receiver:
        receiver.hang("/hook", 30)
        server.start()
        secret = subscribe(server.url, actors["admin"], receiver.url("/hook"))
        projects = {into_library(server.url, actors) for _ in range(3)}
        # The process has sent all three and waits for answers that do not come: kill it.
        wait(lambda: len(receiver.received) >= 3, 30, "first tries")
        server.kill()
        server.start()
        # Anything sent twice would arrive within the extra second.
        wait(lambda: len(receiver.answered) >= 3, 30, "deliveries after the restart", 1)
        answered = receiver.at("/hook")
        assert len(answered) == 3
        assert {m.json["data"]["project_id"] for m in answered} == projects
        assert len({m.message_id for m in answered}) == 3
        assert all(verify(secret, m) for m in answered)
        # The killed process's tries left no trace but the lease; the survivor's one each.
        rows = await delivery_rows(database_url)
        assert sorted((r.status, r.attempts) for r in rows) == [("succeeded", 1)] * 3


async def test_events_written_without_a_worker_are_delivered_by_the_next_process(
    database_url: str, tmp_path: Path
) -> None:
    actors = {
        "admin": await issue_key(database_url, Role.admin),
        "reviewer": await issue_key(database_url, Role.reviewer, "44"),
        "region": await issue_key(database_url, Role.region, "440304"),
    }
    idle = ServerProcess(database_url, tmp_path / "idle", **SETTINGS, webhook_worker="false")
    (tmp_path / "idle").mkdir()
    (tmp_path / "busy").mkdir()
    busy = ServerProcess(database_url, tmp_path / "busy", **SETTINGS)
    with Receiver() as receiver:
        try:
            idle.start()
            subscribe(idle.url, actors["admin"], receiver.url("/hook"))
            project = into_library(idle.url, actors)
            idle.kill()
            assert receiver.received == []
            busy.start()
            wait(lambda: len(receiver.answered) >= 1, 30, "delivery", 1)
            (message,) = receiver.at("/hook")
            assert message.json["data"]["project_id"] == project
        finally:
            idle.stop()
            busy.stop()
