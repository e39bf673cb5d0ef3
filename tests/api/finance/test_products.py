"""Products: the owning institution writes its own, with validated criteria; the public reads
active ones."""

from typing import Any

import httpx
import pytest

from tests.conftest import Keys
from tests.factories import institution, product

BASE = "/api/v1/products"
WEIGHT_NAMES = ("climate_benefit", "amount_fit", "readiness", "verification", "category_targeted")

FULL = {
    "name": "碳减排挂钩贷",
    "type": "sustainability_linked_loan",
    "status": "active",
    "valid_from": "2026-01-01",
    "valid_to": "2027-12-31",
    "quota_total": "500000000.00",
    "objectives": ["mitigation", "both"],
    "categories": ["M2", "M3"],
    "region_prefixes": ["44", "3301"],
    "construction_statuses": ["approved", "under_construction"],
    "amount_min": "1000000.00",
    "amount_max": "50000000.00",
    "tenor_min_months": 12,
    "tenor_max_months": 120,
    "min_emission_reduction_tco2e": 500,
    "requires_verification": True,
    "accepts_two_high_retrofit": False,
    "rate_min": "2.850",
    "rate_max": "3.600",
    "weights": {"climate_benefit": 60, "readiness": 20},
}


class TestCreateProduct:
    async def test_institution_publishes_and_public_reads_every_criterion(
        self, client: httpx.AsyncClient, keys: Keys
    ) -> None:
        institution_id, bank = await institution(client, keys)
        created = await product(client, bank, **FULL)
        assert created["institution_id"] == institution_id
        assert created["quota_used"] == "0.00" and created["quota_total"] == "500000000.00"
        assert created["amount_min"] == "1000000.00" and created["rate_min"] == "2.850"
        assert created["region_prefixes"] == ["3301", "44"]
        public = await client.get(f"{BASE}/{created['id']}")
        assert public.status_code == 200
        assert public.json() == created
        listed = await client.get(BASE, params={"type": "sustainability_linked_loan"})
        assert [p["id"] for p in listed.json()["items"]] == [created["id"]]

    @pytest.mark.parametrize(
        ("fields", "loc", "code"),
        [
            (
                {"amount_min": "10.00", "amount_max": "5.00"},
                ["body", "amount_min"],
                "amount_range_order",
            ),
            (
                {"tenor_min_months": 60, "tenor_max_months": 12},
                ["body", "tenor_min_months"],
                "tenor_range_order",
            ),
            ({"rate_min": "5", "rate_max": "3"}, ["body", "rate_min"], "rate_range_order"),
            (
                {"valid_from": "2027-01-01", "valid_to": "2026-01-01"},
                ["body", "valid_from"],
                "validity_order",
            ),
            ({"region_prefixes": ["99"]}, ["body", "region_prefixes", 0], "unknown_region"),
            (
                {
                    "weights": {"readiness": 0},
                },
                None,
                None,
            ),
            (
                {"weights": dict.fromkeys(WEIGHT_NAMES, 0)},
                ["body", "weights"],
                "weights_all_zero",
            ),
            ({"categories": ["M9"]}, ["body", "categories", 0], "literal_error"),
            ({"objectives": ["profit"]}, ["body", "objectives", 0], "enum"),
            (
                {"region_prefixes": ["440"]},
                ["body", "region_prefixes", 0],
                "string_pattern_mismatch",
            ),
            ({"quota_total": "-1"}, ["body", "quota_total"], "greater_than_equal"),
            ({"rate_max": "120"}, ["body", "rate_max"], "less_than_equal"),
            ({"amount_min": "1.005"}, ["body", "amount_min"], "decimal_max_places"),
            ({"weights": {"luck": 5}}, ["body", "weights", "luck", "[key]"], "literal_error"),
            ({"status": "retired"}, ["body", "status"], "literal_error"),
            ({"interest_free": True}, ["body", "interest_free"], "unknown_field"),
        ],
    )
    async def test_invalid_criteria_are_refused_and_nothing_is_created(
        self,
        client: httpx.AsyncClient,
        keys: Keys,
        fields: dict[str, Any],
        loc: list[Any] | None,
        code: str | None,
    ) -> None:
        _, bank = await institution(client, keys)
        response = await client.post(
            BASE, json={"name": "x", "type": "green_loan", **fields}, headers=bank
        )
        if loc is None:  # a partial override of the weights is fine
            assert response.status_code == 201
            return
        assert response.status_code == 422, response.text
        assert response.headers["content-type"] == "application/problem+json"
        errors = response.json()["errors"]
        assert {"loc": loc, "code": code} in [{"loc": e["loc"], "code": e["code"]} for e in errors]
        mine = await client.get(BASE, params={"status": "draft"}, headers=bank)
        assert mine.json()["items"] == []

    async def test_only_institutions_create(self, client: httpx.AsyncClient, keys: Keys) -> None:
        body = {"name": "x", "type": "green_loan"}
        assert (await client.post(BASE, json=body)).status_code == 401
        for headers in (await keys.admin(), await keys.region("440304")):
            response = await client.post(BASE, json=body, headers=headers)
            assert response.status_code == 403
            assert response.json()["code"] == "wrong_role"


class TestProductVisibility:
    async def test_draft_is_visible_to_its_institution_only(
        self, client: httpx.AsyncClient, keys: Keys
    ) -> None:
        _, bank = await institution(client, keys)
        _, other = await institution(client, keys, name="别家银行")
        draft = await product(client, bank, status="draft")
        assert (await client.get(f"{BASE}/{draft['id']}", headers=bank)).status_code == 200
        assert (
            await client.get(f"{BASE}/{draft['id']}", headers=await keys.admin())
        ).status_code == 200
        for headers in ({}, other, await keys.region("440304")):
            response = await client.get(f"{BASE}/{draft['id']}", headers=headers)
            assert response.status_code == 404
            assert response.json()["code"] == "product_not_found"
        assert (await client.get(BASE)).json()["items"] == []
        assert [p["id"] for p in (await client.get(BASE, headers=bank)).json()["items"]] == [
            draft["id"]
        ]


class TestUpdateProduct:
    async def test_owner_edits_pauses_resumes_and_retires(
        self, client: httpx.AsyncClient, keys: Keys
    ) -> None:
        _, bank = await institution(client, keys)
        created = await product(client, bank, amount_max="100.00", categories=["M1"])
        url = f"{BASE}/{created['id']}"
        edited = await client.patch(
            url, json={"amount_max": "200.00", "categories": None}, headers=bank
        )
        assert edited.status_code == 200
        assert edited.json()["amount_max"] == "200.00" and edited.json()["categories"] is None
        assert edited.json()["version"] == created["version"] + 1
        paused = await client.patch(url, json={"status": "paused"}, headers=bank)
        assert paused.json()["status"] == "paused"
        assert (await client.get(url)).status_code == 404
        assert (await client.patch(url, json={"status": "active"}, headers=bank)).json()[
            "status"
        ] == "active"
        assert (await client.patch(url, json={"status": "retired"}, headers=bank)).json()[
            "status"
        ] == "retired"
        final = await client.patch(url, json={"status": "active"}, headers=bank)
        assert final.status_code == 409
        assert final.json()["code"] == "product_retired"

    async def test_active_cannot_return_to_draft(
        self, client: httpx.AsyncClient, keys: Keys
    ) -> None:
        _, bank = await institution(client, keys)
        created = await product(client, bank)
        response = await client.patch(
            f"{BASE}/{created['id']}", json={"status": "draft"}, headers=bank
        )
        assert response.status_code == 409
        assert response.json()["allowed_actions"] == ["paused", "retired"]

    async def test_merged_ranges_are_checked(self, client: httpx.AsyncClient, keys: Keys) -> None:
        _, bank = await institution(client, keys)
        created = await product(client, bank, amount_max="100.00")
        response = await client.patch(
            f"{BASE}/{created['id']}", json={"amount_min": "500.00"}, headers=bank
        )
        assert response.status_code == 422
        assert response.json()["code"] == "amount_range_order"
        unchanged = await client.get(f"{BASE}/{created['id']}")
        assert unchanged.json()["amount_min"] is None

    async def test_other_institution_gets_403_on_active_and_404_on_draft(
        self, client: httpx.AsyncClient, keys: Keys
    ) -> None:
        _, bank = await institution(client, keys)
        _, other = await institution(client, keys, name="别家银行")
        active = await product(client, bank)
        draft = await product(client, bank, status="draft")
        response = await client.patch(
            f"{BASE}/{active['id']}", json={"name": "mine"}, headers=other
        )
        assert response.status_code == 403
        response = await client.patch(f"{BASE}/{draft['id']}", json={"name": "mine"}, headers=other)
        assert response.status_code == 404
        assert (await client.get(f"{BASE}/{active['id']}")).json()["name"] == "绿色贷"

    async def test_name_cannot_be_cleared(self, client: httpx.AsyncClient, keys: Keys) -> None:
        _, bank = await institution(client, keys)
        created = await product(client, bank)
        response = await client.patch(f"{BASE}/{created['id']}", json={"name": None}, headers=bank)
        assert response.status_code == 422
