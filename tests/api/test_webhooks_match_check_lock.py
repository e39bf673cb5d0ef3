"""A write-driven match check brings the matching snapshot up to date before it takes the write
lock: on SQLite a rebuild or a large patch of the snapshot would otherwise hold the database's
one write lock, and every other writer with it. The snapshot's update is made slow here, and
another region's create must still answer in a fraction of it; the check's ``match.new`` still
arrives. On PostgreSQL writers of different rows never wait for each other; it runs there too.
"""

import asyncio
import time
from typing import Any

import pytest

from app.services.matching import store
from tests.api.test_slow_work_outside_write_lock import BOUND_S, SLOW_S, timed_create
from tests.api.test_webhooks import receiver, settings
from tests.api.test_webhooks_days import World, world
from tests.factories import product

__all__ = ["receiver", "settings", "world"]  # fixtures of the webhook tests, used here too


async def test_a_slow_snapshot_update_does_not_hold_up_other_writers(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    other = await world.keys.region("110118")
    await timed_create(world.client, other)  # warm: first-request costs are not the lock's
    started = asyncio.Event()
    patched = store.MatchingStore._patched

    async def slow_patch(self: store.MatchingStore, *args: Any) -> store.Snapshot:
        started.set()
        await asyncio.sleep(SLOW_S)
        return await patched(self, *args)

    monkeypatch.setattr(store.MatchingStore, "_patched", slow_patch)
    # A new product: its match check needs the snapshot with the product in it.
    fresh = await product(world.client, world.bank, name="新贷", region_prefixes=["44"])
    worker = world.worker()
    fanning = asyncio.create_task(worker.fan_out())
    await asyncio.wait_for(started.wait(), 10)
    began = time.monotonic()
    took = await timed_create(world.client, other)
    assert took < BOUND_S, f"a create waited {took:.2f} s behind the snapshot's update"
    assert time.monotonic() - began < BOUND_S
    assert await fanning
    world.products["fresh"] = str(fresh["id"])
    assert world.pairs(await world.deliver()) == [("fresh", "baoan"), ("fresh", "futian")]
