"""Routes that encode their JSON themselves still answer the shape they declare.

Such a route bypasses FastAPI's check of ``response_model`` (app/routers/__init__.py says when a
route may). Here real answers of each one, on both databases, are validated against its declared
model, and compared with the model's own encoding of them: no required field missing, no field
the model lacks, each value of the JSON kind the model writes (a string for money, say).
"""

import csv
import io
import typing
from typing import Any

import httpx
from fastapi import FastAPI
from fastapi.routing import APIRoute, iter_route_contexts
from pydantic import TypeAdapter
from starlette.responses import Response
from starlette.routing import compile_path

from app.main import create_app
from app.responses import json_response
from app.schemas.common import Page
from tests.conftest import Keys
from tests.factories import PROJECTS as BASE
from tests.factories import institution_headers
from tests.factories import project_payload as payload

# (method, path) of every route that returns a Response it built while declaring a JSON model.
CHECKED = {
    ("POST", "/api/v1/projects"),
    ("GET", "/api/v1/projects"),
    ("GET", "/api/v1/projects/{project_id}"),
    ("PATCH", "/api/v1/projects/{project_id}"),
    ("POST", "/api/v1/projects/{project_id}/transitions"),
    ("POST", "/api/v1/projects/batch"),
    ("POST", "/api/v1/projects/import"),
    # tests/api/results/test_documents.py (TestIdempotencyKey)
    ("POST", "/api/v1/projects/{project_id}/documents"),
    # tests/api/test_raw_answers_figures.py
    ("GET", "/api/v1/stats/overview"),
    ("GET", "/api/v1/products/{product_id}/matches"),
    ("GET", "/api/v1/projects/{project_id}/matches"),
}


def _declaring_routes(app: FastAPI) -> dict[tuple[str, str], tuple[Any, bool]]:
    """(method, path) → the declared response model, and whether the endpoint returns a
    Response it built, for every route that declares one."""
    out = {}
    for context in iter_route_contexts(app.routes):
        route = context.original_route
        if not isinstance(route, APIRoute) or route.response_model is None:
            continue
        returns = typing.get_type_hints(route.endpoint).get("return")
        raw = isinstance(returns, type) and issubclass(returns, Response)
        for method in route.methods or ():
            out[method, context.path or route.path] = (route.response_model, raw)
    return out


def _raw_routes(app: FastAPI) -> set[tuple[str, str]]:
    return {key for key, (_model, raw) in _declaring_routes(app).items() if raw}


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    kinds: dict[type, str] = {str: "string", list: "array", dict: "object"}
    return kinds[type(value)]


def _assert_same_shape(sent: Any, declared: Any, where: str = "") -> None:
    """``sent`` has no field that ``declared`` lacks, and each value is of the same JSON kind
    (a null where the model allows one aside)."""
    if sent is None or declared is None:
        return
    assert _kind(sent) == _kind(declared), f"{where}: {sent!r} is not like {declared!r}"
    if isinstance(sent, dict):
        assert set(sent) <= set(declared), f"{where}: undeclared {set(sent) - set(declared)}"
        for key, value in sent.items():
            _assert_same_shape(value, declared[key], f"{where}.{key}")
    elif isinstance(sent, list):
        for n, (value, model_value) in enumerate(zip(sent, declared, strict=True)):
            _assert_same_shape(value, model_value, f"{where}[{n}]")


def assert_declared_shape(app: FastAPI, response: httpx.Response, route: str) -> Any:
    """The answer validates against the response_model of ``route`` ("METHOD /path/{param}"),
    and re-encoded from the model it has the same fields, each of the same JSON kind."""
    assert response.headers["content-type"] == "application/json", response.text
    method, path = route.split(" ")
    assert compile_path(path)[0].fullmatch(response.request.url.path), route
    model, _raw = _declaring_routes(app)[method, path]
    adapter: TypeAdapter[Any] = TypeAdapter(model)
    body = response.json()
    declared = adapter.dump_python(adapter.validate_python(body), mode="json", by_alias=True)
    _assert_same_shape(body, declared)
    return body


def test_every_raw_json_route_is_checked_here() -> None:
    assert _raw_routes(create_app()) <= CHECKED


def test_the_finder_tells_raw_routes_from_checked_ones() -> None:
    probe = FastAPI()

    @probe.get("/raw", response_model=Page[int])
    async def raw() -> Response:
        return json_response({"items": [], "next_cursor": None})

    @probe.get("/checked", response_model=Page[int])
    async def checked() -> Page[int]:
        return Page[int](items=[])

    @probe.delete("/gone", status_code=204)
    async def gone() -> Response:
        return Response(status_code=204)

    assert _raw_routes(probe) == {("GET", "/raw")}


async def _check(app: FastAPI, response: httpx.Response, route: str, status: int = 200) -> Any:
    assert response.status_code == status, response.text
    return assert_declared_shape(app, response, route)


CREATE, LIST = "POST /api/v1/projects", "GET /api/v1/projects"
GET, UPDATE = "GET /api/v1/projects/{project_id}", "PATCH /api/v1/projects/{project_id}"
TRANSITION = "POST /api/v1/projects/{project_id}/transitions"
BATCH, IMPORT = "POST /api/v1/projects/batch", "POST /api/v1/projects/import"


async def test_project_answers_in_every_view(
    client: httpx.AsyncClient, keys: Keys, app: FastAPI
) -> None:
    region = await keys.region("440304")
    headers = region | {"Idempotency-Key": "shape-1"}
    first = await client.post(BASE, json=payload(), headers=headers)
    project = await _check(app, first, CREATE, 201)
    replayed = await client.post(BASE, json=payload(), headers=headers)
    assert await _check(app, replayed, CREATE, 201) == project
    url = f"{BASE}/{project['id']}"
    patched = await client.patch(
        url,
        json={"summary": "Rooftop solar and storage.", "tenor_months": None},
        headers=region | {"If-Match": first.headers["etag"]},
    )
    await _check(app, patched, UPDATE)
    steps = [
        (region, "submit"),
        (await keys.reviewer("44"), "recommend"),
        (await keys.admin(), "approve"),
    ]
    for actor, action in steps:
        etag = (await client.get(url, headers=actor)).headers["etag"]
        moved = await client.post(
            f"{url}/transitions", json={"action": action}, headers=actor | {"If-Match": etag}
        )
        project = await _check(app, moved, TRANSITION)
    assert project["status"] == "in_library"
    bank = await institution_headers(client, keys)
    for viewer in (region, await keys.admin(), await keys.reviewer("44"), bank, {}):
        await _check(app, await client.get(url, headers=viewer), GET)
        page = await _check(app, await client.get(BASE, headers=viewer), LIST)
        assert [p["id"] for p in page["items"]] == [project["id"]]
    await client.post(BASE, json=payload(name="Second"), headers=region)
    first_page = await client.get(BASE, params={"limit": 1}, headers=region)
    assert (await _check(app, first_page, LIST))["next_cursor"]


async def test_bulk_answers(client: httpx.AsyncClient, keys: Keys, app: FastAPI) -> None:
    region = await keys.region("440304")
    items = [payload(external_ref=f"S-{n}", name=f"Shape {n}") for n in range(3)]
    items.append(payload(external_ref="S-bad", financing_need="30000000.00"))
    headers = region | {"Idempotency-Key": "shape-batch"}
    sent = await client.post(f"{BASE}/batch", json={"items": items}, headers=headers)
    answer = await _check(app, sent, BATCH)
    assert answer["summary"] == {"created": 3, "updated": 0, "unchanged": 0, "error": 1}
    replayed = await client.post(f"{BASE}/batch", json={"items": items}, headers=headers)
    assert await _check(app, replayed, BATCH) == answer

    exported = await client.get(f"{BASE}/export", headers=region)
    rows = list(csv.reader(io.StringIO(exported.content.decode("utf-8-sig"), newline="")))
    rows[1][rows[0].index("name")] = ""
    buffer = io.StringIO()
    csv.writer(buffer).writerows(rows)
    imported = await client.post(
        f"{BASE}/import",
        headers=region,
        files={"file": ("shape.csv", buffer.getvalue().encode("utf-8-sig"), "text/csv")},
    )
    answer = await _check(app, imported, IMPORT)
    assert answer["summary"] == {"created": 0, "updated": 0, "unchanged": 2, "error": 1}
