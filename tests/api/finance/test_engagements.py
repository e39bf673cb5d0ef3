"""Offers and the funnel: institutions offer on matching library projects, the owner's region
chooses, acceptance reveals the contact and starts a deadline, financing never overshoots."""

import asyncio
import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import httpx
from fastapi import FastAPI
from sqlalchemy import update

from app.models import Engagement
from tests.conftest import Keys
from tests.factories import get_project, institution, library_project, product

BASE = "/api/v1/engagements"
TODAY = datetime.now(UTC).date().isoformat()


async def _offer(
    client: httpx.AsyncClient, bank: dict[str, str], project_id: str, product_id: str, **extra: Any
) -> httpx.Response:
    body = {
        "project_id": project_id,
        "product_id": product_id,
        "amount": "5000000.00",
        "annual_rate": "3.450",
        "tenor_months": 36,
        "message": "可提供三年期绿色贷款",
        **extra,
    }
    return await client.post(BASE, json=body, headers=bank)


async def _step(
    client: httpx.AsyncClient,
    headers: dict[str, str],
    engagement_id: str,
    action: str,
    **extra: Any,
) -> httpx.Response:
    return await client.post(
        f"{BASE}/{engagement_id}/transitions", json={"action": action, **extra}, headers=headers
    )


class TestFunnel:
    async def test_offer_accept_contact_diligence_financed(
        self, client: httpx.AsyncClient, keys: Keys, app: FastAPI
    ) -> None:
        project_id = await library_project(app)
        institution_id, bank = await institution(client, keys)
        prod = await product(client, bank, quota_total="100000000.00")
        region = await keys.region("440304")

        offered = await _offer(client, bank, project_id, prod["id"])
        assert offered.status_code == 201, offered.text
        offer = offered.json()
        before = (await client.get(f"/api/v1/projects/{project_id}", headers=bank)).json()
        assert before.get("contact") is None
        assert offer["status"] == "offered" and offer["amount"] == "5000000.00"
        assert offer["institution_id"] == institution_id and offer["contact"] is None

        seen_by_region = (await client.get(BASE, headers=region)).json()["items"]
        assert [e["id"] for e in seen_by_region] == [offer["id"]]
        assert seen_by_region[0]["contact"]["name"] == "李工"

        accepted = await _step(client, region, offer["id"], "accept")
        assert accepted.status_code == 200
        deadline = datetime.fromisoformat(accepted.json()["contact_deadline"])
        assert timedelta(days=6, hours=23) < deadline - datetime.now(UTC) <= timedelta(days=7)
        mine = (await client.get(f"{BASE}/{offer['id']}", headers=bank)).json()
        assert mine["status"] == "accepted"
        assert mine["contact"] == {"name": "李工", "phone": "13800000000", "email": "li@example.cn"}
        # The project itself now shows the bank its contact, in the read and in the list.
        as_bank = (await client.get(f"/api/v1/projects/{project_id}", headers=bank)).json()
        assert as_bank["contact"] == mine["contact"]
        listed = (await client.get("/api/v1/projects", headers=bank)).json()["items"]
        assert [p["contact"] for p in listed if p["id"] == project_id] == [as_bank["contact"]]
        _, other_bank = await institution(client, keys, name="旁观银行")
        as_other = (await client.get(f"/api/v1/projects/{project_id}", headers=other_bank)).json()
        assert as_other.get("contact") is None

        assert (await _step(client, bank, offer["id"], "contact")).json()["status"] == "contacted"
        assert (await _step(client, bank, offer["id"], "due_diligence")).status_code == 200
        financed = await _step(
            client,
            bank,
            offer["id"],
            "financed",
            amount="4000000.00",
            annual_rate="3.3",
            date=TODAY,
        )
        assert financed.status_code == 200, financed.text
        body = financed.json()
        assert body["status"] == "financed"
        assert body["financed_amount"] == "4000000.00" and body["financed_rate"] == "3.300"
        project = await get_project(app, project_id)
        assert project.financing_secured == Decimal("4000000.00")
        assert project.version == 2
        after = (await client.get(f"/api/v1/products/{prod['id']}")).json()
        assert after["quota_used"] == "4000000.00"
        offers = (await client.get("/api/v1/stats/overview")).json()["offers"]
        assert offers["financed"] == 1
        assert offers["financed_amount"] == "4000000.00"

    async def test_owner_declines_and_competing_offers_stay_side_by_side(
        self, client: httpx.AsyncClient, keys: Keys, app: FastAPI
    ) -> None:
        project_id = await library_project(app)
        _, bank = await institution(client, keys)
        _, other = await institution(client, keys, name="别家银行")
        first = (await _offer(client, bank, project_id, (await product(client, bank))["id"])).json()
        second = (
            await _offer(
                client, other, project_id, (await product(client, other))["id"], annual_rate="3.1"
            )
        ).json()
        region = await keys.region("440304")
        listed = await client.get(BASE, params={"project_id": project_id}, headers=region)
        assert [e["id"] for e in listed.json()["items"]] == [first["id"], second["id"]]
        declined = await _step(client, region, first["id"], "decline", reason="利率偏高")
        assert declined.json()["status"] == "declined"
        assert declined.json()["decline_reason"] == "利率偏高"
        assert (await _step(client, region, second["id"], "accept")).status_code == 200
        # each institution sees only its own offers
        assert [e["id"] for e in (await client.get(BASE, headers=other)).json()["items"]] == [
            second["id"]
        ]
        assert (await client.get(f"{BASE}/{second['id']}", headers=bank)).status_code == 404
        assert (await client.get(BASE, headers=await keys.region("330102"))).json()["items"] == []
        assert (await client.get(BASE)).status_code == 401

    async def test_lapsed_offer_shows_as_lapsed_and_cannot_be_contacted(
        self, client: httpx.AsyncClient, keys: Keys, app: FastAPI
    ) -> None:
        project_id = await library_project(app)
        _, bank = await institution(client, keys)
        offer = (await _offer(client, bank, project_id, (await product(client, bank))["id"])).json()
        region = await keys.region("440304")
        await _step(client, region, offer["id"], "accept")
        async with app.state.sessions.begin() as session:
            await session.execute(
                update(Engagement)
                .where(Engagement.id == uuid.UUID(offer["id"]))
                .values(contact_deadline=datetime.now(UTC) - timedelta(minutes=1))
            )
        seen = (await client.get(f"{BASE}/{offer['id']}", headers=region)).json()
        assert seen["status"] == "lapsed" and seen["is_lapsed"] is True
        late = await _step(client, bank, offer["id"], "contact")
        assert late.status_code == 409
        assert late.json()["allowed_actions"] == ["decline", "not_financed"]
        assert (await _step(client, region, offer["id"], "decline")).status_code == 200

    async def test_not_financed_needs_a_reason_code(
        self, client: httpx.AsyncClient, keys: Keys, app: FastAPI
    ) -> None:
        project_id = await library_project(app)
        _, bank = await institution(client, keys)
        offer = (await _offer(client, bank, project_id, (await product(client, bank))["id"])).json()
        await _step(client, await keys.region("440304"), offer["id"], "accept")
        missing = await _step(client, bank, offer["id"], "not_financed")
        assert missing.status_code == 422
        assert missing.json()["errors"][0]["loc"] == ["body", "reason_code"]
        unknown = await _step(client, bank, offer["id"], "not_financed", reason_code="bored")
        assert unknown.status_code == 422
        done = await _step(client, bank, offer["id"], "not_financed", reason_code="credit_risk")
        assert done.json()["status"] == "not_financed"
        assert done.json()["not_financed_reason"] == "credit_risk"


class TestTransitionRules:
    async def test_wrong_party_gets_403_and_wrong_state_409(
        self, client: httpx.AsyncClient, keys: Keys, app: FastAPI
    ) -> None:
        project_id = await library_project(app)
        _, bank = await institution(client, keys)
        offer = (await _offer(client, bank, project_id, (await product(client, bank))["id"])).json()
        region = await keys.region("440304")
        self_accept = await _step(client, bank, offer["id"], "accept")
        assert self_accept.status_code == 403 and self_accept.json()["code"] == "not_your_action"
        early = await _step(client, region, offer["id"], "contact")
        assert early.status_code == 403
        too_soon = await _step(
            client, bank, offer["id"], "financed", amount="1.00", annual_rate="3", date=TODAY
        )
        assert too_soon.status_code == 409
        assert too_soon.json()["allowed_actions"] == ["accept", "decline"]
        other_region = await _step(client, await keys.region("440106"), offer["id"], "accept")
        assert other_region.status_code == 404
        unknown = await _step(client, region, offer["id"], "approve")
        assert unknown.status_code == 422
        assert (await client.get(f"{BASE}/{offer['id']}", headers=bank)).json()[
            "status"
        ] == "offered"

    async def test_financed_needs_terms_and_no_future_date(
        self, client: httpx.AsyncClient, keys: Keys, app: FastAPI
    ) -> None:
        project_id = await library_project(app)
        _, bank = await institution(client, keys)
        offer = (await _offer(client, bank, project_id, (await product(client, bank))["id"])).json()
        await _step(client, await keys.region("440304"), offer["id"], "accept")
        await _step(client, bank, offer["id"], "contact")
        missing = await _step(client, bank, offer["id"], "financed", amount="1.00")
        assert missing.status_code == 422
        assert {e["loc"][1] for e in missing.json()["errors"]} == {"annual_rate", "date"}
        future = (datetime.now(UTC).date() + timedelta(days=3)).isoformat()
        later = await _step(
            client, bank, offer["id"], "financed", amount="1.00", annual_rate="3", date=future
        )
        assert later.status_code == 422 and later.json()["code"] == "date_in_future"
        assert (await get_project(app, project_id)).financing_secured == Decimal("0.00")


class TestCreateEngagement:
    async def test_offer_on_a_project_the_product_does_not_match_is_422(
        self, client: httpx.AsyncClient, keys: Keys, app: FastAPI
    ) -> None:
        project_id = await library_project(app, region_code="330102")
        _, bank = await institution(client, keys)
        prod = await product(client, bank, region_prefixes=["44"])
        response = await _offer(client, bank, project_id, prod["id"])
        assert response.status_code == 422
        assert response.json()["code"] == "not_eligible"
        assert response.json()["errors"][0]["code"] == "failed_region"
        assert (await client.get(BASE, headers=bank)).json()["items"] == []

    async def test_amount_beyond_the_remaining_need_is_422(
        self, client: httpx.AsyncClient, keys: Keys, app: FastAPI
    ) -> None:
        project_id = await library_project(app)
        _, bank = await institution(client, keys)
        prod = await product(client, bank)
        response = await _offer(client, bank, project_id, prod["id"], amount="10000000.01")
        assert response.status_code == 422 and response.json()["code"] == "amount_exceeds_need"

    async def test_second_open_offer_of_a_product_conflicts(
        self, client: httpx.AsyncClient, keys: Keys, app: FastAPI
    ) -> None:
        project_id = await library_project(app)
        _, bank = await institution(client, keys)
        prod = await product(client, bank)
        assert (await _offer(client, bank, project_id, prod["id"])).status_code == 201
        again = await _offer(client, bank, project_id, prod["id"])
        assert again.status_code == 409 and again.json()["code"] == "offer_exists"

    async def test_only_own_active_products_and_library_projects(
        self, client: httpx.AsyncClient, keys: Keys, app: FastAPI
    ) -> None:
        project_id = await library_project(app)
        draft_project = await library_project(app, status="submitted")
        _, bank = await institution(client, keys)
        _, other = await institution(client, keys, name="别家银行")
        prod = await product(client, bank)
        paused = await product(client, bank, status="draft")
        assert (await _offer(client, other, project_id, prod["id"])).status_code == 403
        assert (await _offer(client, bank, project_id, paused["id"])).status_code == 409
        hidden = await _offer(client, bank, draft_project, prod["id"])
        assert hidden.status_code == 404 and hidden.json()["code"] == "project_not_found"
        region = await keys.region("440304")
        assert (await _offer(client, region, project_id, prod["id"])).status_code == 403


class TestConcurrentFinancing:
    async def _ready(
        self,
        client: httpx.AsyncClient,
        keys: Keys,
        project_id: str,
        bank: dict[str, str],
        prod: str,
    ) -> str:
        offer = (await _offer(client, bank, project_id, prod, amount="6000000.00")).json()
        await _step(client, await keys.region("440304"), offer["id"], "accept")
        await _step(client, bank, offer["id"], "contact")
        return str(offer["id"])

    async def test_two_institutions_financing_at_once_never_exceed_the_need(
        self, client: httpx.AsyncClient, keys: Keys, app: FastAPI
    ) -> None:
        project_id = await library_project(app)  # need 10,000,000
        _, bank = await institution(client, keys)
        _, other = await institution(client, keys, name="别家银行")
        first = await self._ready(
            client, keys, project_id, bank, (await product(client, bank))["id"]
        )
        second = await self._ready(
            client, keys, project_id, other, (await product(client, other))["id"]
        )
        terms = {"amount": "6000000.00", "annual_rate": "3.2", "date": TODAY}
        answers = await asyncio.gather(
            _step(client, bank, first, "financed", **terms),
            _step(client, other, second, "financed", **terms),
        )
        assert sorted(a.status_code for a in answers) == [200, 422]
        loser = next(a for a in answers if a.status_code == 422)
        assert loser.json()["code"] == "exceeds_financing_need"  # a signed amount above the need
        assert (await get_project(app, project_id)).financing_secured == Decimal("6000000.00")
        statuses = sorted(
            [
                (await client.get(f"{BASE}/{first}", headers=bank)).json()["status"],
                (await client.get(f"{BASE}/{second}", headers=other)).json()["status"],
            ]
        )
        assert statuses == ["contacted", "financed"]

    async def test_one_product_financing_two_projects_at_once_never_exceeds_its_quota(
        self, client: httpx.AsyncClient, keys: Keys, app: FastAPI
    ) -> None:
        one = await library_project(app)
        two = await library_project(app)
        _, bank = await institution(client, keys)
        prod = (await product(client, bank, quota_total="10000000.00"))["id"]
        first = await self._ready(client, keys, one, bank, prod)
        second = await self._ready(client, keys, two, bank, prod)
        terms = {"amount": "6000000.00", "annual_rate": "3.2", "date": TODAY}
        answers = await asyncio.gather(
            _step(client, bank, first, "financed", **terms),
            _step(client, bank, second, "financed", **terms),
        )
        assert sorted(a.status_code for a in answers) == [200, 409]
        assert next(a for a in answers if a.status_code == 409).json()["code"] == "exceeds_quota"
        secured = sorted(
            [
                (await get_project(app, one)).financing_secured,
                (await get_project(app, two)).financing_secured,
            ]
        )
        assert secured == [Decimal("0.00"), Decimal("6000000.00")]
        assert (await client.get(f"/api/v1/products/{prod}")).json()["quota_used"] == "6000000.00"
