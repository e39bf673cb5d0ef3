"""What each figure means (docs/architecture.md, *Statistics*), with figures computed by hand.

Three projects enter the library through the API: one stays, one exits ``completed`` after a
bank signed, disbursed and was partly repaid, one exits ``cancelled``. The public's overview
counts all three once, splits them by status and exit reason, attributes each to its primary
category (mentions apart), leaves the cancelled project out of the benefit sums, writes every
decimal as an exact string (0.1 + 0.2 tCO2e is "0.300", not 0.30000000000000004), and tells the
offers, the signed contract, the money disbursed, repaid and outstanding apart.
"""

import itertools
from datetime import UTC, datetime
from typing import Any

import httpx

from tests.conftest import Keys
from tests.factories import institution, move_project, product, project_in

URL = "/api/v1/stats/overview"
TODAY = datetime.now(UTC).date().isoformat()


def by_key(groups: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {g["key"]: g for g in groups}


async def _ok(response: httpx.Response, status: int = 200) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body: dict[str, Any] = response.json()
    return body


async def _library(client: httpx.AsyncClient, keys: Keys) -> dict[str, dict[str, Any]]:
    region = await keys.region("440304")
    staying = await project_in(
        client,
        keys,
        "in_library",
        region,
        name="留在库中",
        categories=["M2"],
        total_investment="10000000.00",
        financing_need="6000000.00",
        annual_emission_reduction_tco2e=0.1,
        annual_energy_saving_tce=0.1,
    )
    completed = await project_in(
        client,
        keys,
        "in_library",
        region,
        name="已完成",
        objective="both",
        categories=["M3", "A1"],
        primary_category="A1",
        total_investment="5000000.00",
        financing_need="4000000.00",
        annual_emission_reduction_tco2e=0.2,
        annual_energy_saving_tce=0.2,
        adaptation_beneficiaries=1200,
        adaptation_benefit="城市内涝防治。",
    )
    cancelled = await project_in(
        client,
        keys,
        "in_library",
        region,
        name="已取消",
        categories=["M2"],
        total_investment="2000000.00",
        financing_need="2000000.00",
        annual_emission_reduction_tco2e=1000.7,
        annual_energy_saving_tce=5.0,
    )
    await project_in(client, keys, "draft", region, name="草稿", financing_need="900000.00")

    # A bank offers 2,000,000.00 on the completed project, signs 1,500,000.00, pays out
    # 1,000,000.00 and is repaid 250,000.00.
    _, bank = await institution(client, keys)
    loan = await product(client, bank)
    offer = await _ok(
        await client.post(
            "/api/v1/engagements",
            json={
                "project_id": completed["id"],
                "product_id": loan["id"],
                "amount": "2000000.00",
                "annual_rate": "3.2",
                "tenor_months": 36,
            },
            headers=bank,
        ),
        201,
    )
    steps = "/api/v1/engagements/{}/transitions".format(offer["id"])
    await _ok(await client.post(steps, json={"action": "accept"}, headers=region))
    await _ok(await client.post(steps, json={"action": "contact"}, headers=bank))
    signed = {"action": "financed", "amount": "1500000.00", "annual_rate": "3.1", "date": TODAY}
    await _ok(await client.post(steps, json=signed, headers=bank))
    payments = "/api/v1/engagements/{}/disbursements".format(offer["id"])
    await _ok(
        await client.post(payments, json={"amount": "1000000.00", "date": TODAY}, headers=bank),
        201,
    )
    repaid = {"amount": "250000.00", "date": TODAY, "kind": "repayment"}
    await _ok(await client.post(payments, json=repaid, headers=bank), 201)

    completed = await move_project(client, region, completed, "exit", reason_code="completed")
    cancelled = await move_project(client, region, cancelled, "exit", reason_code="cancelled")
    return {"staying": staying, "completed": completed, "cancelled": cancelled}


class TestFiguresOfTheLibrary:
    async def test_public_figures_count_every_project_that_entered_the_library_once(
        self, client: httpx.AsyncClient, keys: Keys
    ) -> None:
        await _library(client, keys)
        response = await client.get(URL)
        body = await _ok(response)
        assert body["coverage"] == "library"
        assert body["totals"] == {
            "projects": 3,
            "total_investment": "17000000.00",
            "financing_need": "12000000.00",
            "financing_secured": "1500000.00",  # the signed contract raised the project's
            "benefit_projects": 2,  # the cancelled project's benefits never happened
            "annual_emission_reduction_tco2e": "0.300",  # 0.1 + 0.2, exactly
            "annual_carbon_sink_tco2e": "0.000",
            "annual_energy_saving_tce": "0.300",
            # no monitoring report verified yet (tests/api/results/test_monitoring.py)
            "verified_projects": 0,
            "verified_emission_reduction_tco2e": "0.000",
            "verified_carbon_sink_tco2e": "0.000",
            "verified_energy_saving_tce": "0.000",
            "verified_credited_tco2e": "0.000",
        }
        assert "0.30000000000000004" not in response.text

        statuses = by_key(body["by_status"])
        assert {k: g["projects"] for k, g in statuses.items()} == {"exited": 2, "in_library": 1}
        assert statuses["exited"]["total_investment"] == "7000000.00"
        assert statuses["exited"]["annual_emission_reduction_tco2e"] == "0.200"
        exits = by_key(body["by_exit_reason"])
        assert {k: g["projects"] for k, g in exits.items()} == {"cancelled": 1, "completed": 1}
        assert exits["cancelled"]["total_investment"] == "2000000.00"  # still counted...
        assert exits["cancelled"]["benefit_projects"] == 0  # ...but not its benefits
        assert exits["cancelled"]["annual_emission_reduction_tco2e"] == "0.000"
        assert exits["cancelled"]["annual_energy_saving_tce"] == "0.000"

        # Each project once under its primary category; the totals add up.
        primary = by_key(body["by_category"])
        assert {k: g["projects"] for k, g in primary.items() if g["projects"]} == {
            "M2": 2,
            "A1": 1,  # stated primary, though M3 comes first in the taxonomy
        }
        assert sum(g["projects"] for g in body["by_category"]) == 3
        assert primary["A1"]["total_investment"] == "5000000.00"
        assert primary["M3"]["projects"] == 0
        mentions = by_key(body["category_mentions"])
        assert {k: g["projects"] for k, g in mentions.items() if g["projects"]} == {
            "M2": 2,
            "M3": 1,
            "A1": 1,
        }
        assert mentions["M3"]["total_investment"] == "5000000.00"

        assert body["offers"] == {
            "offers": 1,
            "accepted": 1,
            "declined": 0,
            "financed": 1,
            "offered_amount": "2000000.00",
            "signed_amount": "1500000.00",
            "financed_amount": "1500000.00",
            "disbursed_amount": "1000000.00",
            "repaid_amount": "250000.00",
            "outstanding_amount": "750000.00",
            "not_financed_by_reason": {},
        }
        for secret in ("留在库中", "已完成", "已取消", "Li Ming", "li@example.cn"):
            assert secret not in response.text

    async def test_admin_sees_the_draft_too_in_the_split(
        self, client: httpx.AsyncClient, keys: Keys
    ) -> None:
        await _library(client, keys)
        body = await _ok(await client.get(URL, headers=await keys.admin()))
        assert {k: g["projects"] for k, g in by_key(body["by_status"]).items()} == {
            "draft": 1,
            "exited": 2,
            "in_library": 1,
        }
        assert body["totals"]["projects"] == 4
        assert body["totals"]["annual_emission_reduction_tco2e"] == "8200.800"  # + the draft's

    async def test_pilot_evaluation_counts_exited_projects(
        self, client: httpx.AsyncClient, keys: Keys
    ) -> None:
        await _library(client, keys)
        futian = "14d3bc32-b20a-5c9e-8f8f-8b51a839339c"
        body = await _ok(await client.get(f"/api/v1/pilots/{futian}/evaluation"))
        assert body["totals"]["projects"] == 3
        assert body["totals"]["annual_emission_reduction_tco2e"] == "0.300"
        assert {g["key"]: g["projects"] for g in body["by_status"]} == {
            "exited": 2,
            "in_library": 1,
        }
        assert body["offers"]["outstanding_amount"] == "750000.00"

    async def test_float_sums_stay_exact(self, client: httpx.AsyncClient, keys: Keys) -> None:
        region = await keys.region("440304")
        # As floats these add up to 1226969.4000000001 in any order.
        values = (1226969.1, 0.1, 0.2)
        for value in values:
            await project_in(
                client, keys, "in_library", region, annual_emission_reduction_tco2e=value
            )
        assert {repr(a + b + c) for a, b, c in itertools.permutations(values)} == {
            "1226969.4000000001"
        }
        response = await client.get(URL)
        assert response.json()["totals"]["annual_emission_reduction_tco2e"] == "1226969.400"
