"""A write request that waits on something slow does not make other writers wait with it.

On SQLite a write transaction holds the database's one write lock from its first statement to its
commit; nothing slow may happen in between. These tests start a slow write (a webhook whose host
takes seconds to resolve, a body that arrives in pieces over seconds) and, while it is under way,
another region's key creates a project: that answer must come in a fraction of the slow part. On
PostgreSQL writers of different rows never wait for each other; the tests run there as well.
"""

import asyncio
import socket
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from fastapi import FastAPI

from app.config import Settings
from app.models import Role
from tests.conftest import Keys
from tests.factories import PROJECTS, create_project, project_payload

SLOW_S = 2.0
# What the other writer may take at most: a fraction of SLOW_S (it takes milliseconds).
BOUND_S = 0.6
SLOW_HOST = "slow-resolver.example"
PDF = b"%PDF-1.7\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n"


@pytest.fixture
def settings(settings: Settings, tmp_path: Path) -> Settings:
    return settings.model_copy(update={"storage_dir": str(tmp_path / "store")})


@pytest.fixture
async def slow_dns(monkeypatch: pytest.MonkeyPatch) -> asyncio.Event:
    """Resolving SLOW_HOST takes SLOW_S (a public address in the end); the event is set once the
    lookup has started."""
    loop = asyncio.get_running_loop()
    started = asyncio.Event()
    resolve = loop.getaddrinfo

    async def getaddrinfo(host: Any, port: Any, *args: Any, **kwargs: Any) -> Any:
        if host != SLOW_HOST:
            return await resolve(host, port, *args, **kwargs)
        started.set()
        await asyncio.sleep(SLOW_S)
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("93.184.215.14", port))]

    monkeypatch.setattr(loop, "getaddrinfo", getaddrinfo)
    return started


async def timed_create(client: httpx.AsyncClient, headers: dict[str, str]) -> float:
    """How long another region's project create takes (it must succeed)."""
    began = time.monotonic()
    answer = await client.post(
        PROJECTS, json=project_payload(region_code="110118"), headers=headers
    )
    assert answer.status_code == 201, answer.text
    return time.monotonic() - began


@pytest.mark.parametrize("idempotency_key", [None, "slow-hook-1"])
async def test_a_slow_host_lookup_does_not_hold_up_other_writers(
    client: httpx.AsyncClient, keys: Keys, slow_dns: asyncio.Event, idempotency_key: str | None
) -> None:
    subscriber = await keys.region("440304")
    other = await keys.region("110118")
    await timed_create(client, other)  # warm: first-request costs are not the lock's
    headers = subscriber | ({"Idempotency-Key": idempotency_key} if idempotency_key else {})
    began = time.monotonic()
    hook = asyncio.create_task(
        client.post(
            "/api/v1/webhooks",
            json={"url": f"https://{SLOW_HOST}/hook", "events": ["project.approved"]},
            headers=headers,
        )
    )
    await asyncio.wait_for(slow_dns.wait(), 5)
    took = await timed_create(client, other)
    answer = await hook
    assert answer.status_code == 201, answer.text
    assert time.monotonic() - began >= SLOW_S
    assert took < BOUND_S, f"another writer waited {took:.2f} s behind a host lookup"
    if idempotency_key:  # the claim still holds: the retry is refused, nothing more subscribed
        again = await client.post(
            "/api/v1/webhooks",
            json={"url": f"https://{SLOW_HOST}/hook", "events": ["project.approved"]},
            headers=headers,
        )
        assert again.status_code == 409, again.text
        assert again.json()["code"] == "secret_not_replayable"
        listed = await client.get("/api/v1/webhooks", headers=subscriber)
        assert len(listed.json()["items"]) == 1


async def test_a_body_that_arrives_slowly_does_not_hold_up_other_writers(
    client: httpx.AsyncClient, keys: Keys
) -> None:
    slow_writer = await keys.region("440304")
    other = await keys.region("110118")
    await timed_create(client, other)
    body = orjson.dumps(project_payload())
    halfway = asyncio.Event()

    async def trickle() -> AsyncIterator[bytes]:
        yield body[: len(body) // 2]
        halfway.set()
        await asyncio.sleep(SLOW_S)
        yield body[len(body) // 2 :]

    slow = asyncio.create_task(
        client.post(
            PROJECTS,
            content=trickle(),
            headers=slow_writer | {"Content-Type": "application/json"},
        )
    )
    await asyncio.wait_for(halfway.wait(), 5)
    took = await timed_create(client, other)
    answer = await slow
    assert answer.status_code == 201, answer.text
    assert took < BOUND_S, f"another writer waited {took:.2f} s behind a slow body"


async def test_a_slow_document_store_does_not_hold_up_other_writers(
    app: FastAPI,
    client: httpx.AsyncClient,
    keys: Keys,
    settings: Settings,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The file goes to the store before the upload's transaction writes; a replay of the same
    upload answers the first document and keeps no second file."""
    store = app.state.document_store
    put = store.put
    putting = asyncio.Event()

    async def slow_put(*args: Any, **kwargs: Any) -> None:
        putting.set()
        await asyncio.sleep(SLOW_S)
        await put(*args, **kwargs)

    monkeypatch.setattr(store, "put", slow_put)
    region = await keys.region("440304")
    other = await keys.region("110118")
    project = await create_project(client, region)
    await timed_create(client, other)

    async def upload() -> httpx.Response:
        return await client.post(
            f"/api/v1/projects/{project['id']}/documents",
            files={"file": ("plan.pdf", PDF, "application/pdf")},
            data={"type": "plan", "visibility": "public"},
            headers=region | {"Idempotency-Key": "slow-upload"},
        )

    first = asyncio.create_task(upload())
    await asyncio.wait_for(putting.wait(), 5)
    took = await timed_create(client, other)
    answer = await first
    assert answer.status_code == 201, answer.text
    assert took < BOUND_S, f"another writer waited {took:.2f} s behind a document's storing"
    again = await upload()
    assert again.status_code == 201, again.text
    assert again.headers.get("Idempotent-Replayed") == "true"
    assert again.json()["id"] == answer.json()["id"]
    kept = [p for p in (Path(settings.storage_dir) / "documents").rglob("*") if p.is_file()]
    assert len(kept) == 1


async def test_a_write_refused_before_it_writes_never_waits_for_the_lock(
    client: httpx.AsyncClient, keys: Keys, db_kind: str, database_url: str
) -> None:
    """Authentication and the checks before the first write read without the write lock: with
    the lock held elsewhere, a request refused by them answers at once, and one that writes
    answers 503 with Retry-After once the busy timeout has passed."""
    if db_kind != "sqlite":
        pytest.skip("the database-wide write lock is SQLite's")
    import sqlite3

    admin = await keys.issue(Role.admin)
    region = await keys.region("440304")
    holder = sqlite3.connect(database_url.removeprefix("sqlite:///"), isolation_level=None)
    try:
        holder.execute("BEGIN IMMEDIATE")
        began = time.monotonic()
        refused = await client.post(
            "/api/v1/webhooks",
            json={"url": "ftp://example.org/hook", "events": ["project.approved"]},
            headers=admin,
        )
        assert refused.status_code == 422, refused.text
        assert refused.json()["code"] == "webhook_url_not_allowed"
        assert time.monotonic() - began < 1.0
        blocked = await client.post(PROJECTS, json=project_payload(), headers=region)
        assert blocked.status_code == 503, blocked.text
        assert "Retry-After" in blocked.headers
    finally:
        holder.execute("ROLLBACK")
        holder.close()


PARTS = 8


@pytest.fixture
def slow_upload_parts(app: FastAPI) -> Iterator[asyncio.Event]:
    """Storing an import job's file takes SLOW_S, SLOW_S / PARTS a part (a slow disk, or a file
    of 50 MB); the event is set once the first part is being stored."""
    from sqlalchemy import event
    from sqlalchemy.util import await_

    engine = app.state.engine.sync_engine
    storing = asyncio.Event()

    def slow(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        if statement.lstrip().upper().startswith("INSERT INTO IMPORT_UPLOADS"):
            storing.set()
            await_(asyncio.sleep(SLOW_S / PARTS))

    event.listen(engine, "before_cursor_execute", slow)
    yield storing
    event.remove(engine, "before_cursor_execute", slow)


@pytest.mark.parametrize("idempotency_key", [None, "slow-import-1"])
async def test_storing_an_import_jobs_file_does_not_hold_up_other_writers(
    app: FastAPI,
    client: httpx.AsyncClient,
    keys: Keys,
    slow_upload_parts: asyncio.Event,
    monkeypatch: pytest.MonkeyPatch,
    idempotency_key: str | None,
) -> None:
    """The file's parts are stored before the transaction that creates the job, each in a
    transaction of its own: another writer waits for one part at most. A replay answers the
    first job and leaves no second copy of the file."""
    from sqlalchemy import func, select

    from app.models import ImportUpload
    from app.services import import_jobs
    from tests.api.bulk.test_import import row, to_csv, upload

    importer = await keys.region("440304")
    other = await keys.region("110118")
    await timed_create(client, other)
    headers = importer | ({"Idempotency-Key": idempotency_key} if idempotency_key else {})
    data = to_csv([row(n) for n in range(1001)])  # one batch and one: a job
    monkeypatch.setattr(import_jobs, "UPLOAD_PART_BYTES", len(data) // PARTS + 1)
    job = asyncio.create_task(
        client.post("/api/v1/projects/import", headers=headers, **upload(data))
    )
    await asyncio.wait_for(slow_upload_parts.wait(), 5)
    took = await timed_create(client, other)
    answer = await job
    assert answer.status_code == 202, answer.text
    assert took < BOUND_S, f"another writer waited {took:.2f} s behind an import's file"
    if idempotency_key:
        again = await client.post("/api/v1/projects/import", headers=headers, **upload(data))
        assert again.status_code == 202, again.text
        assert again.headers.get("Idempotent-Replayed") == "true"
        assert again.json()["id"] == answer.json()["id"]
    async with app.state.sessions() as session:
        parts = await session.execute(select(func.count()).select_from(ImportUpload))
        assert parts.scalar_one() == PARTS
