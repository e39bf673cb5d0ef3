"""Institutions: admins register them (USCC checked), anyone reads them."""

import httpx

from tests.conftest import Keys
from tests.factories import make_uscc

BASE = "/api/v1/institutions"


class TestCreateInstitution:
    async def test_admin_registers_and_public_reads(
        self, client: httpx.AsyncClient, keys: Keys
    ) -> None:
        admin = await keys.admin()
        uscc = make_uscc()
        response = await client.post(
            BASE, json={"name": "湖州银行", "uscc": uscc, "type": "bank"}, headers=admin
        )
        assert response.status_code == 201
        body = response.json()
        assert body["name"] == "湖州银行" and body["uscc"] == uscc and body["type"] == "bank"
        one = await client.get(f"{BASE}/{body['id']}")
        assert one.status_code == 200 and one.json() == body
        listed = await client.get(BASE, params={"type": "bank"})
        assert [i["id"] for i in listed.json()["items"]] == [body["id"]]

    async def test_bad_checksum_is_refused_and_nothing_is_created(
        self, client: httpx.AsyncClient, keys: Keys
    ) -> None:
        admin = await keys.admin()
        response = await client.post(
            BASE, json={"name": "x", "uscc": "91350100M000100Y44", "type": "bank"}, headers=admin
        )
        assert response.status_code == 422
        assert response.headers["content-type"] == "application/problem+json"
        assert response.json()["code"] == "invalid_uscc"
        assert response.json()["errors"][0]["loc"] == ["body", "uscc"]
        assert (await client.get(BASE)).json()["items"] == []

    async def test_duplicate_uscc_conflicts(self, client: httpx.AsyncClient, keys: Keys) -> None:
        admin = await keys.admin()
        body = {"name": "x", "uscc": make_uscc(), "type": "fund"}
        assert (await client.post(BASE, json=body, headers=admin)).status_code == 201
        again = await client.post(BASE, json={**body, "name": "y"}, headers=admin)
        assert again.status_code == 409
        assert again.json()["code"] == "institution_exists"

    async def test_unknown_type_is_refused(self, client: httpx.AsyncClient, keys: Keys) -> None:
        admin = await keys.admin()
        response = await client.post(
            BASE, json={"name": "x", "uscc": make_uscc(), "type": "casino"}, headers=admin
        )
        assert response.status_code == 422
        assert response.json()["errors"][0]["loc"] == ["body", "type"]

    async def test_only_admin_registers(self, client: httpx.AsyncClient, keys: Keys) -> None:
        body = {"name": "x", "uscc": make_uscc(), "type": "bank"}
        assert (await client.post(BASE, json=body)).status_code == 401
        region = await keys.region("440304")
        response = await client.post(BASE, json=body, headers=region)
        assert response.status_code == 403


class TestGetInstitution:
    async def test_unknown_id_is_404_problem(self, client: httpx.AsyncClient) -> None:
        response = await client.get(f"{BASE}/00000000-0000-0000-0000-000000000000")
        assert response.status_code == 404
        assert response.json()["code"] == "institution_not_found"
