"""Pilots: the first batch ships as data; admins register pilots; anyone reads them."""

from typing import Any

import httpx
import pytest

from tests.conftest import Keys
from tests.factories import FUTIAN_PILOT, LIANGJIANG_PILOT, TIANFU_PILOT

BASE = "/api/v1/pilots"


def new_pilot(**overrides: object) -> dict[str, object]:
    body: dict[str, object] = {
        "name": "广东省深圳市南山区",
        "kind": "district",
        "province": "44",
        "regions": [{"code": "440305"}],
        "batch": 2,
        "work_plan_ref": "深圳市南山区气候投融资试点工作方案 (2026)",
    }
    body.update(overrides)
    return body


async def all_pages(
    client: httpx.AsyncClient, url: str, **params: str | int
) -> list[dict[str, object]]:
    items: list[dict[str, object]] = []
    cursor = None
    while True:
        query = dict(params, **({"cursor": cursor} if cursor else {}))
        response = await client.get(url, params=query)
        assert response.status_code == 200, response.text
        page = response.json()
        items.extend(page["items"])
        cursor = page["next_cursor"]
        if cursor is None:
            return items


class TestListPilots:
    async def test_public_pages_through_the_23_first_batch_pilots(
        self, client: httpx.AsyncClient
    ) -> None:
        items = await all_pages(client, BASE, limit=10)
        assert len(items) == 23
        assert len({p["id"] for p in items}) == 23
        assert [(p["province"], p["name"]) for p in items] == sorted(
            (p["province"], p["name"]) for p in items
        )
        kinds = [p["kind"] for p in items]
        assert kinds.count("prefecture_city") == 12
        assert kinds.count("district") == 4
        assert kinds.count("national_new_area") == 7
        assert {p["status"] for p in items} == {"approved"}
        assert {p["designation_ref"] for p in items} == {"环气候函〔2022〕50号"}
        futian = next(p for p in items if p["id"] == FUTIAN_PILOT)
        assert futian["regions"] == [
            {
                "code": "440304",
                "name": "福田区",
                "level": "county",
                "is_current": True,
                "coverage": "full",
                "is_partial": False,
                "valid_from": None,
                "valid_to": None,
            }
        ]
        assert futian["allowed_actions"] == ["accept", "disqualify"]

    @pytest.mark.parametrize(
        ("params", "expected"),
        [
            ({"province": "44"}, {"广东省广州市南沙新区", "广东省深圳市福田区"}),
            (
                {"kind": "district"},
                {"北京市密云区", "北京市通州区", "湖北省武汉市武昌区", "广东省深圳市福田区"},
            ),
            ({"kind": "national_new_area", "province": "50"}, {"重庆市两江新区"}),
            ({"status": "applying"}, set()),
            ({"batch": 2}, set()),
        ],
    )
    async def test_filters(
        self, client: httpx.AsyncClient, params: dict[str, str | int], expected: set[str]
    ) -> None:
        items = await all_pages(client, BASE, **params)
        assert {p["name"] for p in items} == expected

    async def test_batch_filter_counts_the_first_batch(self, client: httpx.AsyncClient) -> None:
        assert len(await all_pages(client, BASE, batch=1, limit=200)) == 23

    @pytest.mark.parametrize(
        "params", [{"province": "4"}, {"status": "pending"}, {"kind": "town"}, {"limit": 0}]
    )
    async def test_invalid_filter_is_422_problem(
        self, client: httpx.AsyncClient, params: dict[str, str | int]
    ) -> None:
        response = await client.get(BASE, params=params)
        assert response.status_code == 422
        assert response.headers["content-type"] == "application/problem+json"
        assert response.json()["code"] == "validation_error"

    async def test_foreign_cursor_is_400(self, client: httpx.AsyncClient) -> None:
        response = await client.get(BASE, params={"cursor": "bm9wZQ"})
        assert response.status_code == 400
        assert response.json()["code"] == "invalid_cursor"


class TestGetPilot:
    async def test_liangjiang_keeps_historical_codes_next_to_its_own(
        self, client: httpx.AsyncClient
    ) -> None:
        response = await client.get(f"{BASE}/{LIANGJIANG_PILOT}")
        assert response.status_code == 200
        body = response.json()
        assert body["name"] == "重庆市两江新区"
        assert body["kind"] == "national_new_area"
        assert body["province_name"] == "重庆市"
        regions = {r["code"]: r for r in body["regions"]}
        assert regions["500157"] == {
            "code": "500157",
            "name": "两江新区",
            "level": "county",
            "is_current": True,
            "coverage": "full",
            "is_partial": False,
            "valid_from": "2025-11-06",
            "valid_to": None,
        }
        # The districts 两江新区 took parts of (民政部 2025): covered in part, the two abolished
        # ones up to the day before 500157 was established.
        for code, name in (("500105", "江北区"), ("500112", "渝北区")):
            assert regions[code]["is_current"] is False
            assert regions[code]["name"] == name
            assert regions[code]["coverage"] == "partial"
            assert (regions[code]["valid_from"], regions[code]["valid_to"]) == (None, "2025-11-05")
        assert regions["500109"]["coverage"] == "partial"
        assert regions["500109"]["valid_to"] is None

    async def test_tianfu_covers_parts_of_six_districts(self, client: httpx.AsyncClient) -> None:
        body = (await client.get(f"{BASE}/{TIANFU_PILOT}")).json()
        assert sorted(r["code"] for r in body["regions"]) == [
            "510112",
            "510116",
            "510118",
            "510185",
            "511403",
            "511421",
        ]
        assert all(r["is_partial"] and r["is_current"] for r in body["regions"])

    async def test_unknown_pilot_is_404_problem(self, client: httpx.AsyncClient) -> None:
        response = await client.get(f"{BASE}/00000000-0000-0000-0000-000000000000")
        assert response.status_code == 404
        assert response.headers["content-type"] == "application/problem+json"
        assert response.json()["code"] == "pilot_not_found"

    async def test_malformed_id_is_422(self, client: httpx.AsyncClient) -> None:
        response = await client.get(f"{BASE}/not-a-uuid")
        assert response.status_code == 422


class TestCreatePilot:
    async def test_admin_registers_an_applying_pilot(
        self, client: httpx.AsyncClient, keys: Keys
    ) -> None:
        admin = await keys.admin()
        response = await client.post(
            BASE,
            json=new_pilot(
                regions=[{"code": "440305"}, {"code": "440306", "is_partial": True}],
                implementation_plan_ref="南山区实施方案",
            ),
            headers=admin,
        )
        assert response.status_code == 201, response.text
        body = response.json()
        assert body["status"] == "applying"
        assert body["allowed_actions"] == ["submit"]
        assert body["batch"] == 2
        assert body["province_name"] == "广东省"
        assert body["work_plan_ref"] == "深圳市南山区气候投融资试点工作方案 (2026)"
        assert body["implementation_plan_ref"] == "南山区实施方案"
        assert [(r["code"], r["name"], r["is_partial"]) for r in body["regions"]] == [
            ("440305", "南山区", False),
            ("440306", "宝安区", True),
        ]
        fetched = await client.get(f"{BASE}/{body['id']}")
        assert fetched.json() == body
        listed = await all_pages(client, BASE, status="applying")
        assert [p["id"] for p in listed] == [body["id"]]

    async def test_a_region_key_can_be_scoped_to_the_new_pilot(
        self, client: httpx.AsyncClient, keys: Keys
    ) -> None:
        admin = await keys.admin()
        pilot = (await client.post(BASE, json=new_pilot(), headers=admin)).json()
        response = await client.post(
            "/api/v1/api-keys",
            json={"name": "Nanshan", "role": "region", "scope": f"pilot:{pilot['id']}"},
            headers=admin,
        )
        assert response.status_code == 201

    async def test_anonymous_gets_401_and_other_roles_403(
        self, client: httpx.AsyncClient, keys: Keys
    ) -> None:
        assert (await client.post(BASE, json=new_pilot())).status_code == 401
        for headers in (await keys.region("440305"), await keys.reviewer("44")):
            response = await client.post(BASE, json=new_pilot(), headers=headers)
            assert response.status_code == 403
            assert response.json()["code"] == "wrong_role"
        assert await all_pages(client, BASE, batch=2) == []

    async def test_bad_codes_are_refused_field_by_field_and_nothing_is_created(
        self, client: httpx.AsyncClient, keys: Keys
    ) -> None:
        admin = await keys.admin()
        response = await client.post(
            BASE,
            json=new_pilot(
                province="50",
                regions=[
                    {"code": "500157"},
                    {"code": "500105"},  # 江北区, retired in 2025
                    {"code": "509999"},
                    {"code": "110118"},
                    {"code": "500157"},
                ],
            ),
            headers=admin,
        )
        assert response.status_code == 422
        body = response.json()
        assert body["code"] == "invalid_regions"
        assert [(e["loc"], e["code"]) for e in body["errors"]] == [
            (["body", "regions", 1, "code"], "retired_region"),
            (["body", "regions", 2, "code"], "unknown_region"),
            (["body", "regions", 3, "code"], "region_outside_province"),
            (["body", "regions", 4, "code"], "duplicate_region"),
        ]
        assert len(await all_pages(client, BASE, limit=200)) == 23

    async def test_a_code_inside_another_of_its_codes_is_refused(
        self, client: httpx.AsyncClient, keys: Keys
    ) -> None:
        admin = await keys.admin()
        response = await client.post(
            BASE,
            json=new_pilot(regions=[{"code": "440300"}, {"code": "440305"}]),
            headers=admin,
        )
        assert response.status_code == 422
        assert [(e["loc"], e["code"]) for e in response.json()["errors"]] == [
            (["body", "regions", 1, "code"], "overlapping_regions")
        ]

    async def test_unknown_province_is_refused(self, client: httpx.AsyncClient, keys: Keys) -> None:
        admin = await keys.admin()
        response = await client.post(
            BASE, json=new_pilot(province="99", regions=[{"code": "990100"}]), headers=admin
        )
        assert response.status_code == 422
        codes = {e["code"] for e in response.json()["errors"]}
        assert "unknown_province" in codes

    @pytest.mark.parametrize(
        "override",
        [
            {"kind": "town"},
            {"regions": []},
            {"regions": [{"code": "4403"}]},
            {"name": ""},
            {"batch": 0},
            {"status": "approved"},
        ],
    )
    async def test_schema_violations_are_422(
        self, client: httpx.AsyncClient, keys: Keys, override: dict[str, object]
    ) -> None:
        admin = await keys.admin()
        response = await client.post(BASE, json=new_pilot(**override), headers=admin)
        assert response.status_code == 422
        assert response.json()["code"] == "validation_error"

    async def test_same_name_in_same_batch_is_409(
        self, client: httpx.AsyncClient, keys: Keys
    ) -> None:
        admin = await keys.admin()
        assert (await client.post(BASE, json=new_pilot(), headers=admin)).status_code == 201
        again = await client.post(BASE, json=new_pilot(), headers=admin)
        assert again.status_code == 409
        assert again.json()["code"] == "pilot_exists"
        first_batch_name = await client.post(
            BASE,
            json=new_pilot(name="广东省深圳市福田区", batch=1, regions=[{"code": "440304"}]),
            headers=admin,
        )
        assert first_batch_name.status_code == 409
        assert len(await all_pages(client, BASE, province="44")) == 3


class TestUpdatePilot:
    async def test_admin_sets_the_implementation_plan_and_adds_a_new_code(
        self, client: httpx.AsyncClient, keys: Keys
    ) -> None:
        admin = await keys.admin()
        before = (await client.get(f"{BASE}/{FUTIAN_PILOT}")).json()
        response = await client.patch(
            f"{BASE}/{FUTIAN_PILOT}",
            json={
                "implementation_plan_ref": "福田区气候投融资试点实施方案",
                "regions": [{"code": "440304"}, {"code": "440305", "is_partial": True}],
            },
            headers=admin,
        )
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["implementation_plan_ref"] == "福田区气候投融资试点实施方案"
        assert body["designation_ref"] == before["designation_ref"]
        assert [(r["code"], r["is_partial"]) for r in body["regions"]] == [
            ("440304", False),
            ("440305", True),
        ]
        assert body["updated_at"] > before["updated_at"]
        assert (await client.get(f"{BASE}/{FUTIAN_PILOT}")).json() == body
        # The first batch was loaded at 2026-11-26T00:00:00Z; the update happened after that.
        changed = (await client.get(BASE, params={"updated_since": "2026-11-26T00:00:01Z"})).json()
        assert [p["id"] for p in changed["items"]] == [FUTIAN_PILOT]

    async def test_invalid_codes_change_nothing(
        self, client: httpx.AsyncClient, keys: Keys
    ) -> None:
        admin = await keys.admin()
        before = (await client.get(f"{BASE}/{FUTIAN_PILOT}")).json()
        body: dict[str, Any]
        for body in (
            {"regions": [{"code": "110118"}], "work_plan_ref": "x"},
            {"regions": None},
            {"regions": []},
            {"name": "renamed"},
        ):
            response = await client.patch(f"{BASE}/{FUTIAN_PILOT}", json=body, headers=admin)
            assert response.status_code == 422, body
        assert (await client.get(f"{BASE}/{FUTIAN_PILOT}")).json() == before

    async def test_only_admins_update(self, client: httpx.AsyncClient, keys: Keys) -> None:
        own_key = await keys.region(f"pilot:{FUTIAN_PILOT}")
        response = await client.patch(
            f"{BASE}/{FUTIAN_PILOT}", json={"work_plan_ref": "x"}, headers=own_key
        )
        assert response.status_code == 403
        missing = await client.patch(
            f"{BASE}/00000000-0000-0000-0000-000000000000",
            json={"work_plan_ref": "x"},
            headers=await keys.admin(),
        )
        assert missing.status_code == 404
