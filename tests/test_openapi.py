"""The committed OpenAPI document is exactly what the app serves, and every operation is tidy."""

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx

from app.conditional import PUBLIC_READS, is_json
from app.errors import PROBLEM_MEDIA_TYPE
from app.main import create_app
from app.openapi import render
from tests.conftest import Keys
from tests.factories import in_library
from tests.guard.declared import assert_declared

SPEC = Path(__file__).parent.parent / "openapi" / "openapi.json"


def test_committed_spec_matches_app() -> None:
    assert SPEC.read_text(encoding="utf-8") == render(create_app()), (
        "openapi/openapi.json is stale: run `climatelib openapi` and commit the result"
    )


def test_every_operation_has_id_summary_and_tag() -> None:
    spec = create_app().openapi()
    seen = set()
    for path, item in spec["paths"].items():
        for method, op in item.items():
            where = f"{method.upper()} {path}"
            assert op.get("operationId"), where
            assert "__" not in op["operationId"], f"{where}: generated operationId"
            assert op.get("summary"), where
            assert op.get("tags"), where
            assert op["operationId"] not in seen, where
            seen.add(op["operationId"])


def _walk(node: Any) -> Iterator[dict[str, Any]]:
    if isinstance(node, dict):
        yield node
        for value in node.values():
            yield from _walk(value)
    elif isinstance(node, list):
        for value in node:
            yield from _walk(value)


def _operations(spec: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    for path, item in spec["paths"].items():
        for method, operation in item.items():
            yield f"{method.upper()} {path}", operation


def test_every_error_answer_is_a_problem() -> None:
    spec = json.loads(SPEC.read_text(encoding="utf-8"))
    shared = spec["components"]["responses"]
    problem = {"$ref": "#/components/schemas/Problem"}
    for where, operation in _operations(spec):
        for status, answer in operation["responses"].items():
            if status[:1] not in "45":
                continue
            if "$ref" in answer:
                answer = shared[answer["$ref"].rsplit("/", 1)[-1]]
            assert list(answer["content"]) == [PROBLEM_MEDIA_TYPE], f"{where} {status}"
            schema = answer["content"][PROBLEM_MEDIA_TYPE]["schema"]
            if status == "422":
                validation = {"$ref": "#/components/schemas/ValidationProblem"}
                assert schema == {"anyOf": [validation, problem]}, where
            else:
                assert schema == problem, f"{where} {status}"
    assert "HTTPValidationError" not in SPEC.read_text(encoding="utf-8")
    assert "errors" in spec["components"]["schemas"]["ValidationProblem"]["required"]


def test_every_operation_says_who_may_call_it() -> None:
    spec = create_app().openapi()
    assert spec["servers"], "clients and linters need a server"
    schemes = set(spec["components"]["securitySchemes"])
    for where, operation in _operations(spec):
        assert "security" in operation, where
        for requirement in operation["security"]:
            assert set(requirement) <= schemes, where
    public = dict(_operations(spec))
    assert public["GET /api/v1/taxonomy"]["security"] == []
    assert public["GET /api/v1/projects"]["security"] == [{}, {"HTTPBearer": []}]
    assert public["POST /api/v1/projects"]["security"] == [{"HTTPBearer": []}]


def test_every_creating_post_takes_an_idempotency_key() -> None:
    """A POST that answers 201 creates something, so a retry of it must be safe
    (docs/architecture.md, *Idempotency*); the header is declared exactly where a route uses
    app/idempotency.py."""
    spec = json.loads(SPEC.read_text(encoding="utf-8"))
    for where, operation in _operations(spec):
        if where.startswith("POST ") and "201" in operation["responses"]:
            names = {parameter["name"] for parameter in operation.get("parameters", [])}
            assert "Idempotency-Key" in names, where


def test_schema_names_are_clean_unique_and_their_titles() -> None:
    schemas = create_app().openapi()["components"]["schemas"]
    for name, schema in schemas.items():
        assert re.fullmatch(r"[A-Z][A-Za-z0-9]*", name), f"{name}: not a plain class name"
        assert schema.get("title", name) == name, f"{name}: titled {schema.get('title')}"
    for name in (
        "Objective",
        "TaxonomyObjective",
        "Contact",
        "EngagementContact",
        "ProjectReadPage",
    ):
        assert name in schemas, name


def test_money_and_rates_are_decimal_strings() -> None:
    spec = create_app().openapi()
    for node in _walk(spec):
        types = {branch.get("type") for branch in node.get("anyOf", [])}
        assert not {"number", "string"} <= types, f"number | string: {node}"
    schemas = spec["components"]["schemas"]
    money = [
        schemas["ProjectRead"]["properties"]["total_investment"],
        schemas["ProjectCreate"]["properties"]["financing_need"],
        schemas["Figures"]["properties"]["financing_need"],
        schemas["EngagementRead"]["properties"]["amount"],
        schemas["EngagementCreate"]["properties"]["annual_rate"],
        schemas["ProductRead"]["properties"]["rate_min"]["anyOf"][0],
    ]
    for field in money:
        assert field["type"] == "string", field
        assert re.fullmatch(field["pattern"], "12500000.00") or re.fullmatch(
            field["pattern"], "3.450"
        ), field
        assert not re.fullmatch(field["pattern"], "1e5"), field


async def test_a_refused_query_answers_what_the_document_declares(
    client: httpx.AsyncClient,
) -> None:
    answer = await client.get("/api/v1/products", params={"limit": "abc"})
    assert answer.status_code == 422
    declared = assert_declared("GET", "/api/v1/products", answer)
    assert "ValidationProblem" in json.dumps(declared)
    assert answer.json()["errors"][0]["loc"] == ["query", "limit"]


def _conditional_reads(spec: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """The GETs app/conditional.py answers: under PUBLIC_READS, with a JSON 200."""
    return [
        (path, item["get"])
        for path, item in spec["paths"].items()
        if "get" in item
        and path.startswith(PUBLIC_READS)
        and any(is_json(t) for t in item["get"]["responses"]["200"].get("content", {}))
    ]


def test_every_conditional_read_declares_etag_and_304() -> None:
    spec = json.loads(SPEC.read_text(encoding="utf-8"))
    reads = dict(_conditional_reads(spec))
    assert {
        "/api/v1/projects",
        "/api/v1/projects/{project_id}",
        "/api/v1/projects.geojson",
        "/api/v1/stats/overview",
        "/api/v1/institutions/{institution_id}",
        "/api/v1/taxonomy",
    } <= set(reads)
    not_modified = spec["components"]["responses"]["NotModified"]
    assert not_modified["headers"]["ETag"]["required"] is True
    assert "content" not in not_modified
    for path, operation in reads.items():
        answers = operation["responses"]
        assert "ETag" in answers["200"]["headers"], path
        assert answers["304"] == {"$ref": "#/components/responses/NotModified"}, path
        headers = {p["name"] for p in operation["parameters"] if p["in"] == "header"}
        assert "If-None-Match" in headers, path
    # A route's own success headers stay beside the added ones.
    assert "X-Updated-Until" in reads["/api/v1/projects"]["responses"]["200"]["headers"]
    # What is not a conditional read declares neither.
    for where, operation in _operations(spec):
        path = where.split(" ", 1)[1]
        if not (where.startswith("GET ") and path in reads):
            assert "304" not in operation["responses"], where


def test_every_if_match_write_declares_428_412_and_its_etag() -> None:
    spec = json.loads(SPEC.read_text(encoding="utf-8"))
    writes = [
        (where, operation)
        for where, operation in _operations(spec)
        if any(p["name"] == "If-Match" for p in operation.get("parameters", []))
    ]
    assert {where for where, _ in writes} == {
        "PATCH /api/v1/projects/{project_id}",
        "POST /api/v1/projects/{project_id}/transitions",
        "PATCH /api/v1/institutions/{institution_id}",
    }
    # One declaration of the header (app/routers/if_match.py), the same on every write.
    declared = [
        [p for p in operation["parameters"] if p["name"] == "If-Match"] for _, operation in writes
    ]
    assert all(d == declared[0] for d in declared) and len(declared[0]) == 1
    for where, operation in writes:
        answers = operation["responses"]
        assert "428" in answers, where
        assert answers["412"]["headers"]["ETag"]["required"] is True, where
        for status, answer in answers.items():
            if status.startswith("2"):
                assert answer["headers"]["ETag"]["required"] is True, (where, status)


async def test_conditional_answers_are_the_declared_ones(
    client: httpx.AsyncClient, keys: Keys
) -> None:
    spec = json.loads(SPEC.read_text(encoding="utf-8"))
    futian = await keys.region("440304")
    project = await in_library(client, keys, futian)
    # Every conditional read without a path parameter, as the public calls it.
    for path, _operation in _conditional_reads(spec):
        if "{" in path:
            continue
        first = await client.get(path)
        if first.status_code != 200:  # a read that needs parameters or a key
            continue
        assert "etag" in first.headers, path
        again = await client.get(path, headers={"If-None-Match": first.headers["etag"]})
        assert again.status_code == 304 and again.content == b"", path
        assert again.headers["etag"] == first.headers["etag"], path
    # A project for the key that writes it: its version, If-Match's 428 and 412.
    url = f"/api/v1/projects/{project['id']}"
    read = await client.get(url, headers=futian)
    assert_declared("GET", "/api/v1/projects/{project_id}", read)
    patch = {"financing_secured": "1000.00"}  # a progress field: changes at once
    missing = await client.patch(url, json=patch, headers=futian)
    assert missing.status_code == 428
    updated = await client.patch(
        url, json=patch, headers={**futian, "If-Match": read.headers["etag"]}
    )
    assert_declared("PATCH", "/api/v1/projects/{project_id}", updated)
    stale = await client.patch(
        url, json=patch, headers={**futian, "If-Match": read.headers["etag"]}
    )
    assert stale.status_code == 412
    assert_declared("PATCH", "/api/v1/projects/{project_id}", stale)
    assert stale.headers["etag"] == updated.headers["etag"]
