"""An institution's portfolio: offers, signed, disbursed, repaid and outstanding
amounts, the signed-amount-weighted rate and the emission reductions attributed to the outstanding
money (outstanding ÷ total investment × the project's stated figure), per group and in total;
JSON and XLSX; the institution itself and administrators only.

Every figure below is computed by hand from the offers the test makes:

    offer  product  project: category, province, total investment, tCO2e/yr    signed @ rate
    o1     P1       solar: M2.1 → M2, 44, 25,000,000.00, 8200.5              8,000,000.00 @ 3.100
    o2     P2       retrofit: M3, 11, 40,000,000.00, 1000.0                 12,000,000.00 @ 4.250
    o3     P1       water: A2, 44, 25,000,000.00, none                       offered only
    o4     P2       solar (as o1)                                            2,000,000.00 @ 3.500

    o1 disbursed 5,000,000.00 + 1,000,000.50, repaid 600,000.25 → outstanding 5,400,000.25
       attributed 5,400,000.25 / 25,000,000 × 8200.5 = 1771.308082005 → 1771.308
    o2 disbursed 3,000,000.00 → outstanding 3,000,000.00; attributed 3,000,000 / 40,000,000 ×
       1000 = 75.000
    weighted rate: (8M × 3.1 + 12M × 4.25 + 2M × 3.5) / 22M = 82.8 / 22 = 3.76363… → 3.764
"""

import io
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from openpyxl import load_workbook

from tests.conftest import Keys
from tests.factories import in_library, institution, make_uscc, move_project, product

ENGAGEMENTS = "/api/v1/engagements"
TODAY = datetime.now(UTC).date()
MONTH = TODAY.strftime("%Y-%m")


async def _ok(response: httpx.Response, status: int = 200) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body: dict[str, Any] = response.json()
    return body


async def _offer(
    client: httpx.AsyncClient,
    bank: dict[str, str],
    region: dict[str, str],
    project: dict[str, Any],
    product_id: str,
    *,
    signed: tuple[str, str] | None = None,
) -> str:
    """An offer; with ``signed`` (amount, rate) taken through the funnel to financed."""
    body = {
        "project_id": project["id"],
        "product_id": product_id,
        "amount": signed[0] if signed else "1000000.00",
        "annual_rate": "3.9",
        "tenor_months": 36,
    }
    offer = await _ok(await client.post(ENGAGEMENTS, json=body, headers=bank), 201)
    if signed is not None:
        steps = f"{ENGAGEMENTS}/{offer['id']}/transitions"
        await _ok(await client.post(steps, json={"action": "accept"}, headers=region))
        await _ok(await client.post(steps, json={"action": "contact"}, headers=bank))
        financed = {
            "action": "financed",
            "amount": signed[0],
            "annual_rate": signed[1],
            "date": (TODAY - timedelta(days=10)).isoformat(),
        }
        await _ok(await client.post(steps, json=financed, headers=bank))
    return str(offer["id"])


async def _pay(
    client: httpx.AsyncClient, bank: dict[str, str], offer_id: str, amount: str, kind: str
) -> None:
    body = {"amount": amount, "date": TODAY.isoformat(), "kind": kind}
    url = f"{ENGAGEMENTS}/{offer_id}/disbursements"
    await _ok(await client.post(url, json=body, headers=bank), 201)


async def _portfolio_book(client: httpx.AsyncClient, keys: Keys) -> dict[str, Any]:
    """The offers of the table above, and a second bank's offer that must not count."""
    futian = await keys.region("440304")
    miyun = await keys.region("110118")
    solar = await in_library(
        client,
        keys,
        futian,
        owner={"name": "Futian Solar", "uscc": make_uscc(), "type": "private"},
        categories=["M2.1"],
        annual_emission_reduction_tco2e=8200.5,
    )
    retrofit = await in_library(
        client,
        keys,
        miyun,
        name="Miyun building retrofit",
        region_code="110118",
        owner={"name": "Miyun Estates", "uscc": make_uscc(), "type": "state_owned"},
        categories=["M3"],
        industry_code="E5011",
        nature="retrofit",
        total_investment="40000000.00",
        financing_need="20000000.00",
        annual_emission_reduction_tco2e=1000.0,
        start_date="2024-01-01",
    )
    # Its verified results (MRV): 600 t over half a year, the verified basis's figure.
    reports = f"/api/v1/projects/{retrofit['id']}/monitoring-reports"
    report = {
        "period_start": "2025-01-01",
        "period_end": "2025-06-30",
        "emission_reduction_tco2e": "600",
        "carbon_sink_tco2e": "0",
        "energy_saving_tce": "0",
        "adaptation_beneficiaries": 0,
        "methodology": "GB/T 31342",
        "verifier": "中国质量认证中心",
    }
    filed = await _ok(await client.post(reports, json=report, headers=miyun), 201)
    verify = {"action": "verify", "reason": "checked"}
    url = f"{reports}/{filed['id']}/transitions"
    await _ok(await client.post(url, json=verify, headers=await keys.reviewer("11")))
    water = await in_library(
        client,
        keys,
        futian,
        name="Futian rain gardens",
        objective="adaptation",
        owner={"name": "Futian Water", "uscc": make_uscc(), "type": "state_owned"},
        categories=["A2"],
        industry_code="D4610",
        annual_emission_reduction_tco2e=None,
        adaptation_beneficiaries=12000,
        adaptation_benefit="Fewer floods.",
    )
    bank_id, bank = await institution(client, keys, name="Portfolio Bank")
    p1 = await product(client, bank, name="绿色贷")
    p2 = await product(client, bank, name='=HYPERLINK("http://x")')
    o1 = await _offer(client, bank, futian, solar, p1["id"], signed=("8000000.00", "3.1"))
    o2 = await _offer(client, bank, miyun, retrofit, p2["id"], signed=("12000000.00", "4.25"))
    await _offer(client, bank, futian, water, p1["id"])
    await _offer(client, bank, futian, solar, p2["id"], signed=("2000000.00", "3.5"))
    await _pay(client, bank, o1, "5000000.00", "disbursement")
    await _pay(client, bank, o1, "1000000.50", "disbursement")
    await _pay(client, bank, o1, "600000.25", "repayment")
    await _pay(client, bank, o2, "3000000.00", "disbursement")

    _, other = await institution(client, keys, name="Other Bank")
    other_loan = await product(client, other)
    await _offer(client, other, futian, solar, other_loan["id"], signed=("1000000.00", "5.0"))
    return {
        "id": bank_id,
        "bank": bank,
        "other": other,
        "p1": p1["id"],
        "p2": p2["id"],
        "retrofit": retrofit,
        "miyun": miyun,
    }


def _figures(
    offers: int,
    financed: int,
    signed: str,
    disbursed: str,
    repaid: str,
    outstanding: str,
    rate: str | None,
    attributed: str,
    verified: str = "0.000",
) -> dict[str, Any]:
    return {
        "offers": offers,
        "financed": financed,
        "signed_amount": signed,
        "disbursed_amount": disbursed,
        "repaid_amount": repaid,
        "outstanding_amount": outstanding,
        "average_rate": rate,
        "attributed_emission_reductions": {
            "stated_annual_tco2e": attributed,
            "verified_cumulative_tco2e": verified,
        },
    }


SOLAR = _figures(2, 2, "10000000.00", "6000000.50", "600000.25", "5400000.25", "3.180", "1771.308")
# Verified: 3,000,000 outstanding ÷ 40,000,000 invested × 600 t verified = 45 t.
RETROFIT = _figures(
    1, 1, "12000000.00", "3000000.00", "0.00", "3000000.00", "4.250", "75.000", "45.000"
)
WATER = _figures(1, 0, "0.00", "0.00", "0.00", "0.00", None, "0.000")
TOTAL = _figures(
    4, 3, "22000000.00", "9000000.50", "600000.25", "8400000.25", "3.764", "1846.308", "45.000"
)


def _groups(answer: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {g.pop("key"): g for g in answer["groups"]}


class TestPortfolio:
    async def test_every_figure_per_group_and_in_total(
        self, client: httpx.AsyncClient, keys: Keys
    ) -> None:
        book = await _portfolio_book(client, keys)
        url = f"/api/v1/institutions/{book['id']}/portfolio"

        by_category = await _ok(await client.get(url, headers=book["bank"]))
        assert by_category["group_by"] == "category"  # the default
        assert by_category["total"] == TOTAL
        groups = _groups(by_category)
        assert [g.pop("label") for g in groups.values()] == [
            "水资源",
            "优化能源结构，发展非化石能源",
            "节能降碳改造",
        ]
        assert groups == {"A2": WATER, "M2": SOLAR, "M3": RETROFIT}

        admin = await keys.admin()
        by_region = await _ok(await client.get(url, params={"group_by": "region"}, headers=admin))
        assert by_region["total"] == TOTAL
        groups = _groups(by_region)
        assert {k: g.pop("label") for k, g in groups.items()} == {"11": "北京市", "44": "广东省"}
        solar_and_water = _figures(
            3, 2, "10000000.00", "6000000.50", "600000.25", "5400000.25", "3.180", "1771.308"
        )
        assert groups == {"11": RETROFIT, "44": solar_and_water}

        by_product = await _ok(
            await client.get(url, params={"group_by": "product"}, headers=book["bank"])
        )
        groups = _groups(by_product)
        assert {k: g.pop("label") for k, g in groups.items()} == {
            book["p1"]: "绿色贷",
            book["p2"]: '=HYPERLINK("http://x")',
        }
        # P1: o1 and o3; P2: o2 and o4 (8M signed: (12M × 4.25 + 2M × 3.5) / 14M = 4.142857…).
        assert groups == {
            book["p1"]: _figures(
                2, 1, "8000000.00", "6000000.50", "600000.25", "5400000.25", "3.100", "1771.308"
            ),
            book["p2"]: _figures(
                2,
                2,
                "14000000.00",
                "3000000.00",
                "0.00",
                "3000000.00",
                "4.143",
                "75.000",
                "45.000",
            ),
        }

        by_month = await _ok(await client.get(url, params={"group_by": "month"}, headers=admin))
        assert [(g["key"], g["label"]) for g in by_month["groups"]] == [(MONTH, None)]
        assert {k: v for k, v in by_month["groups"][0].items() if k not in ("key", "label")} == (
            TOTAL
        )

        # A project cancelled after financing attributes nothing any more; the money stays.
        await move_project(client, book["miyun"], book["retrofit"], "exit", reason_code="cancelled")
        after = await _ok(await client.get(url, headers=book["bank"]))
        assert after["total"] == {
            **TOTAL,
            "attributed_emission_reductions": {
                "stated_annual_tco2e": "1771.308",
                "verified_cumulative_tco2e": "0.000",
            },
        }
        assert _groups(after)["M3"] == {
            **RETROFIT,
            "label": "节能降碳改造",
            "attributed_emission_reductions": {
                "stated_annual_tco2e": "0.000",
                "verified_cumulative_tco2e": "0.000",
            },
        }

    async def test_xlsx_has_a_row_per_group_then_total_with_text_neutralised(
        self, client: httpx.AsyncClient, keys: Keys
    ) -> None:
        book = await _portfolio_book(client, keys)
        url = f"/api/v1/institutions/{book['id']}/portfolio"
        response = await client.get(
            url, params={"group_by": "product", "format": "xlsx"}, headers=book["bank"]
        )
        assert response.status_code == 200, response.text
        assert response.headers["content-type"].startswith(
            "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
        )
        assert "attachment" in response.headers["content-disposition"]
        sheet = load_workbook(io.BytesIO(response.content), read_only=True).active
        assert sheet is not None
        rows = [list(r) for r in sheet.iter_rows(values_only=True)]
        assert rows[0] == [
            "key",
            "label",
            "offers",
            "financed",
            "signed_amount",
            "disbursed_amount",
            "repaid_amount",
            "outstanding_amount",
            "average_rate",
            "attributed_stated_annual_tco2e",
            "attributed_verified_cumulative_tco2e",
        ]
        labels = {r[0]: r[1] for r in rows[1:]}
        assert labels[book["p2"]] == '\'=HYPERLINK("http://x")'  # never run as a formula
        total = rows[-1]
        assert total[:4] == ["total", None, 4, 3]
        assert [str(v) for v in total[4:]] == [
            "22000000",
            "9000000.5",
            "600000.25",
            "8400000.25",
            "3.764",
            "1846.308",
            "45",
        ]

    async def test_only_the_institution_itself_and_admin_read_it(
        self, client: httpx.AsyncClient, keys: Keys
    ) -> None:
        bank_id, bank = await institution(client, keys)
        _, other = await institution(client, keys, name="Another bank")
        url = f"/api/v1/institutions/{bank_id}/portfolio"
        assert (await client.get(url, headers=bank)).status_code == 200
        assert (await client.get(url, headers=await keys.admin())).status_code == 200
        assert (await client.get(url)).status_code == 401
        for headers in (
            other,
            await keys.region("440304"),
            await keys.reviewer("44"),
        ):
            refused = await client.get(url, headers=headers)
            assert refused.status_code == 403, refused.text
            assert refused.headers["content-type"] == "application/problem+json"
            assert refused.json()["code"] in ("not_your_portfolio",)
        xlsx = await client.get(url, params={"format": "xlsx"}, headers=other)
        assert xlsx.status_code == 403
        unknown = f"/api/v1/institutions/{uuid.uuid4()}/portfolio"
        missing = await client.get(unknown, headers=await keys.admin())
        assert missing.status_code == 404 and missing.json()["code"] == "institution_not_found"
        # Another institution's key learns nothing about whether an id exists.
        assert (await client.get(unknown, headers=bank)).status_code == 403

    async def test_an_empty_portfolio_and_bad_parameters(
        self, client: httpx.AsyncClient, keys: Keys
    ) -> None:
        bank_id, bank = await institution(client, keys)
        url = f"/api/v1/institutions/{bank_id}/portfolio"
        empty = await _ok(await client.get(url, params={"group_by": "region"}, headers=bank))
        assert empty["groups"] == []
        assert empty["total"] == _figures(0, 0, "0.00", "0.00", "0.00", "0.00", None, "0.000")
        for params in ({"group_by": "pilot"}, {"format": "csv"}):
            bad = await client.get(url, params=params, headers=bank)
            assert bad.status_code == 422, bad.text
            assert bad.headers["content-type"] == "application/problem+json"
