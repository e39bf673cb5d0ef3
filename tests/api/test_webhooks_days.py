"""``match.new`` when the day changes, on both databases: a product whose validity starts on a
later day is announced to its institution's subscribers when that day comes (nothing is written
then), once across processes and restarts, with days missed while nothing ran caught up."""

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import func, select

from app.config import Settings
from app.main import create_app
from app.models import WebhookOutbox
from app.repositories import webhooks as webhooks_repo
from app.services.webhooks_worker import WebhookWorker
from tests.api.test_webhooks import receiver, settings, settled, subscribe
from tests.api.webhook_receiver import Receiver, verify
from tests.conftest import Keys
from tests.factories import in_library, institution, product

__all__ = ["receiver", "settings"]  # the webhook tests' fixtures, used here too

PROJECTS = "/api/v1/projects"
TODAY = datetime.now(UTC).date()
TOMORROW = TODAY + timedelta(days=1)


@dataclass
class World:
    """A bank subscribed to ``match.new``, a Shenzhen region with two library projects and a
    Beijing one, and the bank's products; the app's own worker is stopped once the set-up is
    delivered, so the test runs the day's step itself."""

    app: FastAPI
    client: httpx.AsyncClient
    keys: Keys
    receiver: Receiver
    bank_id: str
    bank: dict[str, str]
    hook: dict[str, Any]
    region: dict[str, str]
    projects: dict[str, str]
    products: dict[str, str]
    set_day: Callable[[date], None]
    seen: int = 0
    workers: list[WebhookWorker] = field(default_factory=list)

    def worker(self, app: FastAPI | None = None) -> WebhookWorker:
        """A worker as another process (or this one restarted) would have it, not started."""
        app = app or self.app
        self.workers.append(WebhookWorker(app.state.sessions, app.state.settings))
        return self.workers[-1]

    async def deliver(self) -> list[dict[str, Any]]:
        """Deliver what waits; the messages the bank received since the last call."""
        worker = self.worker()
        worker.start()
        try:
            await settled(self.app)
        finally:
            await worker.stop(5)
        messages = self.receiver.at("/bank")[self.seen :]
        self.seen += len(messages)
        assert all(verify(self.hook["secret"], m) for m in messages)
        return [m.json for m in messages]

    def pairs(self, messages: list[dict[str, Any]]) -> list[tuple[str, str]]:
        """Every (product name, project name) the messages announce, sorted."""
        names = {v: k for k, v in (self.products | self.projects).items()}
        found = []
        for m in messages:
            assert m["type"] == "match.new"
            assert set(m["data"]) == {"product_id", "institution_id", "project_ids"}
            assert m["data"]["institution_id"] == self.bank_id
            found += [(names[m["data"]["product_id"]], names[p]) for p in m["data"]["project_ids"]]
        return sorted(found)


@pytest.fixture
async def world(
    client: httpx.AsyncClient,
    keys: Keys,
    app: FastAPI,
    receiver: Receiver,
    set_day: Callable[[date], None],
) -> AsyncIterator[World]:
    bank_id, bank = await institution(client, keys, name="甲银行")
    hook = await subscribe(client, bank, receiver.url("/bank"), "match.new")
    region = await keys.region("440300")
    projects = {
        "futian": (await in_library(client, keys, region, region_code="440304"))["id"],
        "baoan": (await in_library(client, keys, region, region_code="440306"))["id"],
    }
    beijing = await keys.region("110101")
    projects["dongcheng"] = (await in_library(client, keys, beijing, region_code="110101"))["id"]
    later = TOMORROW + timedelta(days=2)

    async def loan(name: str, **fields: Any) -> str:
        return str((await product(client, bank, name=name, **fields))["id"])

    products = {
        "steady": await loan("常年", region_prefixes=["44"]),
        "opening": await loan("明日起", region_prefixes=["44"], valid_from=TOMORROW.isoformat()),
        "opening_beijing": await loan(
            "明日起北京", region_prefixes=["11"], valid_from=TOMORROW.isoformat()
        ),
        "later": await loan("三日后", valid_from=later.isoformat()),
        "one_day": await loan(
            "仅明日", valid_from=TOMORROW.isoformat(), valid_to=TOMORROW.isoformat()
        ),
        "closing": await loan("今日止", valid_to=TODAY.isoformat()),
    }
    await settled(app)
    await app.state.webhook_worker.stop(5)
    w = World(app, client, keys, receiver, bank_id, bank, hook, region, projects, products, set_day)
    await w.worker().day_step()  # today's run, whether or not the app's worker got to it
    # Written today: the products valid today newly match the projects they accept.
    assert w.pairs(await w.deliver()) == sorted(
        [
            ("closing", "dongcheng"),
            ("closing", "futian"),
            ("closing", "baoan"),
            ("steady", "futian"),
            ("steady", "baoan"),
        ]
    )
    yield w
    for worker in w.workers:
        await worker.client.aclose()


async def _match_events(app: FastAPI) -> int:
    async with app.state.sessions() as session:
        found = await session.scalar(select(func.count()).where(WebhookOutbox.type == "match.new"))
    return int(found or 0)


@asynccontextmanager
async def other_process(settings: Settings) -> AsyncIterator[FastAPI]:
    """Another process over the same database (its own engine), its own worker off."""
    other = create_app(settings.model_copy(update={"webhook_worker": False}))
    async with other.router.lifespan_context(other):
        yield other


class TestDayChange:
    async def test_products_starting_tomorrow_are_announced_once_when_tomorrow_comes(
        self, world: World
    ) -> None:
        w = world
        w.set_day(TOMORROW)
        worker = w.worker()
        assert await worker.day_step()
        assert not await worker.day_step()  # once a day
        assert not await w.worker().day_step()  # a restarted process finds the day done
        messages = await w.deliver()
        assert len(messages) == 3  # one event per product, as a product's write makes
        assert w.pairs(messages) == sorted(
            [
                ("one_day", "dongcheng"),
                ("one_day", "futian"),
                ("one_day", "baoan"),
                ("opening", "futian"),
                ("opening", "baoan"),
                ("opening_beijing", "dongcheng"),
            ]
        )
        hook_deliveries = await w.client.get(
            f"/api/v1/webhooks/{w.hook['id']}/deliveries", headers=w.bank
        )
        # The set-up's two events and the day's three, each delivered on its first try.
        items = hook_deliveries.json()["items"]
        assert [(d["status"], d["attempts"]) for d in items] == [("succeeded", 1)] * 5

        # Writes on the new day are compared on it: an edit that changes no match is no news,
        # and a project entering the library is new to the products valid today, once.
        futian = w.projects["futian"]
        current = await w.client.get(f"{PROJECTS}/{futian}", headers=w.region)
        edited = await w.client.patch(
            f"{PROJECTS}/{futian}",
            json={"construction_status": "under_construction"},
            headers={**w.region, "If-Match": current.headers["etag"]},
        )
        assert edited.status_code == 200, edited.text
        nanshan = await in_library(w.client, w.keys, w.region, region_code="440305")
        w.projects["nanshan"] = nanshan["id"]
        assert not await w.worker().day_step()
        assert w.pairs(await w.deliver()) == sorted(
            [
                ("one_day", "nanshan"),
                ("opening", "nanshan"),
                ("steady", "nanshan"),
            ]
        )

        # The next day starts nothing ("one_day" ends: there is no event for a match that
        # goes); the day after it, "later" starts and is new to every project.
        w.set_day(TOMORROW + timedelta(days=1))
        assert await w.worker().day_step()
        assert await w.deliver() == []
        w.set_day(TOMORROW + timedelta(days=2))
        assert await w.worker().day_step()
        assert w.pairs(await w.deliver()) == sorted(
            [
                ("later", "dongcheng"),
                ("later", "futian"),
                ("later", "nanshan"),
                ("later", "baoan"),
            ]
        )

    async def test_days_missed_while_nothing_ran_are_caught_up(self, world: World) -> None:
        w = world
        w.set_day(TOMORROW + timedelta(days=2))
        assert await w.worker().day_step()
        # "one_day" was offered only on a day nobody ran: it matches nothing now.
        assert w.pairs(await w.deliver()) == sorted(
            [
                ("later", "dongcheng"),
                ("later", "futian"),
                ("later", "baoan"),
                ("opening", "futian"),
                ("opening", "baoan"),
                ("opening_beijing", "dongcheng"),
            ]
        )
        w.set_day(TOMORROW)  # a clock that goes back announces nothing again
        assert not await w.worker().day_step()
        assert await w.deliver() == []

    async def test_a_run_that_dies_midway_leaves_the_day_to_the_next(
        self, world: World, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        w = world
        before = await _match_events(w.app)
        enqueue = webhooks_repo.enqueue
        written, hold = asyncio.Event(), asyncio.Event()

        async def enqueue_then_die(session: Any, rows: Any) -> None:
            await enqueue(session, rows)
            written.set()
            await hold.wait()  # killed here: the events are written, not committed

        monkeypatch.setattr(webhooks_repo, "enqueue", enqueue_then_die)
        w.set_day(TOMORROW)
        dying = asyncio.create_task(w.worker().day_step())
        await asyncio.wait_for(written.wait(), 10)
        dying.cancel()
        with pytest.raises(asyncio.CancelledError):
            await dying
        monkeypatch.setattr(webhooks_repo, "enqueue", enqueue)
        assert await _match_events(w.app) == before
        async with w.app.state.sessions() as session:
            assert await webhooks_repo.day_checked(session) == TODAY
        assert await w.worker().day_step()  # the restarted process runs the day
        assert len(w.pairs(await w.deliver())) == 6
        assert await _match_events(w.app) == before + 3

    async def test_two_processes_racing_run_the_day_once(
        self, world: World, settings: Settings, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        w = world
        before = await _match_events(w.app)
        subscribed = webhooks_repo.subscribed_types

        async def slowly(session: Any, now: Any) -> set[str]:
            await asyncio.sleep(0.3)  # the winner holds its claim while the other tries
            return await subscribed(session, now)

        monkeypatch.setattr(webhooks_repo, "subscribed_types", slowly)
        w.set_day(TOMORROW)
        async with other_process(settings) as other:
            first, second = w.worker(), w.worker(other)
            ran = await asyncio.gather(first.day_step(), second.day_step())
            assert sorted(ran) == [False, True]
            assert not await first.day_step() and not await second.day_step()
        assert await _match_events(w.app) == before + 3
        assert len(w.pairs(await w.deliver())) == 6
