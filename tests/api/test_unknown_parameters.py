"""A query parameter the route does not declare answers 400 ``unknown_parameter``, on every route.

A misspelt filter must never list everything as if it were not there, so every route of the app
is tried with one it does not know, and the lists with a misspelling beside a real filter.
"""

import re
import uuid

import httpx
import pytest
from fastapi import FastAPI

from tests.conftest import Keys
from tests.factories import PROJECTS, create_project


def _every_route(app: FastAPI) -> list[tuple[str, str]]:
    """Every operation the document declares, path parameters filled in, and the docs pages."""
    sample = str(uuid.uuid4())
    out = [("GET", "/docs"), ("GET", "/redoc")]
    for template, operations in app.openapi()["paths"].items():
        path = template.replace("{code}", "440304")
        path = re.sub(r"\{[a-z_]+\}", sample, path)
        out.extend((method.upper(), path) for method in sorted(operations))
    return out


class TestUnknownParameters:
    async def test_every_route_refuses_a_parameter_it_does_not_declare(
        self, client: httpx.AsyncClient, app: FastAPI, keys: Keys
    ) -> None:
        admin = await keys.admin()
        routes = _every_route(app)
        assert len(routes) > 30
        for method, path in routes:
            response = await client.request(method, path, params={"zz_unknown": "1"}, headers=admin)
            assert response.status_code == 400, (method, path, response.text)
            assert response.headers["content-type"] == "application/problem+json"
            body = response.json()
            assert body["code"] == "unknown_parameter", (method, path)
            assert body["errors"] == [
                {
                    "loc": ["query", "zz_unknown"],
                    "code": "unknown_parameter",
                    "message": "Not a parameter of this route.",
                }
            ]

    async def test_a_misspelt_filter_is_named_and_nothing_is_listed(
        self, client: httpx.AsyncClient, keys: Keys
    ) -> None:
        region = await keys.region("440304")
        await create_project(client, region)
        response = await client.get(
            PROJECTS, params={"categroy": "M2", "status": "draft", "regoin": "44"}, headers=region
        )
        assert response.status_code == 400
        assert "'categroy', 'regoin'" in response.json()["detail"]
        assert [e["loc"] for e in response.json()["errors"]] == [
            ["query", "categroy"],
            ["query", "regoin"],
        ]

    async def test_declared_parameters_and_their_dependencies_pass(
        self, client: httpx.AsyncClient, keys: Keys
    ) -> None:
        region = await keys.region("440304")
        await create_project(client, region)
        # The filters come from a shared dependency; sort, cursor and limit from the route.
        listed = await client.get(
            PROJECTS,
            params=[("category", "M2"), ("status", "draft"), ("status", "submitted"), ("limit", 5)],
            headers=region,
        )
        assert listed.status_code == 200, listed.text
        assert len(listed.json()["items"]) == 1
        exported = await client.get(
            f"{PROJECTS}/export", params={"format": "csv", "category": "M2"}, headers=region
        )
        assert exported.status_code == 200
        regions = await client.get("/api/v1/regions", params={"parent": "440300", "limit": 2})
        assert regions.status_code == 200

    @pytest.mark.parametrize(
        "path", ["/api/v1/regions?q=福田&include_retired=true&x=", "/api/v1/taxonomy?=1"]
    )
    async def test_empty_names_and_values_are_still_names(
        self, client: httpx.AsyncClient, path: str
    ) -> None:
        response = await client.get(path)
        assert response.status_code == 400
        assert response.json()["code"] == "unknown_parameter"
