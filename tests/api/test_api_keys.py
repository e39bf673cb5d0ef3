"""API keys: only admins issue, list and revoke; secrets appear once; revoked keys stop working."""

import httpx
import pytest

from tests.conftest import Keys

BASE = "/api/v1/api-keys"


class TestCreateApiKey:
    async def test_admin_issues_region_key_that_works(
        self, client: httpx.AsyncClient, keys: Keys
    ) -> None:
        admin = await keys.admin()
        response = await client.post(
            BASE, json={"name": "Futian", "role": "region", "scope": "440304"}, headers=admin
        )
        assert response.status_code == 201
        body = response.json()
        assert body["key"].startswith("clk_") and len(body["key"]) > 40
        assert body["role"] == "region" and body["scope"] == "440304"
        assert body["prefix"] == body["key"][:12]
        listed = await client.get(BASE, headers={"Authorization": f"Bearer {body['key']}"})
        assert listed.status_code == 403
        assert listed.json()["code"] == "wrong_role"

    async def test_anonymous_gets_401_problem(self, client: httpx.AsyncClient) -> None:
        response = await client.post(BASE, json={"name": "x", "role": "admin"})
        assert response.status_code == 401
        assert response.headers["content-type"] == "application/problem+json"
        assert response.json()["code"] == "unauthorized"

    async def test_unknown_key_gets_401(self, client: httpx.AsyncClient) -> None:
        response = await client.get(BASE, headers={"Authorization": "Bearer clk_nonsense"})
        assert response.status_code == 401
        assert response.json()["code"] == "invalid_api_key"

    async def test_non_bearer_scheme_gets_401(self, client: httpx.AsyncClient) -> None:
        response = await client.get(BASE, headers={"Authorization": "Basic Zm9vOmJhcg=="})
        assert response.status_code == 401

    @pytest.mark.parametrize(
        ("role", "scope"),
        [
            ("admin", "44"),
            ("reviewer", None),
            ("reviewer", "4403"),
            ("reviewer", "99"),
            ("region", "999999"),
            ("region", "500105"),  # retired in 2025: not a current code
            ("region", "pilot:not-a-uuid"),
            ("region", "pilot:00000000-0000-0000-0000-000000000000"),
            ("institution", "00000000-0000-0000-0000-000000000000"),
        ],
    )
    async def test_invalid_scope_is_refused(
        self, client: httpx.AsyncClient, keys: Keys, role: str, scope: str | None
    ) -> None:
        admin = await keys.admin()
        before = [k["id"] for k in (await client.get(BASE, headers=admin)).json()["items"]]
        response = await client.post(
            BASE, json={"name": "x", "role": role, "scope": scope}, headers=admin
        )
        assert response.status_code == 422
        assert response.json()["code"] == "invalid_scope"
        assert response.json()["errors"][0]["loc"] == ["body", "scope"]
        after = [k["id"] for k in (await client.get(BASE, headers=admin)).json()["items"]]
        assert after == before

    async def test_unknown_field_is_refused(self, client: httpx.AsyncClient, keys: Keys) -> None:
        admin = await keys.admin()
        response = await client.post(
            BASE, json={"name": "x", "role": "admin", "is_root": True}, headers=admin
        )
        assert response.status_code == 422
        assert response.json()["errors"] == [
            {
                "loc": ["body", "is_root"],
                "code": "unknown_field",
                "message": "Extra inputs are not permitted",
            }
        ]

    async def test_non_admin_roles_get_403(self, client: httpx.AsyncClient, keys: Keys) -> None:
        for headers in (await keys.reviewer("44"), await keys.region("440304")):
            response = await client.post(BASE, json={"name": "x", "role": "admin"}, headers=headers)
            assert response.status_code == 403


class TestListApiKeys:
    async def test_list_never_shows_secrets_and_paginates(
        self, client: httpx.AsyncClient, keys: Keys
    ) -> None:
        admin = await keys.admin()
        for i in range(5):
            await client.post(
                BASE, json={"name": f"k{i}", "role": "reviewer", "scope": "44"}, headers=admin
            )
        seen: list[str] = []
        cursor = None
        while True:
            params = {"limit": 2} | ({"cursor": cursor} if cursor else {})
            page = (await client.get(BASE, params=params, headers=admin)).json()
            assert all("key" not in item and "digest" not in item for item in page["items"])
            seen += [item["id"] for item in page["items"]]
            cursor = page["next_cursor"]
            if cursor is None:
                break
        assert len(seen) == 6 and len(set(seen)) == 6

    async def test_garbled_cursor_is_400(self, client: httpx.AsyncClient, keys: Keys) -> None:
        response = await client.get(BASE, params={"cursor": "!!!"}, headers=await keys.admin())
        assert response.status_code == 400
        assert response.json()["code"] == "invalid_cursor"


class TestRevokeApiKey:
    async def test_revoked_key_gets_401(self, client: httpx.AsyncClient, keys: Keys) -> None:
        admin = await keys.admin()
        created = (
            await client.post(BASE, json={"name": "k", "role": "admin"}, headers=admin)
        ).json()
        other = {"Authorization": f"Bearer {created['key']}"}
        assert (await client.get(BASE, headers=other)).status_code == 200
        assert (await client.delete(f"{BASE}/{created['id']}", headers=admin)).status_code == 204
        response = await client.get(BASE, headers=other)
        assert response.status_code == 401
        listed = (await client.get(BASE, params={"include_revoked": True}, headers=admin)).json()[
            "items"
        ]
        assert any(k["id"] == created["id"] and k["revoked_at"] for k in listed)

    async def test_unknown_key_id_is_404(self, client: httpx.AsyncClient, keys: Keys) -> None:
        response = await client.delete(
            f"{BASE}/00000000-0000-0000-0000-000000000000", headers=await keys.admin()
        )
        assert response.status_code == 404
