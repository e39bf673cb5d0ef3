"""Disbursements (放款) and repayments under a signed contract: the offering institution records
them on a financed engagement; disbursed ≤ signed, repaid ≤ disbursed; the engagement shows
signed, disbursed, repaid and outstanding."""

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from fastapi import FastAPI

from tests.conftest import Keys
from tests.factories import institution, library_project, product

BASE = "/api/v1/engagements"
TODAY = datetime.now(UTC).date()


async def _ok(response: httpx.Response, status: int = 200) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body: dict[str, Any] = response.json()
    return body


async def _offer(
    client: httpx.AsyncClient, keys: Keys, app: FastAPI
) -> tuple[dict[str, Any], dict[str, str], dict[str, str]]:
    """An accepted and contacted offer of 6,000,000.00 on a project needing 10,000,000.00."""
    project_id = await library_project(app)
    _, bank = await institution(client, keys)
    loan = await product(client, bank)
    region = await keys.region("440304")
    offer = await _ok(
        await client.post(
            BASE,
            json={
                "project_id": project_id,
                "product_id": loan["id"],
                "amount": "6000000.00",
                "annual_rate": "3.2",
                "tenor_months": 36,
            },
            headers=bank,
        ),
        201,
    )
    steps = f"{BASE}/{offer['id']}/transitions"
    await _ok(await client.post(steps, json={"action": "accept"}, headers=region))
    await _ok(await client.post(steps, json={"action": "contact"}, headers=bank))
    return offer, bank, region


async def _sign(client: httpx.AsyncClient, bank: dict[str, str], offer: dict[str, Any]) -> None:
    body = {
        "action": "financed",
        "amount": "5000000.00",
        "annual_rate": "3.1",
        "date": (TODAY - timedelta(days=10)).isoformat(),
    }
    await _ok(await client.post(f"{BASE}/{offer['id']}/transitions", json=body, headers=bank))


def _pay(amount: str, kind: str | None = None, days_ago: int = 0) -> dict[str, Any]:
    body = {"amount": amount, "date": (TODAY - timedelta(days=days_ago)).isoformat()}
    return body if kind is None else {**body, "kind": kind}


class TestDisbursements:
    async def test_signed_disbursed_repaid_outstanding(
        self, client: httpx.AsyncClient, keys: Keys, app: FastAPI
    ) -> None:
        offer, bank, region = await _offer(client, keys, app)
        await _sign(client, bank, offer)
        url = f"{BASE}/{offer['id']}/disbursements"
        first = await client.post(url, json=_pay("3000000.00", days_ago=5), headers=bank)
        created = await _ok(first, 201)
        assert first.headers["location"] == f"{url}/{created['id']}"
        assert created["kind"] == "disbursement" and created["amount"] == "3000000.00"
        await _ok(await client.post(url, json=_pay("1999999.90"), headers=bank), 201)
        await _ok(await client.post(url, json=_pay("500000.05", "repayment"), headers=bank), 201)

        engagement = await _ok(await client.get(f"{BASE}/{offer['id']}", headers=region))
        assert engagement["signed_amount"] == "5000000.00"
        assert engagement["disbursed_amount"] == "4999999.90"
        assert engagement["repaid_amount"] == "500000.05"
        assert engagement["outstanding_amount"] == "4499999.85"
        listed = await _ok(await client.get(BASE, headers=bank))
        assert listed["items"][0]["outstanding_amount"] == "4499999.85"

        payments = await _ok(await client.get(url, headers=region))
        assert [(p["kind"], p["amount"]) for p in payments["items"]] == [
            ("disbursement", "3000000.00"),
            ("disbursement", "1999999.90"),
            ("repayment", "500000.05"),
        ]
        one = await _ok(await client.get(f"{url}/{created['id']}", headers=bank))
        assert one["date"] == (TODAY - timedelta(days=5)).isoformat()

        stats = (await client.get("/api/v1/stats/overview")).json()["offers"]
        assert (stats["signed_amount"], stats["disbursed_amount"]) == ("5000000.00", "4999999.90")
        assert (stats["repaid_amount"], stats["outstanding_amount"]) == ("500000.05", "4499999.85")

    async def test_never_above_the_signed_amount_nor_repaid_above_disbursed(
        self, client: httpx.AsyncClient, keys: Keys, app: FastAPI
    ) -> None:
        offer, bank, _ = await _offer(client, keys, app)
        await _sign(client, bank, offer)
        url = f"{BASE}/{offer['id']}/disbursements"
        over = await client.post(url, json=_pay("5000000.01"), headers=bank)
        assert over.status_code == 422 and over.json()["code"] == "exceeds_signed_amount"
        assert over.headers["content-type"] == "application/problem+json"
        await _ok(await client.post(url, json=_pay("4000000.00"), headers=bank), 201)
        over = await client.post(url, json=_pay("1000000.01"), headers=bank)
        assert over.status_code == 422 and over.json()["code"] == "exceeds_signed_amount"
        early = await client.post(url, json=_pay("4000000.01", "repayment"), headers=bank)
        assert early.status_code == 422 and early.json()["code"] == "exceeds_disbursed_amount"
        future = await client.post(url, json=_pay("1.00", days_ago=-1), headers=bank)
        assert future.status_code == 422 and future.json()["code"] == "date_in_future"
        before = await client.post(url, json=_pay("1.00", days_ago=11), headers=bank)
        assert before.status_code == 422 and before.json()["code"] == "date_before_signing"
        for bad in ({"amount": "0.00", "date": TODAY.isoformat()}, {"amount": "1.00"}):
            assert (await client.post(url, json=bad, headers=bank)).status_code == 422
        # Nothing refused was stored; the rest fits exactly.
        await _ok(await client.post(url, json=_pay("1000000.00"), headers=bank), 201)
        engagement = await _ok(await client.get(f"{BASE}/{offer['id']}", headers=bank))
        assert engagement["disbursed_amount"] == "5000000.00"
        assert len((await _ok(await client.get(url, headers=bank)))["items"]) == 2

    async def test_only_on_a_financed_engagement_by_the_offering_institution(
        self, client: httpx.AsyncClient, keys: Keys, app: FastAPI
    ) -> None:
        offer, bank, region = await _offer(client, keys, app)
        url = f"{BASE}/{offer['id']}/disbursements"
        unsigned = await client.post(url, json=_pay("1.00"), headers=bank)
        assert unsigned.status_code == 409
        assert unsigned.json()["code"] == "engagement_not_financed"
        await _sign(client, bank, offer)
        by_region = await client.post(url, json=_pay("1.00"), headers=region)
        assert by_region.status_code == 403
        _, other = await institution(client, keys, name="别家银行")
        assert (await client.post(url, json=_pay("1.00"), headers=other)).status_code == 404
        assert (await client.get(url, headers=other)).status_code == 404
        assert (await client.post(url, json=_pay("1.00"))).status_code == 401
        assert (await client.get(url)).status_code == 401
        assert (await _ok(await client.get(url, headers=bank)))["items"] == []


class TestSignedAmount:
    async def test_above_the_remaining_need_is_422(
        self, client: httpx.AsyncClient, keys: Keys, app: FastAPI
    ) -> None:
        offer, bank, _ = await _offer(client, keys, app)  # the project needs 10,000,000.00
        body = {
            "action": "financed",
            "amount": "10000000.01",
            "annual_rate": "3.1",
            "date": TODAY.isoformat(),
        }
        response = await client.post(f"{BASE}/{offer['id']}/transitions", json=body, headers=bank)
        assert response.status_code == 422
        assert response.json()["code"] == "exceeds_financing_need"
        engagement = await _ok(await client.get(f"{BASE}/{offer['id']}", headers=bank))
        assert engagement["status"] == "contacted" and engagement["signed_amount"] is None


class TestConcurrentDisbursements:
    async def test_two_at_once_never_exceed_the_signed_amount(
        self, client: httpx.AsyncClient, keys: Keys, app: FastAPI
    ) -> None:
        offer, bank, _ = await _offer(client, keys, app)
        await _sign(client, bank, offer)  # 5,000,000.00 signed
        url = f"{BASE}/{offer['id']}/disbursements"
        answers = await asyncio.gather(
            client.post(url, json=_pay("3000000.00"), headers=bank),
            client.post(url, json=_pay("3000000.00"), headers=bank),
        )
        assert sorted(a.status_code for a in answers) == [201, 422]
        loser = next(a for a in answers if a.status_code == 422)
        assert loser.json()["code"] == "exceeds_signed_amount"
        engagement = await _ok(await client.get(f"{BASE}/{offer['id']}", headers=bank))
        assert engagement["disbursed_amount"] == "3000000.00"
