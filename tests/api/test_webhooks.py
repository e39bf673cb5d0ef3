"""Webhooks through HTTP, on both databases: subscriptions and their secret, signed deliveries
to a real receiver, retries, re-sending, who hears what, match.new, and workers that never
deliver an event twice."""

import asyncio
import time
import uuid
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import func, select, update

from app.config import Settings
from app.models import DeliveryStatus, WebhookDelivery, WebhookOutbox
from app.models.base import utcnow
from app.repositories import webhooks as webhooks_repo
from app.services import webhooks
from app.services.webhooks_worker import MAX_IN_FLIGHT, WebhookWorker
from tests.api.bulk.test_import import row, to_csv, upload
from tests.api.webhook_receiver import Receiver, verify
from tests.conftest import Keys
from tests.factories import in_library, institution, move_project, offer, product

HOOKS = "/api/v1/webhooks"
PROJECTS = "/api/v1/projects"


@pytest.fixture
def settings(settings: Settings) -> Settings:
    """A worker that looks often and retries after a few hundredths of a second; the receiver
    listens on 127.0.0.1, so private addresses are allowed."""
    return settings.model_copy(
        update={
            "webhook_worker": True,
            "webhook_poll_interval_s": 0.05,
            "webhook_retry_base_s": 0.05,
            "webhook_retry_max_s": 0.2,
            "webhook_allow_private": True,
            "import_worker": True,
        }
    )


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with Receiver() as running:
        yield running


async def subscribe(
    client: httpx.AsyncClient, headers: dict[str, str], url: str, *events: str
) -> dict[str, Any]:
    answer = await client.post(HOOKS, json={"url": url, "events": list(events)}, headers=headers)
    assert answer.status_code == 201, answer.text
    return dict(answer.json())


async def settled(app: FastAPI, timeout_s: float = 20.0) -> None:
    """Wait until every event is fanned out and no delivery is pending."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        async with app.state.sessions() as session:
            waiting = await session.scalar(
                select(func.count()).where(WebhookOutbox.dispatched_at.is_(None))
            )
            pending = await session.scalar(
                select(func.count()).where(WebhookDelivery.status == DeliveryStatus.pending)
            )
        if not waiting and not pending:
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"still {waiting} event(s) waiting, {pending} delivery(ies) pending")


async def deliveries(
    client: httpx.AsyncClient, headers: dict[str, str], hook: dict[str, Any]
) -> list[dict[str, Any]]:
    answer = await client.get(f"{HOOKS}/{hook['id']}/deliveries", headers=headers)
    assert answer.status_code == 200, answer.text
    return list(answer.json()["items"])


class TestSubscriptions:
    async def test_secret_is_shown_once_and_each_key_sees_its_own(
        self, client: httpx.AsyncClient, keys: Keys, receiver: Receiver
    ) -> None:
        region, other, admin = await keys.region("440304"), await keys.region("330102"), None
        admin = await keys.admin()
        hook = await subscribe(client, region, receiver.url("/a"), "project.approved")
        assert hook["secret"].startswith("whsec_")
        assert hook["events"] == ["project.approved"]
        read = await client.get(f"{HOOKS}/{hook['id']}", headers=region)
        assert read.status_code == 200
        assert "secret" not in read.json()
        assert [h["id"] for h in (await client.get(HOOKS, headers=region)).json()["items"]] == [
            hook["id"]
        ]
        assert (await client.get(HOOKS, headers=other)).json()["items"] == []
        assert (await client.get(f"{HOOKS}/{hook['id']}", headers=other)).status_code == 404
        assert (await client.get(f"{HOOKS}/{hook['id']}", headers=admin)).status_code == 200
        assert (await client.delete(f"{HOOKS}/{hook['id']}", headers=other)).status_code == 404
        assert (await client.delete(f"{HOOKS}/{hook['id']}", headers=region)).status_code == 204
        assert (await client.get(f"{HOOKS}/{hook['id']}", headers=region)).status_code == 404

    async def test_subscribing_and_deleting_are_audited_without_the_secret(
        self, client: httpx.AsyncClient, keys: Keys, receiver: Receiver
    ) -> None:
        region, admin = await keys.region("440304"), await keys.admin()
        hook = await subscribe(client, region, receiver.url("/a"), "project.approved")
        assert (await client.delete(f"{HOOKS}/{hook['id']}", headers=region)).status_code == 204
        answer = await client.get("/api/v1/audit", headers=admin, params={"object_id": hook["id"]})
        assert answer.status_code == 200, answer.text
        events = answer.json()["items"]
        assert [(e["action"], e["object_type"]) for e in events] == [
            ("webhook_create", "webhook"),
            ("webhook_delete", "webhook"),
        ]
        assert events[0]["changes"]["url"] == {"before": None, "after": receiver.url("/a")}
        assert events[1]["changes"]["events"] == {"before": ["project.approved"], "after": None}
        assert hook["secret"] not in answer.text

    async def test_bad_subscriptions_are_refused_and_nothing_is_stored(
        self, client: httpx.AsyncClient, keys: Keys, receiver: Receiver
    ) -> None:
        region = await keys.region("440304")
        cases = [
            ({"url": receiver.url("/a"), "events": ["project.deleted"]}, "unknown_webhook_event"),
            ({"url": receiver.url("/a"), "events": []}, "validation_error"),
            ({"url": "ftp://example.com/x", "events": ["match.new"]}, "webhook_url_not_allowed"),
            ({"url": "http:///nohost", "events": ["match.new"]}, "webhook_url_not_allowed"),
            (
                {"url": "http://user:pw@example.com/", "events": ["match.new"]},
                "webhook_url_not_allowed",
            ),
        ]
        for body, code in cases:
            answer = await client.post(HOOKS, json=body, headers=region)
            assert answer.status_code == 422, (body, answer.text)
            assert answer.json()["code"] == code, answer.text
        assert (await client.post(HOOKS, json=cases[0][0])).status_code == 401
        assert (await client.get(HOOKS, headers=region)).json()["items"] == []


class TestDelivery:
    async def test_an_approval_is_delivered_signed_once(
        self, client: httpx.AsyncClient, keys: Keys, app: FastAPI, receiver: Receiver
    ) -> None:
        region = await keys.region("440304")
        hook = await subscribe(client, region, receiver.url("/r"), "project.approved")
        committed = time.time()
        project = await in_library(client, keys, region)
        await settled(app)
        (message,) = receiver.at("/r")
        assert verify(hook["secret"], message)
        assert not verify(webhooks.new_secret(), message)
        assert message.json["type"] == "project.approved"
        assert message.json["data"]["project_id"] == project["id"]
        assert message.json["data"]["library_code"] == project["library_code"]
        assert abs(message.timestamp - committed) < 60
        (delivery,) = await deliveries(client, region, hook)
        assert delivery["id"] == message.message_id
        assert delivery["status"] == "succeeded"
        assert delivery["attempts"] == 1
        assert [a["status_code"] for a in delivery["attempt_log"]] == [204]

    async def test_a_failing_receiver_gets_retries_then_one_delivery(
        self, client: httpx.AsyncClient, keys: Keys, app: FastAPI, receiver: Receiver
    ) -> None:
        region = await keys.region("440304")
        receiver.fail("/flaky", 2)
        hook = await subscribe(client, region, receiver.url("/flaky"), "project.approved")
        await in_library(client, keys, region)
        await settled(app)
        tries = [m for m in receiver.received if m.path == "/flaky"]
        assert len(tries) == 3
        assert len({m.message_id for m in tries}) == 1  # one message, tried three times
        assert len({m.body for m in tries}) == 1
        assert all(verify(hook["secret"], m) for m in tries)
        (delivery,) = await deliveries(client, region, hook)
        assert delivery["status"] == "succeeded"
        assert delivery["attempts"] == 3
        log = delivery["attempt_log"]
        assert [a["status_code"] for a in log] == [500, 500, 204]
        assert [a["error"] for a in log] == ["HTTP 500", "HTTP 500", None]
        assert all(a["duration_ms"] >= 0 for a in log)

    async def test_a_receiver_that_never_answers_well_ends_failed(
        self, client: httpx.AsyncClient, keys: Keys, app: FastAPI, receiver: Receiver
    ) -> None:
        region = await keys.region("440304")
        receiver.fail("/down", 1000)
        hook = await subscribe(client, region, receiver.url("/down"), "project.approved")
        await in_library(client, keys, region)
        # Retries run out at once: the delivery's window is moved to the past.
        for _ in range(500):
            if await deliveries(client, region, hook):
                break
            await asyncio.sleep(0.02)
        async with app.state.sessions.begin() as session:
            await session.execute(update(WebhookDelivery).values(retry_until=utcnow()))
        await settled(app)
        (delivery,) = await deliveries(client, region, hook)
        assert delivery["status"] == "failed"
        assert delivery["next_attempt_at"] is None
        assert delivery["attempts"] >= 1
        assert delivery["last_error"] == "HTTP 500"
        # Re-sent by hand once the receiver is back: the same message, delivered.
        receiver.fail("/down", 0)
        resent = await client.post(
            f"{HOOKS}/{hook['id']}/deliveries/{delivery['id']}/resend", headers=region
        )
        assert resent.status_code == 202, resent.text
        assert resent.json()["status"] == "pending"
        await settled(app)
        (again,) = await deliveries(client, region, hook)
        assert again["status"] == "succeeded"
        assert receiver.at("/down")[-1].message_id == delivery["id"]
        missing = await client.post(
            f"{HOOKS}/{hook['id']}/deliveries/{uuid.uuid4()}/resend", headers=region
        )
        assert missing.status_code == 404

    async def test_a_lease_left_by_a_dead_worker_is_taken_again(
        self, client: httpx.AsyncClient, keys: Keys, app: FastAPI, receiver: Receiver
    ) -> None:
        region = await keys.region("440304")
        hook = await subscribe(client, region, receiver.url("/lease"), "project.approved")
        # The process's own worker stops; a worker of a "process" that then dies takes the
        # delivery and leaves its lease behind.
        await app.state.webhook_worker.stop(5)
        await in_library(client, keys, region)
        dead = WebhookWorker(app.state.sessions, app.state.settings)
        dead.in_flight = MAX_IN_FLIGHT  # no room: it fans out without sending, then claims
        assert await dead.fan_out()
        now = utcnow()
        async with app.state.sessions.begin() as session:
            taken = await webhooks_repo.claim(session, dead.owner, now, now + timedelta(hours=1), 5)
        assert len(taken) == 1
        await dead.client.aclose()
        survivor = WebhookWorker(app.state.sessions, app.state.settings)
        assert not await survivor.deliver()  # leased: not taken while the lease runs
        async with app.state.sessions.begin() as session:
            await session.execute(
                update(WebhookDelivery).values(lease_expires_at=now - timedelta(seconds=1))
            )
        survivor.start()
        try:
            await settled(app)
        finally:
            await survivor.stop(5)
        assert len(receiver.at("/lease")) == 1
        (delivery,) = await deliveries(client, region, hook)
        assert delivery["status"] == "succeeded"

    async def test_workers_side_by_side_deliver_each_event_once(
        self, client: httpx.AsyncClient, keys: Keys, app: FastAPI, receiver: Receiver
    ) -> None:
        admin = await keys.admin()
        await subscribe(client, admin, receiver.url("/all"), "project.approved")
        await app.state.webhook_worker.stop(5)
        count = 60
        async with app.state.sessions.begin() as session:
            await webhooks_repo.enqueue(
                session,
                [
                    webhooks.outbox_row("project.approved", {"n": n}, {"region_code": "440304"})
                    for n in range(count)
                ],
            )
        workers = [WebhookWorker(app.state.sessions, app.state.settings) for _ in range(3)]
        # One has room for 5 at a time: it leases some of what it fans out and leaves the rest.
        workers[0].in_flight = MAX_IN_FLIGHT - 5
        for worker in workers:
            worker.start()
        try:
            await settled(app, 60)
        finally:
            for worker in workers:
                await worker.stop(5)
        received = receiver.at("/all")
        assert len(received) == count
        assert len({m.message_id for m in received}) == count
        assert sorted(m.json["data"]["n"] for m in received) == list(range(count))
        async with app.state.sessions() as session:
            rows = (
                await session.execute(select(WebhookDelivery.attempts, WebhookDelivery.last_error))
            ).all()
        assert [tuple(r) for r in rows] == [(1, None)] * count


class TestWhoHearsWhat:
    async def test_each_key_hears_only_what_it_could_read(
        self, client: httpx.AsyncClient, keys: Keys, app: FastAPI, receiver: Receiver
    ) -> None:
        futian = await keys.region("440304")
        hangzhou = await keys.region("330102")
        guangdong = await keys.reviewer("44")
        zhejiang = await keys.reviewer("33")
        admin = await keys.admin()
        bank_id, bank = await institution(client, keys, name="甲银行")
        _, rival = await institution(client, keys, name="乙银行")
        every = ("project.approved", "project.exited", "engagement.offer", "engagement.accept")
        for name, headers in [
            ("futian", futian),
            ("hangzhou", hangzhou),
            ("guangdong", guangdong),
            ("zhejiang", zhejiang),
            ("admin", admin),
            ("bank", bank),
            ("rival", rival),
        ]:
            await subscribe(client, headers, receiver.url(f"/{name}"), *every)
        # A draft and its submission are no event for anybody.
        draft = await client.post(PROJECTS, json=_project(), headers=futian)
        assert draft.status_code == 201
        project = await in_library(client, keys, futian)
        loan = await product(client, bank)
        offer = await client.post(
            "/api/v1/engagements",
            json={
                "project_id": project["id"],
                "product_id": loan["id"],
                "amount": "1000000.00",
                "annual_rate": "3.500",
                "tenor_months": 60,
            },
            headers=bank,
        )
        assert offer.status_code == 201, offer.text
        accepted = await client.post(
            f"/api/v1/engagements/{offer.json()['id']}/transitions",
            json={"action": "accept"},
            headers=futian,
        )
        assert accepted.status_code == 200, accepted.text
        await settled(app)
        # Order is not promised (deliveries go out side by side): compare sorted.
        everything = ["engagement.accept", "engagement.offer", "project.approved"]
        assert sorted(receiver.types("/futian")) == everything
        assert sorted(receiver.types("/admin")) == everything
        assert sorted(receiver.types("/bank")) == everything
        assert receiver.types("/guangdong") == ["project.approved"]  # offers: the parties'
        assert receiver.types("/rival") == ["project.approved"]  # the library is public
        assert receiver.types("/hangzhou") == []
        assert receiver.types("/zhejiang") == []
        offers = [m for m in receiver.at("/bank") if m.json["type"].startswith("engagement.")]
        assert {m.json["data"]["institution_id"] for m in offers} == {bank_id}
        del project

    async def test_a_revoked_key_hears_nothing_more(
        self, client: httpx.AsyncClient, keys: Keys, app: FastAPI, receiver: Receiver
    ) -> None:
        admin = await keys.admin()
        issued = await client.post(
            "/api/v1/api-keys",
            json={"name": "n", "role": "region", "scope": "440304"},
            headers=admin,
        )
        region = {"Authorization": f"Bearer {issued.json()['key']}"}
        await subscribe(client, region, receiver.url("/gone"), "project.approved")
        revoked = await client.delete(f"/api/v1/api-keys/{issued.json()['id']}", headers=admin)
        assert revoked.status_code == 204
        await in_library(client, keys, await keys.region("440304"))
        await settled(app)
        assert receiver.at("/gone") == []


def _project(**overrides: Any) -> dict[str, Any]:
    from tests.factories import project_payload

    return project_payload(**overrides)


class TestMatchNew:
    async def test_a_project_entering_the_library_is_new_to_the_products_that_accept_it(
        self, client: httpx.AsyncClient, keys: Keys, app: FastAPI, receiver: Receiver
    ) -> None:
        bank_id, bank = await institution(client, keys, name="甲银行")
        _, rival = await institution(client, keys, name="乙银行")
        south = await product(client, bank, name="南方贷", region_prefixes=["44"])
        north = await product(client, bank, name="北方贷", region_prefixes=["11"])
        elsewhere = await product(client, rival, name="乙贷")
        await subscribe(client, bank, receiver.url("/bank"), "match.new")
        await subscribe(client, rival, receiver.url("/rival"), "match.new")
        region = await keys.region("440304")
        project = await in_library(client, keys, region)
        await settled(app)
        (message,) = receiver.at("/bank")
        assert message.json["type"] == "match.new"
        assert message.json["data"] == {
            "product_id": south["id"],
            "institution_id": bank_id,
            "project_ids": [project["id"]],
        }
        assert [m.json["data"]["product_id"] for m in receiver.at("/rival")] == [elsewhere["id"]]
        assert north["id"] not in {m.json["data"]["product_id"] for m in receiver.at("/bank")}

        # An edit that changes no match is no news; one that makes the project fit a product is.
        current = await client.get(f"{PROJECTS}/{project['id']}", headers=region)
        edited = await client.patch(
            f"{PROJECTS}/{project['id']}",
            json={"construction_status": "under_construction"},
            headers={**region, "If-Match": current.headers["etag"]},
        )
        assert edited.status_code == 200, edited.text
        await settled(app)
        assert len(receiver.at("/bank")) == 1
        building = await product(
            client, bank, name="在建贷", construction_statuses=["under_construction"]
        )
        await settled(app)
        news = receiver.at("/bank")[1:]
        assert [m.json["data"]["product_id"] for m in news] == [building["id"]]
        assert news[0].json["data"]["project_ids"] == [project["id"]]

        # A product widened to the project's region newly matches it; paused, it matches none.
        widened = await client.patch(
            f"/api/v1/products/{north['id']}", json={"region_prefixes": ["11", "44"]}, headers=bank
        )
        assert widened.status_code == 200, widened.text
        await settled(app)
        assert [m.json["data"]["product_id"] for m in receiver.at("/bank")[2:]] == [north["id"]]
        paused = await client.patch(
            f"/api/v1/products/{north['id']}", json={"status": "paused"}, headers=bank
        )
        assert paused.status_code == 200, paused.text
        await settled(app)
        assert len(receiver.at("/bank")) == 3

    async def test_exit_is_announced_to_the_public_listeners(
        self, client: httpx.AsyncClient, keys: Keys, app: FastAPI, receiver: Receiver
    ) -> None:
        _, bank = await institution(client, keys)
        await subscribe(client, bank, receiver.url("/bank"), "project.exited")
        region = await keys.region("440304")
        project = await in_library(client, keys, region)
        await move_project(client, await keys.admin(), project, "exit", reason_code="completed")
        await settled(app)
        (message,) = receiver.at("/bank")
        assert message.json["type"] == "project.exited"
        assert message.json["data"]["exit_reason"] == "completed"


class TestImports:
    async def test_a_finished_import_is_announced_to_its_region(
        self, client: httpx.AsyncClient, keys: Keys, app: FastAPI, receiver: Receiver
    ) -> None:
        futian, other = await keys.region("440304"), await keys.region("440305")
        await subscribe(client, futian, receiver.url("/futian"), "import.finished")
        await subscribe(client, other, receiver.url("/other"), "import.finished")
        data = to_csv([row(n) for n in range(1001)])
        started = await client.post("/api/v1/projects/import", headers=futian, **upload(data))
        assert started.status_code == 202, started.text
        job_id = started.json()["id"]
        for _ in range(1200):
            if receiver.at("/futian"):
                break
            await asyncio.sleep(0.05)
        await settled(app)
        (message,) = receiver.at("/futian")
        assert message.json["type"] == "import.finished"
        assert message.json["data"]["import_id"] == job_id
        assert message.json["data"]["status"] == "succeeded"
        assert message.json["data"]["rows_done"] == 1001
        assert message.json["data"]["created"] == 1001
        assert receiver.at("/other") == []


async def _outbox(app: FastAPI) -> list[tuple[str, bool]]:
    """Every outbox row: its type, and for a match check whether it is a project's."""
    async with app.state.sessions() as session:
        rows = (await session.execute(select(WebhookOutbox.type, WebhookOutbox.data))).all()
    return sorted((type_, "project_id" in data) for type_, data in rows)


class TestOnlyWhatSomeoneHears:
    """Writers skip the events no subscription names; a subscription still hears every event
    committed after it, even one whose writer was in flight while it was made."""

    async def test_without_subscriptions_no_event_is_written(
        self, client: httpx.AsyncClient, keys: Keys, app: FastAPI
    ) -> None:
        region = await keys.region("440304")
        exiting, offered = (
            await in_library(client, keys, region),
            await in_library(client, keys, region),
        )
        await move_project(client, await keys.admin(), exiting, "exit", reason_code="completed")
        await offer(client, keys, offered["id"])
        await settled(app)
        # Only the project's own match check is left: it keeps its matching baseline current
        # for a later match.new subscriber. No product's check, no event anyone would hear.
        assert set(await _outbox(app)) == {(webhooks.MATCH_CHECK, True)}

    async def test_only_the_subscribed_types_are_written_and_delivered(
        self, client: httpx.AsyncClient, keys: Keys, app: FastAPI, receiver: Receiver
    ) -> None:
        region = await keys.region("440304")
        hook = await subscribe(client, region, receiver.url("/r"), "project.approved")
        project = await in_library(client, keys, region)
        await offer(client, keys, project["id"])
        await settled(app)
        assert [t for t, _ in await _outbox(app) if t != webhooks.MATCH_CHECK] == [
            "project.approved"
        ]
        (message,) = receiver.at("/r")
        assert verify(hook["secret"], message)
        assert message.json["data"]["project_id"] == project["id"]

        # Subscribing to offers now: the next offer is written and heard, the earlier one was not.
        bank_hook = await subscribe(client, region, receiver.url("/offers"), "engagement.offer")
        await offer(client, keys, project["id"])
        await settled(app)
        (delivered,) = receiver.at("/offers")
        assert verify(bank_hook["secret"], delivered)
        assert delivered.json["type"] == "engagement.offer"

    async def test_a_subscription_waits_for_writers_that_found_no_listener(
        self, client: httpx.AsyncClient, keys: Keys, app: FastAPI, receiver: Receiver
    ) -> None:
        region = await keys.region("440304")
        async with app.state.sessions() as writer:
            # A writer in flight (SQLite: holding the write lock, as every writer does) that has
            # looked and found nobody subscribed.
            await writer.connection(execution_options={"sqlite_begin": "IMMEDIATE"})
            assert await webhooks_repo.subscribed_types(writer, utcnow()) == set()
            creating = asyncio.create_task(
                client.post(
                    HOOKS,
                    json={"url": receiver.url("/late"), "events": ["project.approved"]},
                    headers=region,
                )
            )
            await asyncio.sleep(0.5)
            # Not made while that writer may still commit an event it did not write.
            assert not creating.done()
            await writer.commit()
        created = await creating
        assert created.status_code == 201, created.text
        project = await in_library(client, keys, region)
        await settled(app)
        (message,) = receiver.at("/late")
        assert message.json["data"]["project_id"] == project["id"]
