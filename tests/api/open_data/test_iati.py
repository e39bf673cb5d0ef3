"""GET /export/iati: the library as IATI 2.03 activities, checked with a schema and checker
written from the standard's documentation (iati_check.py), on both databases."""

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from fastapi import FastAPI
from lxml import etree

from app.config import Settings
from app.demo import run_demo
from app.main import create_app
from tests.api.open_data.iati_check import XML_LANG, check
from tests.conftest import Keys
from tests.factories import in_library, make_uscc, move_project, product, project_in

IATI = "/api/v1/export/iati"
ORG = "CN-USCI-000000000000000000"
TODAY = datetime.now(UTC).date()


async def _ok(response: httpx.Response, status: int = 200) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body: dict[str, Any] = response.json()
    return body


async def _bank(
    client: httpx.AsyncClient, keys: Keys, name: str, consent: bool
) -> tuple[str, dict[str, str]]:
    uscc = make_uscc()
    body = {"name": name, "uscc": uscc, "type": "bank", "open_data_consent": consent}
    created = await _ok(
        await client.post("/api/v1/institutions", json=body, headers=await keys.admin()), 201
    )
    assert created["open_data_consent"] is consent
    return uscc, await keys.institution(created["id"])


async def _finance(
    client: httpx.AsyncClient,
    bank: dict[str, str],
    region: dict[str, str],
    project_id: str,
    signed: str,
    paid: list[str],
) -> None:
    loan = await product(client, bank)
    offer = await _ok(
        await client.post(
            "/api/v1/engagements",
            json={
                "project_id": project_id,
                "product_id": loan["id"],
                "amount": signed,
                "annual_rate": "3.2",
                "tenor_months": 36,
            },
            headers=bank,
        ),
        201,
    )
    steps = f"/api/v1/engagements/{offer['id']}/transitions"
    await _ok(await client.post(steps, json={"action": "accept"}, headers=region))
    await _ok(await client.post(steps, json={"action": "contact"}, headers=bank))
    signing = {
        "action": "financed",
        "amount": signed,
        "annual_rate": "3.1",
        "date": (TODAY - timedelta(days=20)).isoformat(),
    }
    await _ok(await client.post(steps, json=signing, headers=bank))
    for n, amount in enumerate(paid):
        await _ok(
            await client.post(
                f"/api/v1/engagements/{offer['id']}/disbursements",
                json={"amount": amount, "date": (TODAY - timedelta(days=10 - n)).isoformat()},
                headers=bank,
            ),
            201,
        )


def _activities(response: httpx.Response) -> dict[str, etree._Element]:
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "text/xml; charset=utf-8"
    root = check(response.content)
    assert root.tag == "iati-activities" and root.get("version") == "2.03"
    return {a.findtext("iati-identifier"): a for a in root.iter("iati-activity")}


def _narratives(element: etree._Element | None) -> dict[str, str]:
    assert element is not None
    return {n.get(XML_LANG): n.text for n in element.findall("narrative")}


class TestIatiExport:
    async def test_empty_library_has_no_document(
        self, client: httpx.AsyncClient, keys: Keys
    ) -> None:
        assert (await client.get(IATI)).status_code == 204
        futian = await keys.region("440304")
        await project_in(client, keys, "submitted", futian)
        empty = await client.get(IATI)
        assert empty.status_code == 204 and empty.content == b""

    async def test_activities_carry_the_mappings(
        self, client: httpx.AsyncClient, keys: Keys, app: FastAPI
    ) -> None:
        futian = await keys.region("440304")
        solar = await in_library(
            client,
            keys,
            futian,
            name="福田屋顶光伏",
            summary="公共建筑分布式光伏。",
            name_en="Futian rooftop solar",
            summary_en="Rooftop photovoltaics on public buildings.",
            location={"lat": 22.5431, "lon": 114.0579},
            construction_status="under_construction",
            start_date=(TODAY - timedelta(days=100)).isoformat(),
            categories=["M2.1", "M3", "M1"],
            annual_carbon_sink_tco2e=12.5,
        )
        both = await in_library(
            client,
            keys,
            futian,
            name="海绵城市与光伏",
            objective="both",
            categories=["M2", "A2"],
            adaptation_benefit="Flood protection.",
            owner={"name": "福田村集体", "uscc": make_uscc(), "type": "collective"},
        )
        await project_in(client, keys, "draft", futian, name="草稿项目")
        open_uscc, open_bank = await _bank(client, keys, "公开银行", consent=True)
        closed_uscc, closed_bank = await _bank(client, keys, "保密银行", consent=False)
        await _finance(client, open_bank, futian, solar["id"], "3000000.00", ["1000000.00"])
        await _finance(client, closed_bank, futian, both["id"], "2000000.00", ["500000.00"])
        exited = await move_project(
            client, await keys.admin(), both, "exit", reason_code="completed"
        )
        assert exited["status"] == "exited"

        activities = _activities(await client.get(IATI))
        assert set(activities) == {
            f"{ORG}-{solar['library_code']}",
            f"{ORG}-{both['library_code']}",
        }
        first = activities[f"{ORG}-{solar['library_code']}"]
        assert first.get("default-currency") == "CNY"
        assert _narratives(first.find("title")) == {
            "zh": "福田屋顶光伏",
            "en": "Futian rooftop solar",
        }
        assert _narratives(first.find("description"))["en"].startswith("Rooftop")
        implementing = first.find("participating-org[@role='4']")
        assert implementing.get("ref") == "CN-USCI-9144030071526726XG"
        assert implementing.get("type") == "15"  # state-owned: other public sector
        funding = first.findall("participating-org[@role='1']")
        assert [f.get("ref") for f in funding] == [f"CN-USCI-{open_uscc}"]
        others = {o.get("type"): o.get("ref") for o in first.findall("other-identifier")}
        assert others == {"A1": solar["library_code"], "B9": "CN-USCI-9144030071526726XG"}
        assert first.find("activity-status").get("code") == "2"
        dates = {d.get("type"): d.get("iso-date") for d in first.findall("activity-date")}
        assert dates["2"] == (TODAY - timedelta(days=100)).isoformat()
        assert first.find("recipient-country").get("code") == "CN"
        assert first.find("location/point/pos").text == "22.5431 114.0579"
        sectors = {s.get("code"): s.get("percentage") for s in first.findall("sector")}
        assert (
            sectors == {"M1": "33.34", "M2.1": "33.33", "M3": "33.33"}
            or sum(float(v) for v in sectors.values()) == 100
        )
        assert set(sectors) == {"M1", "M2.1", "M3"}
        assert all(s.get("vocabulary") == "99" for s in first.findall("sector"))
        markers = [(m.get("code"), m.get("significance")) for m in first.findall("policy-marker")]
        assert markers == [("6", "2")]
        transactions = [
            (
                t.find("transaction-type").get("code"),
                t.findtext("value"),
                t.find("provider-org").get("ref") if t.find("provider-org") is not None else None,
            )
            for t in first.findall("transaction")
        ]
        assert transactions == [
            ("11", "3000000.00", f"CN-USCI-{open_uscc}"),
            ("1", "1000000.00", f"CN-USCI-{open_uscc}"),
        ]
        indicators = first.findall("result/indicator")
        assert [_narratives(i.find("title"))["en"] for i in indicators] == [
            "Annual emission reduction (tCO2e)",
            "Annual carbon sink (tCO2e)",
        ]
        assert [i.find("period/target").get("value") for i in indicators] == ["8200.5", "12.5"]

        second = activities[f"{ORG}-{both['library_code']}"]
        assert second.find("activity-status").get("code") == "4"  # exited, completed
        assert second.find("participating-org[@role='4']").get("type") == "90"
        assert second.find("participating-org[@role='1']") is None
        markers = [(m.get("code"), m.get("significance")) for m in second.findall("policy-marker")]
        assert markers == [("6", "1"), ("7", "1")]
        for transaction in second.findall("transaction"):
            assert transaction.find("provider-org") is None  # no consent: no provider named
        assert second.find("location") is None
        assert "en" not in _narratives(second.find("title"))
        text = (await client.get(IATI)).text
        assert "保密银行" not in text and closed_uscc not in text
        assert "草稿项目" not in text and "Li Ming" not in text

    async def test_verified_reports_are_the_indicators_actual_values(
        self, client: httpx.AsyncClient, keys: Keys
    ) -> None:
        futian, reviewer = await keys.region("440304"), await keys.reviewer("44")
        wind = await in_library(
            client,
            keys,
            futian,
            name="福田风电",
            start_date="2024-01-01",
            annual_emission_reduction_tco2e=8000.0,
        )
        reports = f"/api/v1/projects/{wind['id']}/monitoring-reports"
        figures = {
            "carbon_sink_tco2e": "0",
            "energy_saving_tce": "0",
            "adaptation_beneficiaries": 0,
            "methodology": "CCER-14-001-V01",
            "verifier": "中国质量认证中心",
        }
        for start, end, tonnes, verify in (
            ("2025-01-01", "2025-06-30", "3900.5", True),
            ("2025-07-01", "2025-12-31", "4100", False),  # filed, not verified: not exported
        ):
            filed = await _ok(
                await client.post(
                    reports,
                    json={
                        "period_start": start,
                        "period_end": end,
                        "emission_reduction_tco2e": tonnes,
                        **figures,
                    },
                    headers=futian,
                ),
                201,
            )
            if verify:
                await _ok(
                    await client.post(
                        f"{reports}/{filed['id']}/transitions",
                        json={"action": "verify", "reason": "checked"},
                        headers=reviewer,
                    )
                )
        activity = _activities(await client.get(IATI))[f"{ORG}-{wind['library_code']}"]
        (indicator,) = activity.findall("result/indicator")
        periods = indicator.findall("period")
        assert periods[0].find("target").get("value") == "8000"
        assert [
            (p.find("period-start").get("iso-date"), p.find("actual").get("value"))
            for p in periods[1:]
        ] == [("2025-01-01", "3900.5")]

    async def test_updated_since_reads_only_changes_and_names_its_watermark(
        self, client: httpx.AsyncClient, keys: Keys
    ) -> None:
        futian = await keys.region("440304")
        early = await in_library(client, keys, futian, name="早")
        first = await client.get(IATI, params={"updated_since": "2000-01-01T00:00:00Z"})
        assert len(_activities(first)) == 1
        watermark = first.headers["x-updated-until"]
        later = await in_library(client, keys, futian, name="晚")
        second = await client.get(IATI, params={"updated_since": watermark})
        ids = set(_activities(second))
        assert f"{ORG}-{later['library_code']}" in ids
        # A change at the watermark itself may come twice (docs/architecture.md, Change feeds).
        stamp = (await client.get(f"/api/v1/projects/{early['id']}")).json()["updated_at"]
        if f"{ORG}-{early['library_code']}" in ids:
            assert datetime.fromisoformat(stamp) >= datetime.fromisoformat(watermark)
        assert len(ids) <= 2

    async def test_a_disbursement_restamps_its_activity_for_the_feed(
        self, client: httpx.AsyncClient, keys: Keys
    ) -> None:
        futian = await keys.region("440304")
        project = await in_library(client, keys, futian, name="福田储能")
        _, bank = await _bank(client, keys, "开放银行", True)
        await _finance(client, bank, futian, project["id"], "8000000.00", [])
        ref = f"{ORG}-{project['library_code']}"
        url = f"/api/v1/projects/{project['id']}"
        read = await client.get(url, headers=futian)
        # written later, so that the read's watermark passes the financed project's stamp
        later = await in_library(client, keys, futian, name="福田光伏")
        first = await client.get(IATI, params={"updated_since": "2000-01-01T00:00:00Z"})
        assert set(_activities(first)) == {ref, f"{ORG}-{later['library_code']}"}
        (transaction,) = _activities(first)[ref].findall("transaction")
        assert transaction.find("transaction-type").get("code") == "11"

        offer = (await _ok(await client.get("/api/v1/engagements", headers=bank)))["items"][0]
        paid = {"amount": "2500000.00", "date": TODAY.isoformat()}
        payments = f"/api/v1/engagements/{offer['id']}/disbursements"
        await _ok(await client.post(payments, json=paid, headers=bank), 201)
        since = await client.get(IATI, params={"updated_since": first.headers["x-updated-until"]})
        assert ref in _activities(since)
        activity = _activities(since)[ref]
        assert [
            (t.find("transaction-type").get("code"), t.findtext("value"))
            for t in activity.findall("transaction")
        ] == [("11", "8000000.00"), ("1", "2500000.00")]
        restamped = await _ok(await client.get(url, headers=futian))
        assert activity.get("last-updated-datetime") == restamped["updated_at"][:19] + "Z"
        # The restamp is a write the region's ETag shows: its stale If-Match is refused once.
        assert restamped["version"] == read.json()["version"] + 1
        fresh = await client.get(url, headers={**futian, "If-None-Match": read.headers["etag"]})
        assert fresh.status_code == 200 and fresh.headers["etag"] != read.headers["etag"]
        stale = {**futian, "If-Match": read.headers["etag"]}
        assert (await client.patch(url, json={"summary": "储能"}, headers=stale)).status_code == 412

        # A repayment is not in the activity: it restamps nothing.
        repaid = {**paid, "kind": "repayment"}
        await _ok(await client.post(payments, json=repaid, headers=bank), 201)
        assert (await _ok(await client.get(url, headers=futian))) == restamped

    async def test_reporting_org_is_configured(
        self, client: httpx.AsyncClient, keys: Keys, app: FastAPI
    ) -> None:
        app.state.settings = app.state.settings.model_copy(
            update={"iati_reporting_org": "CN-USCI-91110000717828315T"}
        )
        futian = await keys.region("440304")
        project = await in_library(client, keys, futian)
        activities = _activities(await client.get(IATI))
        assert list(activities) == [f"CN-USCI-91110000717828315T-{project['library_code']}"]

    async def test_unknown_parameter_and_bad_since_are_refused(
        self, client: httpx.AsyncClient
    ) -> None:
        assert (await client.get(IATI, params={"since": "x"})).status_code == 400
        assert (await client.get(IATI, params={"updated_since": "yesterday"})).status_code == 422


class TestIatiDemo:
    async def test_demo_library_passes_the_checker(self, database_url: str) -> None:
        settings = Settings(database_url=database_url, log_level="WARNING", rate_limits=False)
        await run_demo(settings, projects=40)
        app = create_app(settings)
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
                activities = _activities(await http.get(IATI))
                listed = (
                    await http.get(
                        "/api/v1/projects",
                        params={"status": ["in_library", "exited"], "limit": 200},
                    )
                ).json()["items"]
        assert len(activities) == len(listed) > 0
        assert {f"{ORG}-{p['library_code']}" for p in listed} == set(activities)
        located = [a for a in activities.values() if a.find("location") is not None]
        english = [a for a in activities.values() if "en" in _narratives(a.find("title"))]
        assert located and english
        assert any(a.find("transaction") is not None for a in activities.values())
        assert any(a.find("transaction/provider-org") is not None for a in activities.values())
