"""The public overview is served from figures kept current (docs/architecture.md,
*Statistics* and *Speed and freshness targets*).

Each write that moves a public figure (a project entering or leaving the library, an offer, a
payment, a pilot) shows in the anonymous overview of a GET that starts one second after the
write's answer, and the kept figures are exactly what computing them on demand gives. Concurrent
readers after a change share one recomputation.
"""

import asyncio
from datetime import UTC, datetime
from typing import Any

import httpx
from fastapi import FastAPI

from app.auth import ANONYMOUS
from app.schemas.stats import Period
from app.services import stats
from tests.conftest import Keys
from tests.factories import in_library, institution, move_project, product, project_payload

URL = "/api/v1/stats/overview"
TODAY = datetime.now(UTC).date().isoformat()


async def _public(client: httpx.AsyncClient, **params: str) -> dict[str, Any]:
    response = await client.get(URL, params=params)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/json"
    body: dict[str, Any] = response.json()
    return body


async def _on_demand(app: FastAPI, period: Period = Period.year) -> dict[str, Any]:
    """The public figures computed afresh, bypassing what the process keeps."""
    async with app.state.sessions() as session:
        value = await stats.compute_overview(session, ANONYMOUS, period)
    body: dict[str, Any] = value.model_dump(mode="json")
    return body


async def _after_a_second(client: httpx.AsyncClient, **params: str) -> dict[str, Any]:
    await asyncio.sleep(1.0)
    return await _public(client, **params)


class TestKeptFigures:
    async def test_each_kind_of_write_shows_a_second_later_and_matches_the_computed_figures(
        self, app: FastAPI, client: httpx.AsyncClient, keys: Keys
    ) -> None:
        region = await keys.region("440304")
        before = await _public(client)
        assert before == await _on_demand(app)
        assert before["totals"]["projects"] == 0

        # A project enters the library.
        entered = await in_library(client, keys, region, financing_need="6000000.00")
        after = await _after_a_second(client)
        assert after["totals"]["projects"] == 1
        assert after["totals"]["financing_need"] == "6000000.00"
        assert after == await _on_demand(app)

        # An offer on it, signed, and a disbursement: the offer funnel moves.
        _, bank = await institution(client, keys)
        loan = await product(client, bank)
        offer = await client.post(
            "/api/v1/engagements",
            json={
                "project_id": entered["id"],
                "product_id": loan["id"],
                "amount": "2000000.00",
                "annual_rate": "3.2",
                "tenor_months": 36,
            },
            headers=bank,
        )
        assert offer.status_code == 201, offer.text
        after = await _after_a_second(client)
        assert after["offers"]["offers"] == 1
        assert after["offers"]["offered_amount"] == "2000000.00"
        steps = "/api/v1/engagements/{}/transitions".format(offer.json()["id"])
        for body, headers in (
            ({"action": "accept"}, region),
            ({"action": "contact"}, bank),
            (
                {"action": "financed", "amount": "1500000.00", "annual_rate": "3.1", "date": TODAY},
                bank,
            ),
        ):
            answer = await client.post(steps, json=body, headers=headers)
            assert answer.status_code == 200, answer.text
        paid = await client.post(
            "/api/v1/engagements/{}/disbursements".format(offer.json()["id"]),
            json={"amount": "1000000.00", "date": TODAY},
            headers=bank,
        )
        assert paid.status_code == 201, paid.text
        after = await _after_a_second(client)
        assert after["offers"]["financed"] == 1
        assert after["offers"]["disbursed_amount"] == "1000000.00"
        assert after["offers"]["outstanding_amount"] == "1000000.00"
        assert after == await _on_demand(app)

        # It exits as cancelled: still counted, its benefits no longer.
        await move_project(client, region, entered, "exit", reason_code="cancelled")
        after = await _after_a_second(client)
        assert {g["key"]: g["projects"] for g in after["by_status"]} == {"exited": 1}
        assert after["totals"]["benefit_projects"] == 0
        assert after == await _on_demand(app)

        # A pilot is registered: by_pilot lists it.
        pilot = await client.post(
            "/api/v1/pilots",
            json={
                "name": "广东省深圳市南山区",
                "kind": "district",
                "province": "44",
                "regions": [{"code": "440305"}],
                "batch": 2,
            },
            headers=await keys.admin(),
        )
        assert pilot.status_code == 201, pilot.text
        after = await _after_a_second(client)
        assert pilot.json()["id"] in {g["key"] for g in after["by_pilot"]}
        assert after == await _on_demand(app)

        # Every period is kept apart and is as computed.
        quarterly = await _public(client, period="quarter")
        assert quarterly == await _on_demand(app, Period.quarter)

    async def test_every_public_caller_gets_the_same_figures_and_keys_that_see_more_their_own(
        self, client: httpx.AsyncClient, keys: Keys
    ) -> None:
        region = await keys.region("440304")
        await in_library(client, keys, region)
        draft = await client.post("/api/v1/projects", json=project_payload(), headers=region)
        assert draft.status_code == 201, draft.text
        anonymous = await _public(client)
        _, bank = await institution(client, keys)
        as_bank = await client.get(URL, headers=bank)
        assert as_bank.status_code == 200
        assert as_bank.json() == anonymous
        as_admin = await client.get(URL, headers=await keys.admin())
        assert as_admin.json()["coverage"] == "all"
        assert as_admin.json()["totals"]["projects"] == 2  # the draft too, computed on demand
        assert anonymous["totals"]["projects"] == 1

    async def test_concurrent_readers_after_a_change_share_one_recomputation(
        self, app: FastAPI, client: httpx.AsyncClient, keys: Keys
    ) -> None:
        region = await keys.region("440304")
        await _public(client)
        async with app.state.sessions() as session:
            kept = stats.public_figures(session)
        before = kept.recomputed
        # Nothing changed: answered from the kept figures.
        await asyncio.gather(*(_public(client) for _ in range(8)))
        assert kept.recomputed == before

        await in_library(client, keys, region)
        # A second on, the kept figures are too old to answer while another request recomputes.
        await asyncio.sleep(1.0)
        answers = await asyncio.gather(*(_public(client) for _ in range(32)))
        assert kept.recomputed == before + 1
        assert all(answer["totals"]["projects"] == 1 for answer in answers)
