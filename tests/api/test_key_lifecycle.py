"""Keys with a lifecycle: expiry, rotation with a grace period, last use recorded sparingly, the
last admin key kept, bootstrap keys long enough, and the CLI's list and revoke."""

import asyncio
import uuid
from datetime import timedelta
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from pydantic import ValidationError
from sqlalchemy import update

from app.config import Settings
from app.db import WRITE
from app.models import ApiKey
from app.models.base import utcnow
from tests.conftest import Keys
from tests.factories import run_cli

KEYS = "/api/v1/api-keys"
PROJECTS = "/api/v1/projects"


async def issue(client: httpx.AsyncClient, admin: dict[str, str], **body: object) -> httpx.Response:
    return await client.post(
        KEYS, json={"name": "n", "role": "region", "scope": "440304", **body}, headers=admin
    )


def bearer(answer: httpx.Response) -> dict[str, str]:
    return {"Authorization": f"Bearer {answer.json()['key']}"}


async def listed(client: httpx.AsyncClient, admin: dict[str, str], key_id: str) -> Any:
    items = (await client.get(KEYS, headers=admin, params={"include_revoked": True})).json()[
        "items"
    ]
    (found,) = [k for k in items if k["id"] == key_id]
    return found


class TestExpiry:
    async def test_a_key_stops_working_when_it_expires(
        self, client: httpx.AsyncClient, keys: Keys, app: FastAPI
    ) -> None:
        admin = await keys.admin()
        later = (utcnow() + timedelta(days=30)).isoformat()
        made = await issue(client, admin, expires_at=later)
        assert made.status_code == 201, made.text
        assert made.json()["expires_at"] is not None
        assert (await client.get(PROJECTS, headers=bearer(made))).status_code == 200
        async with app.state.sessions.begin() as session:
            await session.execute(
                update(ApiKey)
                .where(ApiKey.id == uuid.UUID(made.json()["id"]))
                .values(expires_at=utcnow() - timedelta(seconds=1))
            )
        refused = await client.get(PROJECTS, headers=bearer(made))
        assert refused.status_code == 401
        assert refused.json()["code"] == "api_key_expired"

    @pytest.mark.parametrize(
        ("expires_at", "code"),
        [("2020-01-01T00:00:00Z", "expiry_in_past"), ("2030-01-01T00:00:00", "timezone_aware")],
    )
    async def test_a_past_or_zoneless_expiry_is_refused(
        self, client: httpx.AsyncClient, keys: Keys, expires_at: str, code: str
    ) -> None:
        admin = await keys.admin()
        answer = await issue(client, admin, expires_at=expires_at)
        assert answer.status_code == 422
        assert answer.json()["errors"][0]["loc"] == ["body", "expires_at"]
        assert answer.json()["errors"][0]["code"] == code
        assert len((await client.get(KEYS, headers=admin)).json()["items"]) == 1


class TestRotation:
    async def test_the_old_secret_works_through_its_grace_then_not(
        self, client: httpx.AsyncClient, keys: Keys, app: FastAPI
    ) -> None:
        admin = await keys.admin()
        made = await issue(client, admin)
        old = bearer(made)
        rotated = await client.post(
            f"{KEYS}/{made.json()['id']}/rotate", json={"grace_hours": 2}, headers=admin
        )
        assert rotated.status_code == 200, rotated.text
        new = bearer(rotated)
        assert new != old
        assert rotated.json()["id"] == made.json()["id"]
        assert rotated.json()["scope"] == "440304"
        assert rotated.json()["previous_valid_until"] is not None
        for headers in (old, new):
            assert (await client.get(PROJECTS, headers=headers)).status_code == 200
        async with app.state.sessions.begin() as session:
            await session.execute(
                update(ApiKey)
                .where(ApiKey.id == uuid.UUID(made.json()["id"]))
                .values(previous_valid_until=utcnow() - timedelta(seconds=1))
            )
        assert (await client.get(PROJECTS, headers=old)).status_code == 401
        assert (await client.get(PROJECTS, headers=new)).status_code == 200

    async def test_no_grace_ends_the_old_secret_at_once(
        self, client: httpx.AsyncClient, keys: Keys
    ) -> None:
        admin = await keys.admin()
        made = await issue(client, admin)
        rotated = await client.post(
            f"{KEYS}/{made.json()['id']}/rotate", json={"grace_hours": 0}, headers=admin
        )
        assert rotated.status_code == 200
        assert (await client.get(PROJECTS, headers=bearer(made))).status_code == 401
        assert (await client.get(PROJECTS, headers=bearer(rotated))).status_code == 200

    async def test_refusals(self, client: httpx.AsyncClient, keys: Keys) -> None:
        admin = await keys.admin()
        made = await issue(client, admin)
        key_id = made.json()["id"]
        too_long = await client.post(
            f"{KEYS}/{key_id}/rotate", json={"grace_hours": 721}, headers=admin
        )
        assert too_long.status_code == 422
        unknown = await client.post(
            f"{KEYS}/00000000-0000-4000-8000-000000000000/rotate", headers=admin
        )
        assert unknown.status_code == 404
        not_admin = await client.post(f"{KEYS}/{key_id}/rotate", headers=bearer(made))
        assert not_admin.status_code == 403
        assert (await client.delete(f"{KEYS}/{key_id}", headers=admin)).status_code == 204
        revoked = await client.post(f"{KEYS}/{key_id}/rotate", headers=admin)
        assert revoked.status_code == 409
        assert revoked.json()["code"] == "api_key_revoked"


class TestLastUse:
    async def test_recorded_once_not_per_request(
        self, client: httpx.AsyncClient, keys: Keys, app: FastAPI
    ) -> None:
        admin = await keys.admin()
        made = await issue(client, admin)
        key_id = made.json()["id"]
        assert (await listed(client, admin, key_id))["last_used_at"] is None
        for _ in range(5):
            assert (await client.get(PROJECTS, headers=bearer(made))).status_code == 200
        await app.state.key_usage.drain()
        first = (await listed(client, admin, key_id))["last_used_at"]
        assert first is not None
        for _ in range(5):
            await client.get(PROJECTS, headers=bearer(made))
        await app.state.key_usage.drain()
        assert (await listed(client, admin, key_id))["last_used_at"] == first


class TestLastUseUnderWrites:
    """The marks' write waits its turn among the other writers (app.db.SqliteWriteGate) instead
    of going around them: a mark that waited in SQLite's busy handler while writers took the
    lock back to back ran out of the busy timeout and was dropped ("database is locked")."""

    @pytest.fixture
    def settings(self, settings: Settings) -> Settings:
        # Far shorter than the run of writes below, so a writer outside the gate runs out of it
        # (it gets in only if one of its tries falls between two writers); three times what the
        # two writers ahead of one in the gate hold the lock.
        return settings.model_copy(update={"sqlite_busy_timeout_ms": 300})

    async def test_recorded_while_writers_hold_the_lock_back_to_back(
        self, client: httpx.AsyncClient, keys: Keys, app: FastAPI
    ) -> None:
        admin = await keys.admin()
        made = await issue(client, admin)
        key_id = made.json()["id"]
        stop = asyncio.Event()

        async def writer() -> None:
            while not stop.is_set():
                async with app.state.sessions() as session:
                    await session.connection(execution_options=WRITE)  # the lock, on SQLite
                    await session.execute(
                        update(ApiKey).where(ApiKey.name == "none").values(name="none")
                    )
                    await asyncio.sleep(0.05)
                    await session.commit()

        writers = [asyncio.create_task(writer()) for _ in range(2)]
        try:
            await asyncio.sleep(0.05)
            assert (await client.get(PROJECTS, headers=bearer(made))).status_code == 200
            # a write request queues among them too
            assert (await issue(client, admin, name="during")).status_code == 201
            await asyncio.gather(app.state.key_usage.drain(), asyncio.sleep(0.8))
        finally:
            stop.set()
            await asyncio.gather(*writers)
        assert (await listed(client, admin, key_id))["last_used_at"] is not None


class TestLastAdmin:
    async def test_the_last_working_admin_key_cannot_be_revoked(
        self, client: httpx.AsyncClient, keys: Keys, app: FastAPI
    ) -> None:
        admin = await keys.admin()
        other = await client.post(KEYS, json={"name": "second", "role": "admin"}, headers=admin)
        assert other.status_code == 201
        # An expired admin key is no administrator: it does not count as the one that remains.
        third = await client.post(KEYS, json={"name": "third", "role": "admin"}, headers=admin)
        async with app.state.sessions.begin() as session:
            await session.execute(
                update(ApiKey)
                .where(ApiKey.id == uuid.UUID(third.json()["id"]))
                .values(expires_at=utcnow() - timedelta(seconds=1))
            )
        assert (
            await client.delete(f"{KEYS}/{other.json()['id']}", headers=admin)
        ).status_code == 204
        mine = [
            k
            for k in (await client.get(KEYS, headers=admin)).json()["items"]
            if k["role"] == "admin" and k["name"] != "third"
        ]
        (own,) = mine
        refused = await client.delete(f"{KEYS}/{own['id']}", headers=admin)
        assert refused.status_code == 409
        assert refused.json()["code"] == "last_admin_key"
        assert (await client.get(KEYS, headers=admin)).status_code == 200


def test_a_short_bootstrap_key_is_refused() -> None:
    with pytest.raises(ValidationError, match="32"):
        Settings(bootstrap_admin_key="a")
    assert Settings(bootstrap_admin_key="k" * 32).bootstrap_admin_key == "k" * 32


def test_cli_lists_and_revokes_keys(database_url: str) -> None:
    secrets = []
    for extra in (["--role", "admin"], ["--role", "region", "--scope", "440304"]):
        made = run_cli("keys", "create", *extra, "--name", "n", database_url=database_url)
        assert made.returncode == 0, made.stderr
        secrets.append(made.stdout.strip())
    listing = run_cli("keys", "list", database_url=database_url)
    assert listing.returncode == 0, listing.stderr
    lines = listing.stdout.splitlines()
    assert lines[0].split()[:3] == ["id", "role", "scope"]
    ids = {line.split()[1]: line.split()[0] for line in lines[1:]}
    assert set(ids) == {"admin", "region"}
    assert not any(secret in listing.stdout for secret in secrets)
    last = run_cli("keys", "revoke", ids["admin"], database_url=database_url)
    assert last.returncode == 2
    assert "last working admin key" in last.stderr
    revoked = run_cli("keys", "revoke", ids["region"], database_url=database_url)
    assert revoked.returncode == 0, revoked.stderr
    assert len(run_cli("keys", "list", database_url=database_url).stdout.splitlines()) == 2
    everything = run_cli("keys", "list", "--all", database_url=database_url)
    assert len(everything.stdout.splitlines()) == 3
