"""POST /projects: regions push drafts; every field rule answers its own code and field."""

import asyncio
from decimal import Decimal
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from app.models import Pilot, PilotKind, PilotRegion
from tests.conftest import Keys
from tests.factories import PROJECTS as BASE
from tests.factories import USCC, institution_headers
from tests.factories import create_project as create
from tests.factories import project_payload as payload


def _codes(response: httpx.Response) -> dict[str, list[str | int]]:
    return {e["code"]: e["loc"] for e in response.json()["errors"]}


class TestCreateProject:
    async def test_region_creates_draft_with_exact_money(
        self, client: httpx.AsyncClient, keys: Keys
    ) -> None:
        region = await keys.region("440304")
        response = await client.post(
            BASE,
            json=payload(total_investment="12345678901.23", financing_need="12345678901.23"),
            headers=region,
        )
        assert response.status_code == 201
        body = response.json()
        assert body["status"] == "draft"
        assert body["total_investment"] == "12345678901.23"
        assert body["financing_need"] == "12345678901.23"
        assert body["financing_secured"] == "0.00"
        assert body["library_code"] is None
        assert body["version"] == 1
        assert response.headers["etag"] == '"1"'
        assert response.headers["location"] == f"{BASE}/{body['id']}"
        again = await client.get(f"{BASE}/{body['id']}", headers=region)
        assert again.json() == body
        assert Decimal(again.json()["total_investment"]) == Decimal("12345678901.23")

    async def test_integer_money_is_written_with_two_places(
        self, client: httpx.AsyncClient, keys: Keys
    ) -> None:
        body = await create(
            client,
            await keys.region("440304"),
            total_investment="100",
            financing_need="100",
            financing_secured="0.5",
        )
        assert body["total_investment"] == "100.00"
        assert body["financing_need"] == "100.00"
        assert body["financing_secured"] == "0.50"

    async def test_money_with_three_decimals_is_refused(
        self, client: httpx.AsyncClient, keys: Keys
    ) -> None:
        response = await client.post(
            BASE, json=payload(financing_need="10.001"), headers=await keys.region("440304")
        )
        assert response.status_code == 422
        assert response.json()["errors"][0]["loc"] == ["body", "financing_need"]

    async def test_anonymous_gets_401(self, client: httpx.AsyncClient) -> None:
        response = await client.post(BASE, json=payload())
        assert response.status_code == 401

    @pytest.mark.parametrize("role", ["admin", "reviewer", "institution"])
    async def test_other_roles_get_403(
        self, client: httpx.AsyncClient, keys: Keys, app: FastAPI, role: str
    ) -> None:
        if role == "admin":
            auth = await keys.admin()
        elif role == "reviewer":
            auth = await keys.reviewer("44")
        else:
            auth = await institution_headers(client, keys)
        response = await client.post(BASE, json=payload(), headers=auth)
        assert response.status_code == 403
        assert response.json()["code"] == "wrong_role"

    async def test_unknown_field_is_refused(self, client: httpx.AsyncClient, keys: Keys) -> None:
        response = await client.post(
            BASE, json=payload(status="in_library"), headers=await keys.region("440304")
        )
        assert response.status_code == 422
        assert _codes(response) == {"unknown_field": ["body", "status"]}

    async def test_nothing_is_created_by_a_refused_request(
        self, client: httpx.AsyncClient, keys: Keys
    ) -> None:
        region = await keys.region("440304")
        await client.post(BASE, json=payload(owner={"name": "x", "uscc": "bad"}), headers=region)
        listed = await client.get(BASE, headers=region)
        assert listed.json() == {"items": [], "next_cursor": None}

    @pytest.mark.parametrize(
        ("overrides", "code", "loc"),
        [
            (
                {"owner": {"name": "x", "uscc": "9144030071526726XA"}},
                "invalid_uscc",
                ["body", "owner", "uscc"],
            ),
            ({"region_code": "449999"}, "unknown_region", ["body", "region_code"]),
            ({"region_code": "440305"}, "region_out_of_scope", ["body", "region_code"]),
            ({"industry_code": "D441"}, "malformed_industry_code", ["body", "industry_code"]),
            ({"industry_code": "d4415"}, "malformed_industry_code", ["body", "industry_code"]),
            ({"industry_code": "D4715"}, "unknown_industry_division", ["body", "industry_code"]),
            ({"industry_code": "K7199"}, "unknown_industry_division", ["body", "industry_code"]),
            (
                {"financing_need": "25000000.01"},
                "need_exceeds_investment",
                ["body", "financing_need"],
            ),
            (
                {"financing_secured": "12500000.01"},
                "secured_exceeds_need",
                ["body", "financing_secured"],
            ),
            ({"end_date": "2026-12-31"}, "end_before_start", ["body", "end_date"]),
            (
                {"annual_emission_reduction_tco2e": 0},
                "missing_mitigation_benefit",
                ["body", "annual_emission_reduction_tco2e"],
            ),
            (
                {"categories": ["M2", "A1"]},
                "category_objective_mismatch",
                ["body", "categories", 1],
            ),
            (
                {"objective": "adaptation", "categories": ["A2"]},
                "missing_adaptation_benefit",
                ["body", "adaptation_benefit"],
            ),
            (
                {"objective": "both", "categories": ["M2"], "adaptation_benefit": "flood"},
                "category_objective_mismatch",
                ["body", "categories"],
            ),
            ({"categories": ["M2", "M2"]}, "duplicate_category", ["body", "categories"]),
        ],
    )
    async def test_rule_answers_its_code_and_field(
        self,
        client: httpx.AsyncClient,
        keys: Keys,
        overrides: dict[str, Any],
        code: str,
        loc: list[str | int],
    ) -> None:
        response = await client.post(
            BASE, json=payload(**overrides), headers=await keys.region("440304")
        )
        assert response.status_code == 422, response.text
        assert response.headers["content-type"] == "application/problem+json"
        assert response.json()["code"] == "validation_error"
        assert _codes(response) == {code: loc}

    async def test_all_broken_rules_are_reported_at_once(
        self, client: httpx.AsyncClient, keys: Keys
    ) -> None:
        response = await client.post(
            BASE,
            json=payload(
                owner={"name": "x", "uscc": "123"},
                industry_code="Z0000",
                financing_need="30000000.00",
                end_date="2020-01-01",
            ),
            headers=await keys.region("440304"),
        )
        assert response.status_code == 422
        assert set(_codes(response)) == {
            "invalid_uscc",
            "malformed_industry_code",
            "need_exceeds_investment",
            "end_before_start",
        }

    async def test_carbon_sink_satisfies_mitigation_benefit(
        self, client: httpx.AsyncClient, keys: Keys
    ) -> None:
        body = await create(
            client,
            await keys.region("440304"),
            categories=["M6"],
            industry_code="A0220",
            annual_emission_reduction_tco2e=None,
            annual_carbon_sink_tco2e=1200.0,
        )
        assert body["categories"] == ["M6"]

    async def test_both_objectives_need_both_benefits_and_categories(
        self, client: httpx.AsyncClient, keys: Keys
    ) -> None:
        body = await create(
            client,
            await keys.region("440304"),
            objective="both",
            categories=["M2", "A6"],
            adaptation_benefit="Keeps power on in typhoons.",
        )
        assert body["objective"] == "both"
        assert body["categories"] == ["M2", "A6"]

    async def test_abolished_region_code_is_refused_for_new_projects(
        self, client: httpx.AsyncClient, keys: Keys
    ) -> None:
        response = await client.post(
            BASE, json=payload(region_code="500105"), headers=await keys.region("500000")
        )
        assert response.status_code == 422
        assert _codes(response) == {"region_abolished": ["body", "region_code"]}
        assert "500157 (两江新区)" in response.json()["errors"][0]["message"]

    async def test_prefecture_key_covers_its_districts(
        self, client: httpx.AsyncClient, keys: Keys
    ) -> None:
        body = await create(client, await keys.region("440300"), region_code="440305")
        assert body["region_code"] == "440305"

    async def test_pilot_key_covers_the_pilots_codes_only(
        self, client: httpx.AsyncClient, keys: Keys, app: FastAPI
    ) -> None:
        async with app.state.sessions.begin() as session:
            pilot = Pilot(
                name="陕西省西咸新区", kind=PilotKind.national_new_area, province_code="61"
            )
            session.add(pilot)
            await session.flush()
            session.add_all(
                [PilotRegion(pilot_id=pilot.id, region_code=code) for code in ("610402", "610404")]
            )
            pilot_id = pilot.id
        region = await keys.region(f"pilot:{pilot_id}")
        body = await create(client, region, region_code="610404")
        assert body["region_code"] == "610404"
        response = await client.post(BASE, json=payload(region_code="610403"), headers=region)
        assert _codes(response) == {"region_out_of_scope": ["body", "region_code"]}

    async def test_external_ref_is_unique_per_region(
        self, client: httpx.AsyncClient, keys: Keys
    ) -> None:
        region = await keys.region("440304")
        await create(client, region, external_ref="FT-1")
        response = await client.post(BASE, json=payload(external_ref="FT-1"), headers=region)
        assert response.status_code == 409
        assert response.json()["code"] == "duplicate_external_ref"
        other = await create(
            client, await keys.region("440305"), external_ref="FT-1", region_code="440305"
        )
        assert other["external_ref"] == "FT-1"

    async def test_racing_creations_with_one_external_ref_make_one_project(
        self, client: httpx.AsyncClient, keys: Keys
    ) -> None:
        region = await keys.region("440304")
        answers = await asyncio.gather(
            *(
                client.post(BASE, json=payload(external_ref="RACE"), headers=region)
                for _ in range(5)
            )
        )
        assert sorted(a.status_code for a in answers) == [201, 409, 409, 409, 409]
        assert {a.json()["code"] for a in answers if a.status_code == 409} == {
            "duplicate_external_ref"
        }

    async def test_malformed_json_is_400(self, client: httpx.AsyncClient, keys: Keys) -> None:
        headers = {**await keys.region("440304"), "content-type": "application/json"}
        response = await client.post(BASE, content=b"{not json", headers=headers)
        assert response.status_code == 400
        assert response.json()["code"] == "malformed_json"

    async def test_uscc_is_stored_compact(self, client: httpx.AsyncClient, keys: Keys) -> None:
        body = await create(
            client, await keys.region("440304"), owner={"name": "O", "uscc": "91440300 7152-6726xg"}
        )
        assert body["owner"]["uscc"] == USCC

    async def test_valid_uscc_examples_pass(self, client: httpx.AsyncClient, keys: Keys) -> None:
        region = await keys.region("440304")
        for uscc in (USCC, "91350100M000100Y43", "91110000802100433B"):
            body = await create(client, region, owner={"name": "Owner", "uscc": uscc})
            assert body["owner"]["uscc"] == uscc
