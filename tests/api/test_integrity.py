"""Integrity flags: each rule raised by a project crafted for it and by nothing
else, on a library of ordinary projects; the list filter ``flag=`` agrees with the per-project
answer; reviewers of the province and administrators only; and the demo's ordinary projects
raise none.

The ordinary background: twelve solar projects (M2.1, D4416) in the library, 25,000,000.00 CNY
each, stating 1.00 to 1.55 tCO2e a year per 10,000 CNY. Their log intensities have a median of
ln 1.275 and a MAD of about 0.08, so the bounds are the median × or ÷ 3 (the factor floor
exceeds 5 × MAD / 0.6745): 0.425 to 3.825.
"""

import csv
import io
import uuid
from typing import Any

import httpx

from app.config import Settings
from app.demo import run_demo
from app.services.integrity import LARGE_CLAIM_TCO2E
from tests.conftest import Keys
from tests.factories import (
    create_project,
    in_library,
    institution,
    make_uscc,
    move_project,
    project_in,
)

PROJECTS = "/api/v1/projects"
CODES = (
    "benefit_intensity_outlier",
    "category_industry_mismatch",
    "likely_duplicate",
    "large_unverified_claim",
)


def _owner(uscc: str | None = None, name: str = "Futian Energy Co.") -> dict[str, str]:
    return {"name": name, "uscc": uscc or make_uscc(), "type": "state_owned"}


async def _library(client: httpx.AsyncClient, keys: Keys) -> dict[str, Any]:
    """The background and one crafted project per rule, all in Futian (440304)."""
    region = await keys.region("440304")
    background = []
    for i in range(12):
        project = await in_library(
            client,
            keys,
            region,
            name=f"Futian solar {i}",
            owner=_owner(),
            categories=["M2.1"],
            annual_emission_reduction_tco2e=2500 * (1 + 0.05 * i),
        )
        background.append(project["id"])
    outlier = await project_in(
        client,
        keys,
        "submitted",
        region,
        name="Implausible solar",
        owner=_owner(),
        categories=["M2.1"],
        annual_emission_reduction_tco2e=250_000.0,
    )
    mismatch = await project_in(
        client,
        keys,
        "submitted",
        region,
        name="Seed farm said to be solar",
        owner=_owner(),
        categories=["M2.1"],
        industry_code="A0511",
        annual_emission_reduction_tco2e=3000.0,
    )
    large = await project_in(
        client,
        keys,
        "submitted",
        region,
        name="Gigantic wind base",
        owner=_owner(),
        categories=["M2.2"],
        industry_code="D4415",
        total_investment="12000000000.00",
        financing_need="6000000000.00",
        annual_emission_reduction_tco2e=1_500_000.0,
    )
    uscc = make_uscc()
    first = await in_library(
        client,
        keys,
        region,
        name="福田区屋顶分布式光伏项目",
        owner=_owner(uscc),
        annual_emission_reduction_tco2e=3000.0,
    )
    again = await project_in(
        client,
        keys,
        "submitted",
        region,
        name="福田区屋顶分布式光伏发电项目",
        owner=_owner(uscc),
        annual_emission_reduction_tco2e=3000.0,
    )
    draft = await create_project(
        client,
        region,
        name="福田区屋顶分布式光伏项目（二期）",
        owner=_owner(uscc),
        annual_emission_reduction_tco2e=3000.0,
    )
    unlike = await project_in(
        client,
        keys,
        "submitted",
        region,
        name="福田区公共建筑节能改造项目",
        owner=_owner(uscc),
        categories=["M3"],
        industry_code="E5011",
        nature="retrofit",
        annual_emission_reduction_tco2e=3000.0,
    )
    withdrawn = await project_in(
        client,
        keys,
        "withdrawn",
        region,
        name="福田区屋顶分布式光伏项目",
        owner=_owner(uscc),
    )
    return {
        "region": region,
        "background": background,
        "outlier": outlier["id"],
        "mismatch": mismatch["id"],
        "large": large["id"],
        "first": first["id"],
        "again": again["id"],
        "draft": draft["id"],
        "unlike": unlike["id"],
        "withdrawn": withdrawn["id"],
    }


async def _flags(
    client: httpx.AsyncClient, headers: dict[str, str], project_id: str
) -> dict[str, Any]:
    response = await client.get(f"{PROJECTS}/{project_id}/integrity", headers=headers)
    assert response.status_code == 200, response.text
    answer: dict[str, Any] = response.json()
    assert answer["project_id"] == project_id
    return answer


def _codes(answer: dict[str, Any]) -> list[str]:
    return [f["code"] for f in answer["flags"]]


async def _listed(
    client: httpx.AsyncClient, headers: dict[str, str], code: str, **params: Any
) -> set[str]:
    ids: set[str] = set()
    cursor = None
    while True:
        query = {"flag": code, "limit": 200, **params} | ({"cursor": cursor} if cursor else {})
        response = await client.get(PROJECTS, params=query, headers=headers)
        assert response.status_code == 200, response.text
        page = response.json()
        ids |= {p["id"] for p in page["items"]}
        cursor = page["next_cursor"]
        if cursor is None:
            return ids


class TestProjectIntegrity:
    async def test_each_rule_raised_by_its_crafted_project_and_nothing_else(
        self, client: httpx.AsyncClient, keys: Keys
    ) -> None:
        lib = await _library(client, keys)
        reviewer = await keys.reviewer("44")

        for project_id in lib["background"]:
            ordinary = await _flags(client, reviewer, project_id)
            assert ordinary["flags"] == [], ordinary
            assert ordinary["checked"] == list(CODES)
        # Same owner, unlike name; its category (M3) has too few library projects to judge.
        unlike = await _flags(client, reviewer, lib["unlike"])
        assert unlike["flags"] == []
        assert unlike["checked"] == list(CODES[1:])

        outlier = await _flags(client, reviewer, lib["outlier"])
        assert _codes(outlier) == ["benefit_intensity_outlier"]
        (flag,) = outlier["flags"]
        assert "robust z-score" in flag["rule"]
        figures = flag["figures"]
        # 250,000 t a year on 2,500 万元: 100 t per 10,000 CNY, against 13 library projects.
        assert figures["intensity_tco2e_per_10k_cny"] == "100"
        assert figures["category"] == "M2" and figures["library_projects"] == 13
        assert float(figures["robust_z"]) > 5
        assert float(figures["high"]) < 100 < float(figures["intensity_tco2e_per_10k_cny"]) + 1
        assert 1.2 < float(figures["category_median"]) < 1.4

        mismatch = await _flags(client, reviewer, lib["mismatch"])
        assert _codes(mismatch) == ["category_industry_mismatch"]
        assert mismatch["flags"][0]["figures"] == {
            "categories": ["M2.1"],
            "industry_code": "A0511",
            "fitting_industries": {"M2": ["D44", "D45", "E48"]},
        }

        large = await _flags(client, reviewer, lib["large"])
        assert _codes(large) == ["large_unverified_claim"]
        assert large["flags"][0]["figures"] == {
            "stated_annual_tco2e": "1500000.000",
            "threshold_tco2e": f"{LARGE_CLAIM_TCO2E:.0f}",
            "has_verified_report": False,
        }

        # The reviewer sees the library project and names it; the region's draft it cannot see
        # is only counted; the withdrawn one and the unlike name do not count.
        again = await _flags(client, reviewer, lib["again"])
        assert _codes(again) == ["likely_duplicate"]
        figures = again["flags"][0]["figures"]
        assert [d["project_id"] for d in figures["duplicates"]] == [lib["first"]]
        assert figures["duplicates"][0]["similarity"] == "0.92"
        assert figures["hidden_duplicates"] == 1
        admin = await keys.admin()
        seen_all = (await _flags(client, admin, lib["again"]))["flags"][0]["figures"]
        assert [d["project_id"] for d in seen_all["duplicates"]] == [lib["first"], lib["draft"]]
        assert seen_all["hidden_duplicates"] == 0
        assert _codes(await _flags(client, admin, lib["draft"])) == ["likely_duplicate"]
        assert _codes(await _flags(client, reviewer, lib["first"])) == ["likely_duplicate"]

        # The list filter agrees with the per-project answers.
        expected = {
            "benefit_intensity_outlier": {lib["outlier"]},
            "category_industry_mismatch": {lib["mismatch"]},
            "likely_duplicate": {lib["first"], lib["again"]},  # the draft is not the reviewer's
            "large_unverified_claim": {lib["large"]},
        }
        for code in CODES:
            assert await _listed(client, reviewer, code) == expected[code], code
        expected["likely_duplicate"] |= {lib["draft"], lib["withdrawn"]}
        for code in CODES:
            assert await _listed(client, admin, code) == expected[code], code
        # It narrows the other filters as any filter does.
        assert await _listed(client, admin, "likely_duplicate", status="in_library") == {
            lib["first"]
        }
        # And the export takes it too.
        export = await client.get(
            f"{PROJECTS}/export", params={"flag": "large_unverified_claim"}, headers=reviewer
        )
        assert export.status_code == 200, export.text
        rows = list(csv.DictReader(io.StringIO(export.content.decode("utf-8-sig"))))
        assert [r["id"] for r in rows] == [lib["large"]]

    async def test_a_verified_report_clears_the_large_claim(
        self, client: httpx.AsyncClient, keys: Keys
    ) -> None:
        region, reviewer = await keys.region("440304"), await keys.reviewer("44")
        large = await in_library(
            client,
            keys,
            region,
            name="Gigantic wind base",
            owner=_owner(),
            categories=["M2.2"],
            industry_code="D4415",
            total_investment="12000000000.00",
            financing_need="6000000000.00",
            annual_emission_reduction_tco2e=1_500_000.0,
            start_date="2024-01-01",
        )
        lib = {"large": large["id"]}
        filed = await client.post(
            f"{PROJECTS}/{lib['large']}/monitoring-reports",
            json={
                "period_start": "2025-01-01",
                "period_end": "2025-06-30",
                "emission_reduction_tco2e": "600000",
                "carbon_sink_tco2e": "0",
                "energy_saving_tce": "0",
                "adaptation_beneficiaries": 0,
                "methodology": "CCER-14-001-V01",
                "verifier": "中国质量认证中心",
            },
            headers=region,
        )
        assert filed.status_code == 201, filed.text
        # Filed is not verified: the flag stays until a reviewer verifies the report.
        assert _codes(await _flags(client, reviewer, lib["large"])) == ["large_unverified_claim"]
        verified = await client.post(
            f"{PROJECTS}/{lib['large']}/monitoring-reports/{filed.json()['id']}/transitions",
            json={"action": "verify", "reason": "checked against the verifier's statement"},
            headers=reviewer,
        )
        assert verified.status_code == 200, verified.text
        assert (await _flags(client, reviewer, lib["large"]))["flags"] == []
        assert await _listed(client, reviewer, "large_unverified_claim") == set()

    async def test_a_reviewer_elsewhere_sees_no_flags_of_this_province(
        self, client: httpx.AsyncClient, keys: Keys
    ) -> None:
        region = await keys.region("440304")
        large = {
            "total_investment": "12000000000.00",
            "financing_need": "6000000000.00",
            "annual_emission_reduction_tco2e": 1_500_000.0,
        }
        public = await in_library(client, keys, region, owner=_owner(), **large)
        submitted = await project_in(client, keys, "submitted", region, owner=_owner(), **large)
        beijing = await keys.reviewer("11")
        refused = await client.get(f"{PROJECTS}/{public['id']}/integrity", headers=beijing)
        assert refused.status_code == 403 and refused.json()["code"] == "integrity_for_reviewers"
        hidden = await client.get(f"{PROJECTS}/{submitted['id']}/integrity", headers=beijing)
        assert hidden.status_code == 404
        assert await _listed(client, beijing, "large_unverified_claim") == set()
        guangdong = await keys.reviewer("44")
        assert await _listed(client, guangdong, "large_unverified_claim") == {
            public["id"],
            submitted["id"],
        }
        # A project that has left the reviewer's hands stays its own (exited, still flagged).
        exited = await move_project(client, await keys.admin(), public, "exit")
        assert _codes(await _flags(client, guangdong, exited["id"])) == ["large_unverified_claim"]

    async def test_other_roles_are_refused(self, client: httpx.AsyncClient, keys: Keys) -> None:
        region = await keys.region("440304")
        project = await in_library(client, keys, region, owner=_owner())
        url = f"{PROJECTS}/{project['id']}/integrity"
        assert (await client.get(url)).status_code == 401
        listed = await client.get(PROJECTS, params={"flag": "likely_duplicate"})
        assert listed.status_code == 401
        _, bank = await institution(client, keys)
        for headers in (region, bank):
            for response in (
                await client.get(url, headers=headers),
                await client.get(PROJECTS, params={"flag": "likely_duplicate"}, headers=headers),
                await client.get(
                    f"{PROJECTS}/export", params={"flag": "likely_duplicate"}, headers=headers
                ),
            ):
                assert response.status_code == 403, response.text
                assert response.headers["content-type"] == "application/problem+json"
                assert response.json()["code"] == "integrity_for_reviewers"
        admin = await keys.admin()
        missing = await client.get(f"{PROJECTS}/{uuid.uuid4()}/integrity", headers=admin)
        assert missing.status_code == 404
        bad = await client.get(PROJECTS, params={"flag": "suspicious"}, headers=admin)
        assert bad.status_code == 422
        assert bad.headers["content-type"] == "application/problem+json"
        # Without the filter the list is everyone's, as before.
        assert (await client.get(PROJECTS, headers=region)).status_code == 200


# 120 demo projects load in about 7 s per database, and 38 of them fall in categories large enough
# to be judged for outliers (the full 300 of `climatelib demo` raise no flag either, with 183
# judged, but take a minute per database).
DEMO_PROJECTS = 120


async def test_the_demo_library_raises_no_flag(
    settings: Settings, client: httpx.AsyncClient, keys: Keys
) -> None:
    """The demo's ordinary projects raise no flag, by the list filter and project by project;
    its larger categories (ten library projects or more) are judged for outliers."""
    await run_demo(settings, projects=DEMO_PROJECTS)
    admin = await keys.admin()
    for code in CODES:
        assert await _listed(client, admin, code) == set(), code
    projects: list[dict[str, Any]] = []
    cursor = None
    while True:
        params = {"limit": 200} | ({"cursor": cursor} if cursor else {})
        page = (await client.get(PROJECTS, params=params, headers=admin)).json()
        projects += page["items"]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert len(projects) == DEMO_PROJECTS
    judged = 0
    for project in projects:
        answer = await _flags(client, admin, project["id"])
        assert answer["flags"] == [], answer
        judged += "benefit_intensity_outlier" in answer["checked"]
    assert judged >= 30  # the outlier rule did judge the larger categories' projects
