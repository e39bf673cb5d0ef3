"""Migration 0005 loads the first batch with stable ids, and its downgrade removes exactly them."""

import asyncio

import httpx
from alembic import command
from fastapi import FastAPI
from sqlalchemy import select

from app.migrate import alembic_config
from app.models.pilot import Pilot
from tests.conftest import Keys
from tests.factories import FUTIAN_PILOT, LIANGJIANG_PILOT

BASE = "/api/v1/pilots"


async def pilot_ids(client: httpx.AsyncClient) -> set[str]:
    page = (await client.get(BASE, params={"limit": 200})).json()
    return {p["id"] for p in page["items"]}


async def stored_pilot_ids(app: FastAPI) -> set[str]:
    """The pilots' ids read from the table, whose columns no revision has changed (the API
    needs the codes' columns of the newest revision)."""
    async with app.state.sessions() as session:
        return {str(pilot_id) for pilot_id in await session.scalars(select(Pilot.id))}


class TestFirstBatchMigration:
    async def test_downgrade_removes_the_first_batch_only_and_upgrade_restores_the_same_ids(
        self, client: httpx.AsyncClient, keys: Keys, database_url: str, app: FastAPI
    ) -> None:
        admin = await keys.admin()
        first_batch = await pilot_ids(client)
        assert len(first_batch) == 23
        assert {FUTIAN_PILOT, LIANGJIANG_PILOT} <= first_batch
        await client.post(
            f"{BASE}/{FUTIAN_PILOT}/transitions",
            json={"action": "accept", "reason": "验收合格"},
            headers=admin,
        )
        created = await client.post(
            BASE,
            json={"name": "某新区", "kind": "national_new_area", "province": "44",
                  "regions": [{"code": "440305"}], "batch": 2},
            headers=admin,
        )  # fmt: skip
        assert created.status_code == 201

        config = alembic_config(database_url)
        # alembic's env runs its own event loop, so it runs in a thread of its own.
        await asyncio.to_thread(command.downgrade, config, "0004")
        assert await stored_pilot_ids(app) == {created.json()["id"]}

        await asyncio.to_thread(command.upgrade, config, "head")
        assert await pilot_ids(client) == first_batch | {created.json()["id"]}
        futian = (await client.get(f"{BASE}/{FUTIAN_PILOT}")).json()
        assert futian["status"] == "approved"
        assert [r["code"] for r in futian["regions"]] == ["440304"]
