"""Matching as the day moves: a product whose validity starts or ends scores a pair the same on
every view of it (a project's ranked products, the product's ranked projects, the pair's
explanation, and a process that re-matched afresh that day), whichever day the cache was
filled on. Nothing is written when the day rolls over, so the matcher's memory alone must
notice it."""

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from app.config import Settings
from app.main import create_app
from tests.conftest import Keys
from tests.factories import institution, library_project, product

TODAY = datetime.now(UTC).date()
TOMORROW = TODAY + timedelta(days=1)


@asynccontextmanager
async def process(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    """Another process over the same database: its startup re-matches everything afresh, on
    the day the clock says then."""
    other = create_app(settings)
    async with other.router.lifespan_context(other):
        transport = httpx.ASGITransport(app=other)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
            yield http


async def _setup(client: httpx.AsyncClient, keys: Keys, app: FastAPI) -> dict[str, Any]:
    # Two library projects a nationwide green loan accepts: "strong" has 2.5× the tonnes per
    # 10,000 CNY of remaining need of "weak", so weak's climate points depend on the best.
    weak = await library_project(app, name="weak")
    strong = await library_project(
        app,
        name="strong",
        region_code="440106",
        financing_need="20000000.00",
        annual_emission_reduction_tco2e=5000.0,
    )
    _, bank = await institution(client, keys)
    products = {
        "steady": await product(client, bank, name="常年"),
        "opening": await product(client, bank, name="明日起", valid_from=TOMORROW.isoformat()),
        "closing": await product(client, bank, name="今日止", valid_to=TODAY.isoformat()),
    }
    return {
        "weak": weak,
        "strong": strong,
        "bank": bank,
        "reviewer": await keys.reviewer("44"),
        "products": {name: p["id"] for name, p in products.items()},
    }


async def _ranked(
    http: httpx.AsyncClient, path: str, headers: dict[str, str], key: str
) -> dict[str, dict[str, Any]]:
    """A ranked page's items by the id of what they rank (``key``)."""
    response = await http.get(path, headers=headers)
    assert response.status_code == 200, response.text
    return {item[key]: item for item in response.json()["items"]}


async def _explained(
    http: httpx.AsyncClient, s: dict[str, Any], project: str, product_id: str
) -> dict[str, Any]:
    response = await http.get(
        "/api/v1/matches/explain",
        params={"project_id": project, "product_id": product_id},
        headers=s["bank"],
    )
    assert response.status_code == 200, response.text
    return dict(response.json())


def _climate(item: dict[str, Any]) -> dict[str, Any]:
    return next(i for i in item["explanation"] if i["criterion"] == "climate_benefit")


async def _agree(
    http: httpx.AsyncClient, s: dict[str, Any], offered: set[str]
) -> dict[str, dict[str, dict[str, Any]]]:
    """Every view of every pair agrees on ``http``; ``offered`` names the products valid today.
    Returns each project's ranked products."""
    by_project = {
        p: await _ranked(http, f"/api/v1/projects/{s[p]}/matches", s["reviewer"], "product_id")
        for p in ("weak", "strong")
    }
    for name, product_id in s["products"].items():
        listed = await _ranked(
            http, f"/api/v1/products/{product_id}/matches", s["bank"], "project_id"
        )
        for p, products in by_project.items():
            explained = await _explained(http, s, s[p], product_id)
            if name not in offered:
                assert product_id not in products, (name, p)
                assert listed == {}, name
                assert explained["eligible"] is False and explained["score"] is None
                continue
            mine, theirs = products[product_id], listed[s[p]]
            assert mine["score"] == theirs["score"] == explained["score"], (name, p)
            assert mine["explanation"] == theirs["explanation"] == explained["explanation"]
    return by_project


@dataclass
class World:
    """The first process's client, the pairs set up on it, its settings and the clock."""

    client: httpx.AsyncClient
    s: dict[str, Any]
    settings: Settings
    set_day: Callable[[date], None]


@pytest.fixture
async def world(
    client: httpx.AsyncClient,
    keys: Keys,
    app: FastAPI,
    settings: Settings,
    set_day: Callable[[date], None],
) -> World:
    return World(client, await _setup(client, keys, app), settings, set_day)


class TestValidityAcrossDays:
    async def test_a_rematch_the_day_before_does_not_decide_todays_scores(
        self, world: World
    ) -> None:
        s = world.s
        opening = s["products"]["opening"]
        # a process that re-matched everything today, before "opening" is offered
        async with process(world.settings) as rematched:
            today = await _agree(rematched, s, {"steady", "closing"})
            # weak: 40 · (1 / 2.5) climate + 20 amount + 10 readiness, on every product
            assert today["weak"][s["products"]["steady"]]["score"] == 46.0
            world.set_day(TOMORROW)
            tomorrow = await _agree(rematched, s, {"steady", "opening"})
            assert tomorrow["weak"][opening]["score"] == 46.0
            assert tomorrow["strong"][opening]["score"] == 70.0
            assert "against the best 2.5 " in _climate(tomorrow["weak"][opening])["detail"]
            # a process re-matching afresh tomorrow gives the same pages
            async with process(world.settings) as fresh:
                assert await _agree(fresh, s, {"steady", "opening"}) == tomorrow

    async def test_pages_asked_on_either_day_agree(self, world: World) -> None:
        # The cache filled by the requests themselves (no re-match since the writes).
        await _agree(world.client, world.s, {"steady", "closing"})
        world.set_day(TOMORROW)
        tomorrow = await _agree(world.client, world.s, {"steady", "opening"})
        async with process(world.settings) as fresh:
            assert await _agree(fresh, world.s, {"steady", "opening"}) == tomorrow

    async def test_a_rematch_on_a_later_day_sees_the_product_again_if_the_clock_goes_back(
        self, world: World
    ) -> None:
        # Re-matched tomorrow ("closing" no longer offered), then asked about today: the memo
        # of a day must not stand for another one in either direction.
        world.set_day(TOMORROW)
        async with process(world.settings) as rematched:
            await _agree(rematched, world.s, {"steady", "opening"})
            world.set_day(TODAY)
            await _agree(rematched, world.s, {"steady", "closing"})
