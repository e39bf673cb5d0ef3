"""What schemathesis' full checks found where the server and the document disagreed, pinned down
through HTTP as each actor meets it (tests/test_fuzz.py finds such things; these keep them fixed).
"""

import httpx

from tests.conftest import Keys
from tests.factories import PROJECTS, in_library, institution_headers, product


def _codes(response: httpx.Response) -> dict[str, list[str | int]]:
    return {e["code"]: e["loc"] for e in response.json()["errors"]}


class TestMethodNotAllowed:
    async def test_allow_lists_every_method_of_the_path(self, client: httpx.AsyncClient) -> None:
        for path, methods in [
            ("/api/v1/api-keys", {"GET", "POST"}),
            ("/api/v1/projects", {"GET", "POST"}),
            ("/api/v1/products", {"GET", "POST"}),
        ]:
            response = await client.put(path)
            assert response.status_code == 405
            assert response.headers["content-type"] == "application/problem+json"
            allowed = {m.strip() for m in response.headers["allow"].split(",")}
            assert allowed - {"HEAD"} == methods, (path, allowed)

    async def test_a_concrete_path_is_not_its_templated_neighbour(
        self, client: httpx.AsyncClient
    ) -> None:
        # /projects/export has the shape of /projects/{project_id}; its Allow is its own.
        for path, methods in [
            ("/api/v1/projects/export", {"GET"}),
            ("/api/v1/projects/import", {"POST"}),
            ("/api/v1/projects/batch", {"POST"}),
        ]:
            response = await client.options(path)
            assert response.status_code == 405, path
            allowed = {m.strip() for m in response.headers["allow"].split(",")}
            assert allowed - {"HEAD"} == methods, (path, allowed)


class TestAnonymousTransition:
    async def test_public_learns_a_key_is_needed_not_the_status(
        self, client: httpx.AsyncClient, keys: Keys
    ) -> None:
        project = await in_library(client, keys, await keys.region("440304"))
        # submit is not possible from in_library; the public is told first that it needs a key.
        response = await client.post(
            f"{PROJECTS}/{project['id']}/transitions", json={"action": "submit"}
        )
        assert response.status_code == 401
        assert response.json()["code"] != "invalid_transition"


class TestLaxValuesRefused:
    async def test_updated_since_as_a_number_is_refused(self, client: httpx.AsyncClient) -> None:
        for path in (PROJECTS, "/api/v1/pilots"):
            response = await client.get(path, params={"updated_since": "0.5"})
            assert response.status_code == 422, path
            assert _codes(response) == {"datetime_parsing": ["query", "updated_since"]}
            taken = await client.get(path, params={"updated_since": "2026-01-01T00:00:00Z"})
            assert taken.status_code == 200, path

    async def test_lax_readings_of_integers_dates_and_booleans_are_refused(
        self, client: httpx.AsyncClient, keys: Keys
    ) -> None:
        admin = await keys.admin()
        response = await client.post(
            "/api/v1/matching/preview",
            json={
                "type": "green_loan",
                "limit": False,
                "valid_from": 0,
                "tenor_min_months": True,
                "requires_verification": 1,
            },
            headers=admin,
        )
        assert response.status_code == 422
        found = {(e["code"], tuple(e["loc"])) for e in response.json()["errors"]}
        assert found == {
            ("int_type", ("body", "limit")),
            ("int_type", ("body", "tenor_min_months")),
            ("date_type", ("body", "valid_from")),
            ("bool_type", ("body", "requires_verification")),
        }
        refused = await client.post(
            "/api/v1/matching/preview",
            json={"type": "green_loan", "min_emission_reduction_tco2e": False},
            headers=admin,
        )
        assert refused.status_code == 422
        assert _codes(refused) == {"float_type": ["body", "min_emission_reduction_tco2e"]}
        taken = await client.post(
            "/api/v1/matching/preview",
            json={"type": "green_loan", "limit": 5, "valid_from": "2026-01-01"},
            headers=admin,
        )
        assert taken.status_code == 200, taken.text


class TestProductPatch:
    async def test_name_may_be_left_out_but_not_null(
        self, client: httpx.AsyncClient, keys: Keys
    ) -> None:
        bank = await institution_headers(client, keys)
        made = await product(client, bank)
        url = f"/api/v1/products/{made['id']}"
        spec = (await client.get("/openapi.json")).json()
        declared = spec["components"]["schemas"]["ProductUpdate"]["properties"]["name"]
        assert declared["type"] == "string"
        assert "anyOf" not in declared
        refused = await client.patch(url, json={"name": None}, headers=bank)
        assert refused.status_code == 422
        assert _codes(refused) == {"required": ["body", "name"]}
        kept = await client.patch(url, json={"description": "Terms."}, headers=bank)
        assert kept.status_code == 200
        assert kept.json()["name"] == made["name"]


class TestIdempotencyKeyForm:
    async def test_key_outside_the_declared_form_is_400(
        self, client: httpx.AsyncClient, keys: Keys
    ) -> None:
        spec = (await client.get("/openapi.json")).json()
        (declared,) = [
            p
            for p in spec["paths"]["/api/v1/projects"]["post"]["parameters"]
            if p["name"] == "Idempotency-Key"
        ]
        assert declared["schema"]["maxLength"] == 200
        assert declared["schema"]["pattern"]
        bank = await institution_headers(client, keys)
        # A byte beyond ASCII (printable in Latin-1, so taken before), and one character too many.
        for key in ("clé-1".encode("latin-1"), b"k" * 201):
            response = await client.post(
                "/api/v1/products",
                json={"name": "绿色贷", "type": "green_loan"},
                headers=[
                    *((k.encode(), v.encode()) for k, v in bank.items()),
                    (b"Idempotency-Key", key),
                ],
            )
            assert response.status_code == 400, key
            assert response.json()["code"] == "invalid_idempotency_key"
