"""The audit trail's hash chain: sealed after commit in id order, published at /audit/head,
checked by `climatelib audit verify`; the database refuses to change or delete an event. Both
databases, through HTTP and the command line."""

import asyncio
import hashlib
import json
import uuid
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from fastapi import FastAPI
from sqlalchemy.exc import DBAPIError

from app.config import Settings
from app.main import create_app
from app.models import AuditEvent, AuditSeal
from app.services import api_keys, audit, audit_chain
from app.services.audit_chain import Sealer
from tests.conftest import Keys
from tests.factories import create_project, run_cli
from tests.factories import institution as register_institution

AUDIT = "/api/v1/audit"
HEAD = "/api/v1/audit/head"


# ---- an independent statement of the chain (docs/architecture.md), to check the service against


def _reference_json(event: AuditEvent) -> bytes:
    def plain(value: Any) -> str:
        if isinstance(value, datetime):
            return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f+00:00")
        return str(value)  # UUIDs

    document = {c.name: getattr(event, c.name) for c in AuditEvent.__table__.columns}
    text = json.dumps(
        document, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=plain
    )
    return text.encode("utf-8")


def _reference_chain(events: list[AuditEvent], algorithm: str) -> list[str]:
    hashes, previous = [], "0" * 64
    for event in events:
        previous = hashlib.new(algorithm, previous.encode() + _reference_json(event)).hexdigest()
        hashes.append(previous)
    return hashes


async def _stored(app: FastAPI) -> tuple[list[AuditEvent], dict[int, AuditSeal]]:
    async with app.state.sessions() as session:
        events = list(await session.scalars(sa.select(AuditEvent).order_by(AuditEvent.id)))
        seals = {s.event_id: s for s in await session.scalars(sa.select(AuditSeal))}
    return events, seals


async def _sql(app: FastAPI, *statements: str) -> None:
    """Statements as the database owner, straight to the database, in one transaction."""
    async with app.state.engine.begin() as conn:
        for statement in statements:
            await conn.exec_driver_sql(statement)


async def _some_writes(client: httpx.AsyncClient, keys: Keys) -> None:
    """Writes of different kinds: a project and its step, an institution, a pilot, a key."""
    futian = await keys.region("440304")
    project = await create_project(client, futian)
    moved = await client.post(
        f"/api/v1/projects/{project['id']}/transitions",
        json={"action": "submit"},
        headers={**futian, "If-Match": '"1"'},
    )
    assert moved.status_code == 200, moved.text
    await register_institution(client, keys)
    admin = await keys.admin()
    pilot = {"name": "某区", "kind": "district", "province": "44", "regions": [{"code": "440305"}]}
    assert (await client.post("/api/v1/pilots", json=pilot, headers=admin)).status_code == 201
    key = {"name": "k", "role": "region", "scope": "440304"}
    assert (await client.post("/api/v1/api-keys", json=key, headers=admin)).status_code == 201


def _verify(database_url: str) -> tuple[int, str, str]:
    result = run_cli("audit", "verify", database_url=database_url)
    return result.returncode, result.stdout, result.stderr


class TestSealing:
    async def test_writes_are_sealed_in_order_and_the_head_advances(
        self, client: httpx.AsyncClient, keys: Keys, app: FastAPI, database_url: str
    ) -> None:
        admin = await keys.admin()
        empty = await client.get(HEAD, headers=admin)
        assert empty.status_code == 200, empty.text
        assert empty.json() == {
            "event_id": None,
            "hash": None,
            "algorithm": None,
            "sealed_at": None,
        }

        await _some_writes(client, keys)
        assert (await client.get(HEAD, headers=admin)).json()["event_id"] is None  # not yet
        sealed = await app.state.audit_sealer.seal()
        events, seals = await _stored(app)
        assert sealed == len(events) >= 6
        assert {e.object_type for e in events} >= {"project", "institution", "pilot", "api_key"}
        assert [seals[e.id].hash for e in events] == _reference_chain(events, "sha256")
        head = (await client.get(HEAD, headers=admin)).json()
        assert head["event_id"] == events[-1].id
        assert head["hash"] == seals[events[-1].id].hash
        assert head["algorithm"] == "sha256" and head["sealed_at"]

        # More writes: the chain goes on from the head, the head advances.
        await create_project(client, await keys.region("440304"), name="第二个项目")
        assert await app.state.audit_sealer.seal() == 2  # the new key's event and the project's
        assert await app.state.audit_sealer.seal() == 0  # nothing new: nothing done
        later = (await client.get(HEAD, headers=admin)).json()
        assert later["event_id"] > head["event_id"]
        events, seals = await _stored(app)
        assert [seals[e.id].hash for e in events] == _reference_chain(events, "sha256")

        code, out, err = _verify(database_url)
        assert code == 0, err
        assert f"{len(events)} events checked up to event {later['event_id']}" in out

        # A head recorded outside the database: the chain still holds it, or verify says not.
        recorded = f"{head['event_id']}:{head['hash']}"
        assert (
            run_cli("audit", "verify", "--head", recorded, database_url=database_url).returncode
            == 0
        )
        rewritten = run_cli(
            "audit", "verify", "--head", f"{head['event_id']}:{'0' * 64}", database_url=database_url
        )
        assert rewritten.returncode == 1
        assert f"no longer holds the recorded head: event {head['event_id']}" in rewritten.stderr

    async def test_concurrent_writers_then_a_seal_leave_a_complete_chain(
        self, client: httpx.AsyncClient, keys: Keys, app: FastAPI, database_url: str
    ) -> None:
        futian = await keys.region("440304")
        sealer: Sealer = app.state.audit_sealer

        async def write(n: int) -> None:
            await create_project(client, futian, name=f"并发项目 {n}")

        # Twenty writers at once, with sealing rounds running among them.
        await asyncio.gather(*(write(n) for n in range(20)), *(sealer.seal() for _ in range(4)))
        await sealer.seal()
        events, seals = await _stored(app)
        assert len([e for e in events if e.object_type == "project"]) == 20
        assert sorted(seals) == [e.id for e in events]
        assert [seals[e.id].hash for e in events] == _reference_chain(events, "sha256")
        async with app.state.sessions() as session:
            verdict = await audit_chain.verify(session)
        assert verdict.ok and verdict.checked == len(events) and verdict.unsealed == 0
        assert _verify(database_url)[0] == 0

    async def test_the_background_sealer_seals_without_being_asked(
        self, settings: Settings
    ) -> None:
        app = create_app(settings.model_copy(update={"audit_seal_interval_s": 0.05}))
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
                own = Keys(app)
                admin = await own.admin()
                project = await create_project(client, await own.region("440304"))
                for _ in range(100):
                    head = (await client.get(HEAD, headers=admin)).json()
                    if head["event_id"] is not None:
                        break
                    await asyncio.sleep(0.05)
        listed = head["event_id"]
        assert listed is not None, "the background sealer sealed nothing in 5 s"
        assert project["id"]

    async def test_sm3_makes_another_chain_that_verifies(
        self, client: httpx.AsyncClient, keys: Keys, app: FastAPI, database_url: str
    ) -> None:
        await _some_writes(client, keys)
        sm3 = Sealer(app.state.sessions, "sm3")
        await sm3.seal()
        events, seals = await _stored(app)
        assert {s.algorithm for s in seals.values()} == {"sm3"}
        assert [seals[e.id].hash for e in events] == _reference_chain(events, "sm3")
        assert _reference_chain(events, "sm3") != _reference_chain(events, "sha256")
        head = (await client.get(HEAD, headers=await keys.admin())).json()
        assert head["algorithm"] == "sm3" and head["hash"] == seals[events[-1].id].hash

        # A change of setting applies from the next link on; the chain stays checkable.
        await create_project(client, await keys.region("440304"), name="换算法之后")
        await app.state.audit_sealer.seal()  # sha256
        _, seals = await _stored(app)
        assert {s.algorithm for s in seals.values()} == {"sm3", "sha256"}
        code, out, err = _verify(database_url)
        assert code == 0, err
        assert "(sha256+sm3)" in out

    async def test_an_unknown_or_missing_hash_stops_the_start_clearly(
        self, settings: Settings, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        with pytest.raises(ValueError, match="audit_hash"):
            Settings(database_url=settings.database_url, audit_hash="md5")
        real_new = hashlib.new

        def without_sm3(name: str, *args: Any, **kwargs: Any) -> Any:
            if name == "sm3":
                raise ValueError("unsupported hash type sm3")
            return real_new(name, *args, **kwargs)

        monkeypatch.setattr(hashlib, "new", without_sm3)
        app = create_app(settings.model_copy(update={"audit_hash": "sm3"}))
        with pytest.raises(audit_chain.AlgorithmUnavailable, match="CLIMATELIB_AUDIT_HASH=sm3"):
            async with app.router.lifespan_context(app):
                pass


class TestGaps:
    """PostgreSQL: ids are taken when an insert runs, so a lower one may commit later, or never."""

    @pytest.fixture(autouse=True)
    def _postgres_only(self, db_kind: str) -> None:
        if db_kind != "postgresql":
            pytest.skip("SQLite serialises writers: committed ids are always in order")

    async def test_the_chain_stops_below_an_event_still_in_flight(
        self, client: httpx.AsyncClient, keys: Keys, app: FastAPI
    ) -> None:
        futian = await keys.region("440304")
        await create_project(client, futian, name="之前")
        async with app.state.sessions() as held:
            await audit.record(
                held, audit.event(api_keys.CONSOLE, "check", "project", uuid.uuid4())
            )
            await held.flush()  # its id is taken; it has not committed
            await create_project(client, futian, name="之后")
            await app.state.audit_sealer.seal()
            events, seals = await _stored(app)
            *before, later = events
            # The key's and the first project's events are sealed; the later one waits for the
            # one in flight below it.
            assert sorted(seals) == [e.id for e in before] and later.id - before[-1].id == 2
            await held.commit()
        await app.state.audit_sealer.seal()
        events, seals = await _stored(app)
        assert len(events) == len(before) + 2 and sorted(seals) == [e.id for e in events]
        assert [seals[e.id].hash for e in events] == _reference_chain(events, "sha256")

    async def test_a_rolled_back_insert_is_passed_over(
        self, client: httpx.AsyncClient, keys: Keys, app: FastAPI, database_url: str
    ) -> None:
        futian = await keys.region("440304")
        await create_project(client, futian, name="之前")
        async with app.state.sessions() as doomed:
            await audit.record(
                doomed, audit.event(api_keys.CONSOLE, "check", "project", uuid.uuid4())
            )
            await doomed.flush()
            await doomed.rollback()
        await create_project(client, futian, name="之后")
        await app.state.audit_sealer.seal()
        events, seals = await _stored(app)
        projects = [e for e in events if e.object_type == "project"]
        assert projects[1].id - projects[0].id == 2  # the rolled-back id is a gap for ever
        assert sorted(seals) == [e.id for e in events]
        assert [seals[e.id].hash for e in events] == _reference_chain(events, "sha256")
        assert _verify(database_url)[0] == 0


class TestTampering:
    async def test_an_event_changed_in_sql_is_named_by_verify(
        self, client: httpx.AsyncClient, keys: Keys, app: FastAPI, database_url: str, db_kind: str
    ) -> None:
        await _some_writes(client, keys)
        await app.state.audit_sealer.seal()
        events, _ = await _stored(app)
        victim = events[2].id
        forge = f"UPDATE audit_events SET reason = 'forged' WHERE id = {victim}"  # noqa: S608
        if db_kind == "postgresql":
            await _sql(
                app,
                "ALTER TABLE audit_events DISABLE TRIGGER audit_events_append_only",
                forge,
                "ALTER TABLE audit_events ENABLE TRIGGER audit_events_append_only",
            )
        else:
            await _sql(
                app,
                "DROP TRIGGER audit_events_no_update",
                forge,
                "CREATE TRIGGER audit_events_no_update BEFORE UPDATE ON audit_events BEGIN "
                "SELECT RAISE(ABORT, 'audit_events is append-only: UPDATE refused'); END",
            )
        code, out, err = _verify(database_url)
        assert code == 1, out
        assert f"audit chain broken at event {victim}:" in err
        assert "does not match" in err and "(2 earlier links intact)" in err

    async def test_an_event_slipped_into_a_sealed_place_is_named(
        self, client: httpx.AsyncClient, keys: Keys, app: FastAPI, database_url: str
    ) -> None:
        await _some_writes(client, keys)
        await app.state.audit_sealer.seal()
        events, _ = await _stored(app)
        forged = (
            "INSERT INTO audit_events (id, at, actor_role, action, object_type, object_id)"
            " VALUES (0, '2026-01-01 00:00:00+00:00', 'admin', 'forged', 'project', '{}')"
        )
        await _sql(app, forged.format(uuid.uuid4().hex))
        code, _, err = _verify(database_url)
        assert code == 1
        assert "audit chain broken at event 0:" in err and "not in the chain" in err
        assert events

    async def test_plain_update_and_delete_are_refused(
        self, client: httpx.AsyncClient, keys: Keys, app: FastAPI, database_url: str
    ) -> None:
        await _some_writes(client, keys)
        await app.state.audit_sealer.seal()
        events, _ = await _stored(app)
        target = events[0].id
        for statement in (
            f"UPDATE audit_events SET reason = 'x' WHERE id = {target}",  # noqa: S608
            f"DELETE FROM audit_events WHERE id = {target}",  # noqa: S608
            f"UPDATE audit_seals SET hash = 'x' WHERE event_id = {target}",  # noqa: S608
            f"DELETE FROM audit_seals WHERE event_id = {target}",  # noqa: S608
        ):
            with pytest.raises(DBAPIError, match="append-only"):
                await _sql(app, statement)
        assert _verify(database_url)[0] == 0
