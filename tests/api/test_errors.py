"""Every error the service gives is problem+json with a stable code, and no stack trace leaks."""

from typing import Any

import httpx
from fastapi import FastAPI

from tests.conftest import Keys

PROBLEM = "application/problem+json"


def _assert_problem(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status
    assert response.headers["content-type"] == PROBLEM
    body: dict[str, Any] = response.json()
    assert body["status"] == status
    assert body["code"] == code
    assert body["type"].startswith("https://")
    assert body["title"]
    assert body["detail"]
    assert body["request_id"] == response.headers["x-request-id"]
    return body


class TestErrorFormat:
    async def test_unknown_route_is_404_problem(self, client: httpx.AsyncClient) -> None:
        _assert_problem(await client.get("/api/v1/nowhere"), 404, "not_found")

    async def test_wrong_method_is_405_problem(self, client: httpx.AsyncClient) -> None:
        _assert_problem(await client.put("/api/v1/taxonomy"), 405, "method_not_allowed")

    async def test_malformed_json_is_400_problem(
        self, client: httpx.AsyncClient, keys: Keys
    ) -> None:
        response = await client.post(
            "/api/v1/api-keys",
            content=b'{"name": "x", "role": ',
            headers=await keys.admin() | {"content-type": "application/json"},
        )
        _assert_problem(response, 400, "malformed_json")

    async def test_validation_error_lists_fields(
        self, client: httpx.AsyncClient, keys: Keys
    ) -> None:
        response = await client.post(
            "/api/v1/api-keys", json={"role": "emperor"}, headers=await keys.admin()
        )
        body = _assert_problem(response, 422, "validation_error")
        errors = {tuple(e["loc"]): e["code"] for e in body["errors"]}
        assert errors == {("body", "name"): "required", ("body", "role"): "enum"}

    async def test_bad_query_parameter_is_422(self, client: httpx.AsyncClient) -> None:
        response = await client.get("/api/v1/regions", params={"limit": 1000})
        body = _assert_problem(response, 422, "validation_error")
        assert body["errors"][0]["loc"] == ["query", "limit"]

    async def test_unexpected_exception_is_500_problem_without_trace(
        self, app: FastAPI, client: httpx.AsyncClient
    ) -> None:
        @app.get("/boom")
        async def boom() -> None:
            raise RuntimeError("secret internals")

        response = await client.get("/boom")
        body = _assert_problem(response, 500, "internal_error")
        assert "secret" not in response.text
        assert "Traceback" not in response.text
        assert body["detail"]

    async def test_caller_request_id_is_kept(self, client: httpx.AsyncClient) -> None:
        response = await client.get("/api/v1/nowhere", headers={"x-request-id": "abc-123"})
        assert response.headers["x-request-id"] == "abc-123"
        assert response.json()["request_id"] == "abc-123"


class TestHostileInput:
    async def test_nul_in_a_body_string_is_422(self, client: httpx.AsyncClient, keys: Keys) -> None:
        response = await client.post(
            "/api/v1/api-keys",
            json={"name": "a\u0000b", "role": "admin"},
            headers=await keys.admin(),
        )
        body = _assert_problem(response, 422, "validation_error")
        assert body["errors"][0]["code"] == "nul_character"

    async def test_nul_in_a_nested_list_is_422(self, client: httpx.AsyncClient, keys: Keys) -> None:
        from tests.factories import project_payload as payload

        response = await client.post(
            "/api/v1/projects",
            json=payload(categories=["M2\u0000"]),
            headers=await keys.region("440304"),
        )
        assert response.status_code == 422
        assert (await client.get("/api/v1/projects", headers=await keys.admin())).json()[
            "items"
        ] == []

    async def test_nul_in_the_query_string_is_400(self, client: httpx.AsyncClient) -> None:
        _assert_problem(await client.get("/api/v1/projects?q=a%00b"), 400, "nul_character")

    async def test_absurd_amount_filter_is_422(self, client: httpx.AsyncClient) -> None:
        for value in ("1e400", "99999999999999999999999", "NaN", "Infinity"):
            response = await client.get("/api/v1/projects", params={"need_min": value})
            _assert_problem(response, 422, "validation_error")
