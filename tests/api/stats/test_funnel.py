"""The offer funnel in the statistics and pilot evaluations: counts and sums, no personal data."""

from typing import Any

import httpx
from fastapi import FastAPI

from tests.conftest import Keys
from tests.factories import FUTIAN_PILOT, MIYUN_PILOT, institution, library_project, product

TODAY = "2026-11-26"


async def _offer(
    client: httpx.AsyncClient, bank: dict[str, str], project_id: str, product_id: str, amount: str
) -> str:
    response = await client.post(
        "/api/v1/engagements",
        json={
            "project_id": project_id,
            "product_id": product_id,
            "amount": amount,
            "annual_rate": "3.2",
            "tenor_months": 36,
            "message": "offer",
        },
        headers=bank,
    )
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


async def _step(
    client: httpx.AsyncClient, headers: dict[str, str], eid: str, action: str, **extra: Any
) -> None:
    response = await client.post(
        f"/api/v1/engagements/{eid}/transitions", json={"action": action, **extra}, headers=headers
    )
    assert response.status_code == 200, response.text


class TestOfferFunnel:
    async def test_overview_and_pilot_evaluation_count_the_funnel(
        self, client: httpx.AsyncClient, keys: Keys, app: FastAPI
    ) -> None:
        futian_project = await library_project(app)  # 440304, in the Futian pilot
        banks = []
        for name in ("甲银行", "乙银行", "丙银行", "丁银行"):
            _, headers = await institution(client, keys, name=name)
            loan = (await product(client, headers, quota_total="100000000.00"))["id"]
            banks.append((headers, loan))
        region = await keys.region("440304")

        (bank, _), _, (bank_c, _), _ = banks
        financed, declined, dropped, _ = [
            await _offer(client, headers, futian_project, loan, amount)
            for (headers, loan), amount in zip(
                banks, ["3000000.00", "1000000.00", "2000000.00", "500000.00"], strict=True
            )
        ]

        await _step(client, region, financed, "accept")
        await _step(client, bank, financed, "contact")
        await _step(
            client, bank, financed, "financed", amount="2500000.00", annual_rate="3.1", date=TODAY
        )
        await _step(client, region, declined, "decline", reason="rate too high")
        await _step(client, region, dropped, "accept")
        await _step(client, bank_c, dropped, "not_financed", reason_code="credit_risk")

        expected = {
            "offers": 4,
            "accepted": 2,
            "declined": 1,
            "financed": 1,
            "offered_amount": "6500000.00",
            "financed_amount": "2500000.00",
            "signed_amount": "2500000.00",
            "disbursed_amount": "0.00",
            "repaid_amount": "0.00",
            "outstanding_amount": "0.00",
            "not_financed_by_reason": {"credit_risk": 1},
        }
        overview = await client.get("/api/v1/stats/overview")
        assert overview.json()["offers"] == expected
        assert "3.1" not in overview.text  # terms of a deal are not public figures
        futian = await client.get(f"/api/v1/pilots/{FUTIAN_PILOT}/evaluation")
        assert futian.json()["offers"] == expected
        miyun = (await client.get(f"/api/v1/pilots/{MIYUN_PILOT}/evaluation")).json()
        assert miyun["offers"]["offers"] == 0
