"""两高 screening through HTTP, one real case per rule (the rules' table: docs/architecture.md,
*两高 screening*): transition projects (CCUS, process-emission control, capacity replacement) are
admitted and flagged, new 两高 capacity is refused at submission naming the rule, and only coal
makes a thermal plant 煤电."""

import csv
import io
from typing import Any

import httpx
import pytest

from app.main import create_app
from tests.conftest import Keys
from tests.factories import (
    PROJECTS,
    in_library,
    institution,
    move_project,
    product,
    project_payload,
)
from tests.factories import create_project as create

COAL_CCUS: dict[str, Any] = {
    "name": "燃煤电厂烟气二氧化碳捕集利用与封存示范",
    "summary": "Post-combustion capture of 1.5 Mt CO2/year at an existing 2×660 MW coal plant.",
    "objective": "mitigation",
    "categories": ["M4"],
    "industry_code": "D4411",
    "fuel": "coal",
    "nature": "retrofit",
    "annual_emission_reduction_tco2e": 1_500_000.0,
}
NEW_COAL_PLANT: dict[str, Any] = {
    "name": "2×1000MW 超超临界燃煤发电新建工程",
    "categories": ["M3"],
    "industry_code": "D4411",
    "fuel": "coal",
    "nature": "new_build",
}
GAS_PEAKER: dict[str, Any] = {
    "name": "燃气调峰电站",
    "categories": ["M2"],
    "industry_code": "D4411",
    "fuel": "gas",
    "nature": "new_build",
}
NITRIC_ACID_N2O: dict[str, Any] = {
    "name": "硝酸装置氧化亚氮分解减排",
    "categories": ["M5"],
    "industry_code": "C2611",
    "nature": "retrofit",
    "annual_emission_reduction_tco2e": 420_000.0,
}
H2_DRI: dict[str, Any] = {
    "name": "氢基竖炉直接还原铁替代高炉项目",
    "categories": ["M3"],
    "industry_code": "C3110",
    "nature": "new_build",
}


def _screening(project: dict[str, Any]) -> tuple[str, str, bool]:
    s = project["screening"]
    return s["outcome"], s["rule_id"], s["flagged_for_review"]


async def _submit(
    client: httpx.AsyncClient, region: dict[str, str], project: dict[str, Any]
) -> httpx.Response:
    return await client.post(
        f"{PROJECTS}/{project['id']}/transitions",
        json={"action": "submit"},
        headers={**region, "If-Match": f'"{project["version"]}"'},
    )


class TestOutcomes:
    async def test_ccus_at_a_coal_plant_is_a_flagged_transition_project(
        self, client: httpx.AsyncClient, keys: Keys
    ) -> None:
        region = await keys.region("440304")
        project = await in_library(client, keys, region, **COAL_CCUS)
        assert project["status"] == "in_library"
        assert project["fuel"] == "coal"
        assert _screening(project) == (
            "two_high_transition",
            "two_high.transition_in_place",
            True,
        )
        screening = project["screening"]
        assert screening["is_two_high"] is True
        assert screening["rule_version"] == "2026.12"
        assert [r["code"] for r in screening["reasons"]] == ["two_high_sector", "transition"]
        assert screening["reasons"][0]["sector"] == "coal_power"
        assert "M4 (CCUS)" in screening["reasons"][1]["message"]
        # Reviewers find the flagged projects by the outcome (and by the deprecated filter).
        for params in ({"two_high_outcome": "two_high_transition"}, {"two_high_retrofit": True}):
            listed = await client.get(PROJECTS, params=params, headers=await keys.admin())
            assert [p["id"] for p in listed.json()["items"]] == [project["id"]]
        # The history keeps the screening where it was checked: creation and submission.
        history = await client.get(f"{PROJECTS}/{project['id']}/history", headers=region)
        steps = {s["action"]: s["screening"] for s in history.json()["items"]}
        for action in ("create", "submit"):
            assert steps[action]["outcome"] == "two_high_transition"
            assert steps[action]["rule_id"] == "two_high.transition_in_place"
            assert steps[action]["rule_version"] == "2026.12"
        assert steps["recommend"] is None and steps["approve"] is None

    @pytest.mark.parametrize(
        ("case", "rule", "loc"),
        [
            (NEW_COAL_PLANT, "two_high.refused_new_capacity", "capacity_replacement"),
            (
                {**NEW_COAL_PLANT, "categories": ["M2"]},
                "two_high.refused_no_transition_category",
                "categories",
            ),
        ],
    )
    async def test_a_new_coal_plant_is_saved_but_refused_at_submission(
        self,
        client: httpx.AsyncClient,
        keys: Keys,
        case: dict[str, Any],
        rule: str,
        loc: str,
    ) -> None:
        region = await keys.region("440304")
        project = await create(client, region, **case)
        assert project["status"] == "draft"
        assert _screening(project) == ("two_high_refused", rule, False)
        response = await _submit(client, region, project)
        assert response.status_code == 422
        problem = response.json()
        assert problem["code"] == "two_high_refused"
        assert problem["rule_id"] == rule and problem["rule_version"] == "2026.12"
        assert [(e["loc"], e["code"]) for e in problem["errors"]] == [
            (["body", loc], "two_high_refused")
        ]
        now = (await client.get(f"{PROJECTS}/{project['id']}", headers=region)).json()
        assert now["status"] == "draft" and now["version"] == project["version"]

    async def test_a_gas_peaker_is_not_two_high(
        self, client: httpx.AsyncClient, keys: Keys
    ) -> None:
        region = await keys.region("440304")
        project = await in_library(client, keys, region, **GAS_PEAKER)
        assert _screening(project) == ("not_two_high", "two_high.fuel_not_coal", False)
        assert project["screening"]["is_two_high"] is False
        assert (
            "only a coal-fired plant counts as 煤电"
            in (project["screening"]["reasons"][0]["message"])
        )
        # The same plant burning coal is a new coal plant: refused.
        switched = await client.patch(
            f"{PROJECTS}/{project['id']}",
            json={"fuel": "coal"},
            headers={**region, "If-Match": f'"{project["version"]}"'},
        )
        assert switched.status_code == 422
        assert switched.json()["rule_id"] == "two_high.refused_no_transition_category"

    async def test_n2o_abatement_at_a_nitric_acid_plant_is_a_transition_project(
        self, client: httpx.AsyncClient, keys: Keys
    ) -> None:
        region = await keys.region("440304")
        project = await in_library(client, keys, region, **NITRIC_ACID_N2O)
        assert _screening(project) == (
            "two_high_transition",
            "two_high.transition_in_place",
            True,
        )
        assert project["screening"]["reasons"][0]["sector"] == "chemicals"

    async def test_h2_dri_steel_is_admitted_only_as_capacity_replacement(
        self, client: httpx.AsyncClient, keys: Keys
    ) -> None:
        region = await keys.region("440304")
        replacing = await in_library(client, keys, region, capacity_replacement=True, **H2_DRI)
        assert replacing["capacity_replacement"] is True
        assert _screening(replacing) == (
            "two_high_transition",
            "two_high.transition_capacity_replacement",
            True,
        )
        adding = await create(client, region, **H2_DRI)
        assert adding["capacity_replacement"] is False
        assert _screening(adding) == ("two_high_refused", "two_high.refused_new_capacity", False)
        response = await _submit(client, region, adding)
        assert response.status_code == 422
        assert response.json()["rule_id"] == "two_high.refused_new_capacity"
        # Stating the replacement makes it submittable.
        fixed = await client.patch(
            f"{PROJECTS}/{adding['id']}",
            json={"capacity_replacement": True},
            headers={**region, "If-Match": f'"{adding["version"]}"'},
        )
        assert fixed.status_code == 200
        assert fixed.json()["screening"]["outcome"] == "two_high_transition"
        submitted = await move_project(client, region, fixed.json(), "submit")
        assert submitted["status"] == "submitted"

    async def test_an_ordinary_project_is_not_two_high(
        self, client: httpx.AsyncClient, keys: Keys
    ) -> None:
        solar = await create(client, await keys.region("440304"))
        assert solar["fuel"] is None and solar["capacity_replacement"] is False
        assert solar["screening"] == {
            "outcome": "not_two_high",
            "is_two_high": False,
            "flagged_for_review": False,
            "rule_id": "two_high.not_listed",
            "rule_version": "2026.12",
            "list_version": "2026.2",
            "reasons": [
                {"code": "not_listed", "message": "D4416 is not in the 两高 list.", "sector": None}
            ],
        }


class TestFuelRequired:
    @pytest.mark.parametrize("industry_code", ["D4411", "D4412"])
    async def test_a_thermal_plant_without_fuel_is_refused_and_nothing_stored(
        self, client: httpx.AsyncClient, keys: Keys, industry_code: str
    ) -> None:
        region = await keys.region("440304")
        case = {**COAL_CCUS, "industry_code": industry_code}
        del case["fuel"]
        response = await client.post(PROJECTS, json={**project_payload(), **case}, headers=region)
        assert response.status_code == 422
        assert [(e["loc"], e["code"]) for e in response.json()["errors"]] == [
            (["body", "fuel"], "fuel_required")
        ]
        listed = await client.get(PROJECTS, headers=region)
        assert listed.json()["items"] == []

    async def test_clearing_the_fuel_of_a_thermal_plant_is_refused(
        self, client: httpx.AsyncClient, keys: Keys
    ) -> None:
        region = await keys.region("440304")
        project = await create(client, region, **COAL_CCUS)
        response = await client.patch(
            f"{PROJECTS}/{project['id']}",
            json={"fuel": None},
            headers={**region, "If-Match": f'"{project["version"]}"'},
        )
        assert response.status_code == 422
        assert response.json()["errors"][0]["code"] == "fuel_required"

    async def test_an_unknown_fuel_is_refused(self, client: httpx.AsyncClient, keys: Keys) -> None:
        region = await keys.region("440304")
        body = {**project_payload(), **COAL_CCUS, "fuel": "lignite"}
        response = await client.post(PROJECTS, json=body, headers=region)
        assert response.status_code == 422
        assert response.json()["errors"][0]["loc"] == ["body", "fuel"]


class TestProducts:
    async def test_only_products_accepting_transition_projects_match_them(
        self, client: httpx.AsyncClient, keys: Keys
    ) -> None:
        region = await keys.region("440304")
        ccus = await in_library(client, keys, region, **COAL_CCUS)
        solar = await in_library(client, keys, region)
        _, bank = await institution(client, keys)
        refusing = await product(client, bank, accepts_two_high_transition=False)
        accepting = await product(client, bank, accepts_two_high_transition=True)
        assert refusing["accepts_two_high_transition"] is False
        assert accepting["accepts_two_high_transition"] is True

        async def matched(prod: dict[str, Any]) -> set[str]:
            response = await client.get(f"/api/v1/products/{prod['id']}/matches", headers=bank)
            assert response.status_code == 200
            return {i["project_id"] for i in response.json()["items"]}

        assert await matched(refusing) == {solar["id"]}
        assert await matched(accepting) == {solar["id"], ccus["id"]}

        async def explain(prod: dict[str, Any]) -> dict[str, Any]:
            response = await client.get(
                "/api/v1/matches/explain",
                params={"project_id": ccus["id"], "product_id": prod["id"]},
                headers=bank,
            )
            assert response.status_code == 200
            body: dict[str, Any] = response.json()
            return next(i for i in body["explanation"] if i["criterion"] == "two_high_transition")

        refused = await explain(refusing)
        assert refused["passed"] is False
        assert refused["detail"] == (
            "the project is a 两高 transition project; the product does not accept 两高 "
            "transition projects"
        )
        taken = await explain(accepting)
        assert taken["passed"] is True
        assert taken["detail"] == (
            "the project is a 两高 transition project; the product accepts 两高 transition projects"
        )

    async def test_the_deprecated_name_still_works(
        self, client: httpx.AsyncClient, keys: Keys
    ) -> None:
        _, bank = await institution(client, keys)
        old = await product(client, bank, accepts_two_high_retrofit=False)
        assert old["accepts_two_high_transition"] is False
        assert old["accepts_two_high_retrofit"] is False
        patched = await client.patch(
            f"/api/v1/products/{old['id']}",
            json={"accepts_two_high_retrofit": True},
            headers=bank,
        )
        assert patched.status_code == 200, patched.text
        assert patched.json()["accepts_two_high_transition"] is True
        both = await client.post(
            "/api/v1/products",
            json={
                "name": "转型贷",
                "type": "transition_loan",
                "accepts_two_high_transition": True,
                "accepts_two_high_retrofit": False,
            },
            headers=bank,
        )
        assert both.status_code == 422
        same = await product(
            client, bank, accepts_two_high_transition=False, accepts_two_high_retrofit=False
        )
        assert same["accepts_two_high_transition"] is False

    def test_the_openapi_marks_the_old_name_deprecated(self) -> None:
        schemas = create_app().openapi()["components"]["schemas"]
        for name in ("ProductCreate", "ProductUpdate", "ProductRead"):
            properties = schemas[name]["properties"]
            assert properties["accepts_two_high_retrofit"]["deprecated"] is True, name
            assert "deprecated" not in properties["accepts_two_high_transition"], name


class TestSpreadsheets:
    async def test_fuel_and_capacity_replacement_travel_by_their_chinese_headers(
        self, client: httpx.AsyncClient, keys: Keys
    ) -> None:
        region = await keys.region("440304")
        base = project_payload()
        header = [
            "地方项目编号",
            "项目名称",
            "行政区划代码",
            "项目业主",
            "统一社会信用代码",
            "气候目标",
        ]
        header += ["支持领域", "国民经济行业代码", "燃料类型", "建设性质", "产能置换", "建设状态"]
        header += ["总投资（元）", "融资需求（元）", "年减排量（吨二氧化碳当量）"]
        common = [base["region_code"], "某能源集团", base["owner"]["uscc"], "mitigation"]
        money = ["planning", "25000000.00", "12500000.00", "50000"]
        rows = [
            ["X-1", "煤电CCUS", *common, "M4", "D4411", "coal", "retrofit", "否", *money],
            ["X-2", "氢基竖炉", *common, "M3", "C3110", "", "new_build", "是", *money],
            ["X-3", "无燃料电厂", *common, "M4", "D4412", "", "retrofit", "否", *money],
        ]
        buffer = io.StringIO()
        csv.writer(buffer).writerows([header, *rows])
        response = await client.post(
            f"{PROJECTS}/import",
            headers=region,
            files={"file": ("two_high.csv", buffer.getvalue().encode("utf-8-sig"), "text/csv")},
        )
        assert response.status_code == 200, response.text
        results = response.json()["results"]
        assert [r["status"] for r in results] == ["created", "created", "error"]
        assert [e["code"] for e in results[2]["problem"]["errors"]] == ["fuel_required"]

        exported = await client.get(f"{PROJECTS}/export", params={"header": "zh"}, headers=region)
        assert exported.status_code == 200
        table = list(csv.DictReader(io.StringIO(exported.content.decode("utf-8-sig"))))
        by_ref = {r["地方项目编号"]: r for r in table}
        assert set(by_ref) == {"X-1", "X-2"}
        assert by_ref["X-1"]["燃料类型"] == "coal"
        assert by_ref["X-1"]["两高筛查结论"] == "two_high_transition"
        assert by_ref["X-1"]["两高筛查规则"] == "two_high.transition_in_place"
        assert by_ref["X-2"]["产能置换"] in ("是", "true", "True")
        assert by_ref["X-2"]["两高筛查规则"] == "two_high.transition_capacity_replacement"
