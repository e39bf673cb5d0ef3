"""Monitoring reports (MRV) through HTTP on both databases: the whole cycle (report, verify,
reject) with the project's verified results and the statistics before and after, every bad
input app/services/monitoring.py names refused with its own code and nothing stored, and the
matcher reading verified results (requires_verified_results; the explanation names its
basis)."""

import asyncio
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from app.config import Settings
from tests.conftest import Keys
from tests.factories import institution, library_project, product

TODAY = datetime.now(UTC).date()
STATS = "/api/v1/stats/overview"
# The public figures are kept and fresh within a second of a write (docs/architecture.md,
# *Speed and freshness targets*): a read that
# checks a write waits that long first.
FRESH_S = 1.0
VERIFIED_ZERO = {
    "emission_reduction_tco2e": "0.000",
    "carbon_sink_tco2e": "0.000",
    "energy_saving_tce": "0.000",
    "credited_tco2e": "0.000",
    "adaptation_beneficiaries": 0,
    "reports": 0,
    "days": 0,
}


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> Settings:
    return Settings(
        database_url=database_url,
        log_level="WARNING",
        rate_limits=False,
        import_worker=False,
        storage_dir=str(tmp_path / "store"),
        audit_seal_interval_s=0,  # as tests/conftest.py: the chain's tests seal themselves
        webhook_worker=False,
    )


def report(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "period_start": "2025-01-01",
        "period_end": "2025-06-30",
        "emission_reduction_tco2e": "480.250",
        "carbon_sink_tco2e": "0",
        "energy_saving_tce": "100.5",
        "adaptation_beneficiaries": 0,
        "methodology": "CCER-14-001-V01",
        "verifier": "中国质量认证中心",
    }
    body.update(overrides)
    return body


def reports_url(project_id: str) -> str:
    return f"/api/v1/projects/{project_id}/monitoring-reports"


async def _ok(response: httpx.Response, status: int = 200) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body: dict[str, Any] = response.json()
    return body


async def _step(
    client: httpx.AsyncClient,
    headers: dict[str, str],
    project_id: str,
    report_id: str,
    action: str,
    reason: str | None = None,
) -> httpx.Response:
    body: dict[str, Any] = {"action": action}
    if reason is not None:
        body["reason"] = reason
    return await client.post(
        f"{reports_url(project_id)}/{report_id}/transitions", json=body, headers=headers
    )


async def _project(app: FastAPI, **overrides: Any) -> str:
    return await library_project(
        app, start_date=date(2025, 1, 1), annual_emission_reduction_tco2e=1000.0, **overrides
    )


class TestCycle:
    async def test_report_verify_reject_with_figures_before_and_after(
        self, client: httpx.AsyncClient, keys: Keys, app: FastAPI
    ) -> None:
        project_id = await _project(app)
        region = await keys.region("440304")
        reviewer = await keys.reviewer("44")
        admin = await keys.admin()

        before = (await _ok(await client.get(STATS)))["totals"]
        assert before["verified_projects"] == 0
        assert before["verified_emission_reduction_tco2e"] == "0.000"
        stated = before["annual_emission_reduction_tco2e"]
        shown = await _ok(await client.get(f"/api/v1/projects/{project_id}"))
        assert shown["verified"] == VERIFIED_ZERO

        document = await _ok(
            await client.post(
                f"/api/v1/projects/{project_id}/documents",
                files={"file": ("核查报告.pdf", b"%PDF-1.7\n%%EOF\n")},
                data={"type": "verification_report", "visibility": "public"},
                headers=region,
            ),
            201,
        )
        first = await _ok(
            await client.post(
                reports_url(project_id),
                json=report(
                    carbon_credit_scheme="ccer",
                    credited_tco2e="200",
                    document_id=document["id"],
                ),
                headers=region,
            ),
            201,
        )
        assert first["status"] == "submitted"
        assert (first["emission_reduction_tco2e"], first["credited_tco2e"]) == (
            "480.250",
            "200.000",
        )
        assert first["energy_saving_tce"] == "100.500"
        # Submitted: the region sees it, the public not yet; nothing counts yet.
        assert (
            len((await _ok(await client.get(reports_url(project_id), headers=region)))["items"])
            == 1
        )
        assert (await _ok(await client.get(reports_url(project_id))))["items"] == []
        await asyncio.sleep(FRESH_S)
        totals = (await _ok(await client.get(STATS)))["totals"]
        assert totals["verified_emission_reduction_tco2e"] == "0.000"

        for headers, status in (
            (region, 403),
            (await keys.reviewer("11"), 403),
            ((await institution(client, keys))[1], 403),
            ({}, 401),
        ):
            refused = await _step(client, headers, project_id, first["id"], "verify")
            assert refused.status_code == status, refused.text

        verified = await _ok(await _step(client, reviewer, project_id, first["id"], "verify"))
        assert verified["status"] == "verified"
        assert verified["reviewed_at"] is not None
        twice = await _step(client, admin, project_id, first["id"], "verify")
        assert (twice.status_code, twice.json()["code"]) == (409, "invalid_transition")

        shown = await _ok(await client.get(f"/api/v1/projects/{project_id}"))
        assert shown["annual_emission_reduction_tco2e"] == 1000.0  # stated, unchanged
        assert shown["verified"] == {
            **VERIFIED_ZERO,
            "emission_reduction_tco2e": "480.250",
            "energy_saving_tce": "100.500",
            "credited_tco2e": "200.000",
            "reports": 1,
            "days": 181,
        }
        listed = await _ok(await client.get("/api/v1/projects", params={"limit": 200}))
        row = next(p for p in listed["items"] if p["id"] == project_id)
        assert row["verified"] == shown["verified"]
        public_reports = await _ok(await client.get(reports_url(project_id)))
        assert [r["id"] for r in public_reports["items"]] == [first["id"]]

        await asyncio.sleep(FRESH_S)
        totals = (await _ok(await client.get(STATS)))["totals"]
        assert totals["verified_projects"] == 1
        assert totals["verified_emission_reduction_tco2e"] == "480.250"
        assert totals["verified_energy_saving_tce"] == "100.500"
        assert totals["verified_credited_tco2e"] == "200.000"
        assert totals["annual_emission_reduction_tco2e"] == stated

        second = await _ok(
            await client.post(
                reports_url(project_id),
                json=report(
                    period_start="2025-07-01",
                    period_end="2025-12-31",
                    emission_reduction_tco2e="519.75",
                    carbon_sink_tco2e="10",
                ),
                headers=region,
            ),
            201,
        )
        await _ok(await _step(client, admin, project_id, second["id"], "verify"))
        third = await _ok(
            await client.post(
                reports_url(project_id),
                json=report(period_start="2026-01-01", period_end="2026-01-31"),
                headers=region,
            ),
            201,
        )
        no_reason = await _step(client, reviewer, project_id, third["id"], "reject")
        assert (no_reason.status_code, no_reason.json()["code"]) == (422, "reason_required")
        rejected = await _ok(
            await _step(client, reviewer, project_id, third["id"], "reject", "No evidence.")
        )
        assert (rejected["status"], rejected["reason"]) == ("rejected", "No evidence.")
        late = await _step(client, admin, project_id, third["id"], "verify")
        assert late.status_code == 409

        shown = await _ok(await client.get(f"/api/v1/projects/{project_id}"))
        assert shown["verified"]["emission_reduction_tco2e"] == "1000.000"
        assert shown["verified"]["carbon_sink_tco2e"] == "10.000"
        assert (shown["verified"]["reports"], shown["verified"]["days"]) == (2, 365)
        await asyncio.sleep(FRESH_S)
        totals = (await _ok(await client.get(STATS)))["totals"]
        assert totals["verified_emission_reduction_tco2e"] == "1000.000"
        assert totals["verified_carbon_sink_tco2e"] == "10.000"

        # A rejected period may be reported again.
        await _ok(
            await client.post(
                reports_url(project_id),
                json=report(period_start="2026-01-01", period_end="2026-01-31"),
                headers=region,
            ),
            201,
        )
        history = await _ok(
            await client.get(
                f"/api/v1/projects/{project_id}/history", params={"limit": 200}, headers=region
            )
        )
        actions = [e["action"] for e in history["items"]]
        assert actions.count("monitoring_report_submit") == 4
        assert actions.count("monitoring_report_verify") == 2
        assert actions.count("monitoring_report_reject") == 1
        verify_event = next(
            e for e in history["items"] if e["action"] == "monitoring_report_verify"
        )
        assert verify_event["changes"]["verified_emission_reduction_tco2e"] == {
            "before": "0.000",
            "after": "480.250",
        }

    async def test_an_exited_project_takes_reports(
        self, client: httpx.AsyncClient, keys: Keys, app: FastAPI
    ) -> None:
        project_id = await _project(app, status="exited", exit_reason="completed")
        region = await keys.region("440304")
        await _ok(await client.post(reports_url(project_id), json=report(), headers=region), 201)

    async def test_verification_changes_the_writers_etag(
        self, client: httpx.AsyncClient, keys: Keys, app: FastAPI
    ) -> None:
        project_id = await _project(app)
        region, reviewer = await keys.region("440304"), await keys.reviewer("44")
        url = f"/api/v1/projects/{project_id}"
        read = await client.get(url, headers=region)
        filed = await _ok(
            await client.post(reports_url(project_id), json=report(), headers=region), 201
        )
        await _ok(await _step(client, reviewer, project_id, filed["id"], "verify", "checked"))
        # The region's ETag is the version: the verified figures it sees changed, so no 304.
        again = await client.get(url, headers={**region, "If-None-Match": read.headers["etag"]})
        assert again.status_code == 200 and again.headers["etag"] != read.headers["etag"]
        assert again.json()["verified"]["reports"] == 1
        assert again.json()["version"] == read.json()["version"] + 1


class TestBadInput:
    """Each bad input app/services/monitoring.py names: its own code, nothing stored."""

    @pytest.mark.parametrize(
        ("overrides", "code"),
        [
            ({"period_end": (TODAY + timedelta(days=1)).isoformat()}, "period_in_future"),
            ({"period_start": "2025-06-30", "period_end": "2025-06-01"}, "period_end_before_start"),
            ({"period_start": "2024-12-31"}, "period_before_project_start"),
            ({"emission_reduction_tco2e": "-1"}, "negative_figure"),
            ({"adaptation_beneficiaries": -5}, "negative_figure"),
            (
                {"emission_reduction_tco2e": "0", "energy_saving_tce": "0.000"},
                "all_figures_zero",
            ),
            (
                {"credited_tco2e": "480.251", "carbon_credit_scheme": "vcs"},
                "credited_above_reported",
            ),
            ({"credited_tco2e": "10"}, "credit_scheme_required"),
        ],
    )
    async def test_refused_with_its_code(
        self,
        client: httpx.AsyncClient,
        keys: Keys,
        app: FastAPI,
        overrides: dict[str, Any],
        code: str,
    ) -> None:
        project_id = await _project(app)
        region = await keys.region("440304")
        refused = await client.post(
            reports_url(project_id), json=report(**overrides), headers=region
        )
        assert refused.status_code == 422, refused.text
        assert refused.headers["content-type"] == "application/problem+json"
        assert refused.json()["code"] == code
        assert refused.json()["errors"][0]["code"] == code
        listed = await _ok(await client.get(reports_url(project_id), headers=region))
        assert listed["items"] == []

    @pytest.mark.parametrize(
        ("overrides", "code"),
        [
            ({"emission_reduction_tco2e": "851399.51509"}, "decimal_max_places"),
            ({"emission_reduction_tco2e": 4850.5}, "decimal_not_string"),
            ({"carbon_sink_tco2e": "1e3"}, "invalid_decimal"),
        ],
    )
    async def test_tonnes_take_the_declared_form(
        self,
        client: httpx.AsyncClient,
        keys: Keys,
        app: FastAPI,
        overrides: dict[str, Any],
        code: str,
    ) -> None:
        # The document declares tonnes as a string of at most three places; so does the service.
        project_id = await _project(app)
        region = await keys.region("440304")
        refused = await client.post(
            reports_url(project_id), json=report(**overrides), headers=region
        )
        assert refused.status_code == 422, refused.text
        assert refused.json()["code"] == "validation_error"
        assert [(e["code"], e["loc"][1]) for e in refused.json()["errors"]] == [
            (code, next(iter(overrides)))
        ]
        listed = await _ok(await client.get(reports_url(project_id), headers=region))
        assert listed["items"] == []

    async def test_overlapping_periods_are_refused(
        self, client: httpx.AsyncClient, keys: Keys, app: FastAPI
    ) -> None:
        project_id = await _project(app)
        region = await keys.region("440304")
        first = await _ok(
            await client.post(reports_url(project_id), json=report(), headers=region), 201
        )
        for start, end in (("2025-06-30", "2025-07-31"), ("2025-02-01", "2025-02-28")):
            refused = await client.post(
                reports_url(project_id),
                json=report(period_start=start, period_end=end),
                headers=region,
            )
            assert refused.status_code == 422, refused.text
            assert refused.json()["code"] == "period_overlap"
            assert refused.json()["overlapping_report_id"] == first["id"]
        listed = await _ok(await client.get(reports_url(project_id), headers=region))
        assert len(listed["items"]) == 1

    async def test_a_document_of_another_project_is_refused(
        self, client: httpx.AsyncClient, keys: Keys, app: FastAPI
    ) -> None:
        project_id, other_id = await _project(app), await _project(app)
        region = await keys.region("440304")
        document = await _ok(
            await client.post(
                f"/api/v1/projects/{other_id}/documents",
                files={"file": ("a.pdf", b"%PDF-1.4\n%%EOF\n")},
                data={"type": "verification_report"},
                headers=region,
            ),
            201,
        )
        refused = await client.post(
            reports_url(project_id), json=report(document_id=document["id"]), headers=region
        )
        assert (refused.status_code, refused.json()["code"]) == (422, "document_not_of_project")
        listed = await _ok(await client.get(reports_url(project_id), headers=region))
        assert listed["items"] == []

    @pytest.mark.parametrize(
        ("status", "exit_reason", "code"),
        [
            ("draft", None, "project_not_in_library"),
            ("submitted", None, "project_not_in_library"),
            ("exited", "cancelled", "project_cancelled"),
        ],
    )
    async def test_a_project_neither_in_the_library_nor_exited_or_cancelled_is_refused(
        self,
        client: httpx.AsyncClient,
        keys: Keys,
        app: FastAPI,
        status: str,
        exit_reason: str | None,
        code: str,
    ) -> None:
        project_id = await _project(app, status=status, exit_reason=exit_reason)
        region = await keys.region("440304")
        refused = await client.post(reports_url(project_id), json=report(), headers=region)
        assert (refused.status_code, refused.json()["code"]) == (422, code), refused.text
        listed = await _ok(await client.get(reports_url(project_id), headers=region))
        assert listed["items"] == []

    async def test_only_the_region_reports(
        self, client: httpx.AsyncClient, keys: Keys, app: FastAPI
    ) -> None:
        project_id = await _project(app)
        for headers, status in (
            (await keys.reviewer("44"), 403),
            (await keys.region("110101"), 403),
            ({}, 401),
        ):
            refused = await client.post(reports_url(project_id), json=report(), headers=headers)
            assert refused.status_code == status, refused.text


class TestMatching:
    async def test_verified_results_are_required_and_named_in_the_explanation(
        self, client: httpx.AsyncClient, keys: Keys, app: FastAPI
    ) -> None:
        project_id = await _project(app)
        region, reviewer = await keys.region("440304"), await keys.reviewer("44")
        _, bank = await institution(client, keys)
        strict = await product(client, bank, requires_verified_results=True)
        plain = await product(client, bank, name="普通绿色贷")
        assert strict["requires_verified_results"] is True
        assert plain["requires_verified_results"] is False

        async def explain(product_id: str) -> dict[str, dict[str, Any]]:
            answer = await _ok(
                await client.get(
                    "/api/v1/matches/explain",
                    params={"project_id": project_id, "product_id": product_id},
                    headers=bank,
                )
            )
            return {item["criterion"]: item for item in answer["explanation"]}

        async def matched(product_id: str) -> set[str]:
            answer = await _ok(
                await client.get(f"/api/v1/products/{product_id}/matches", headers=bank)
            )
            return {item["project_id"] for item in answer["items"]}

        assert project_id not in await matched(strict["id"])
        assert project_id in await matched(plain["id"])
        assert (await explain(strict["id"]))["verified_results"]["passed"] is False
        assert "(stated)" in (await explain(plain["id"]))["climate_benefit"]["detail"]

        first = await _ok(
            await client.post(reports_url(project_id), json=report(), headers=region), 201
        )
        await _ok(await _step(client, reviewer, project_id, first["id"], "verify"))

        assert project_id in await matched(strict["id"])
        assert (await explain(strict["id"]))["verified_results"]["passed"] is True
        climate = (await explain(plain["id"]))["climate_benefit"]["detail"]
        assert "(verified)" in climate
        # 480.25 t over 181 days is 968.46 t a year, the figure compared instead of 1,000 stated.
        assert "verified emission reduction + carbon sink" in climate
