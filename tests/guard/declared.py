"""Whether an answer is one the OpenAPI document declares for its operation: the status, the
media type, the body against the declared schema, and the declared headers (required ones
present, every one present of its declared type)."""

from functools import cache
from typing import Any

import httpx
import jsonschema_rs

from app.main import create_app


@cache
def document() -> dict[str, Any]:
    return create_app().openapi()


def _resolve(node: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in node:
        target: Any = document()
        for part in node["$ref"].removeprefix("#/").split("/"):
            target = target[part]
        node = target
    return node


def _valid(schema: dict[str, Any], value: Any) -> bool:
    rooted = {**schema, "components": document()["components"]}
    return bool(jsonschema_rs.validator_for(rooted).is_valid(value))


def _header_value(text: str, schema: dict[str, Any]) -> Any:
    return int(text) if schema.get("type") == "integer" and text.isdigit() else text


def assert_declared(method: str, path: str, answer: httpx.Response) -> dict[str, Any]:
    """Fail unless ``answer`` to ``method path`` (the templated path) is declared; the declared
    response object."""
    operation = document()["paths"][path][method.lower()]
    status = str(answer.status_code)
    assert status in operation["responses"], f"{method} {path} does not declare {status}"
    declared = _resolve(operation["responses"][status])
    media_type = answer.headers["content-type"].split(";")[0]
    assert media_type in declared["content"], f"{status}: {media_type} is not declared"
    schema = declared["content"][media_type]["schema"]
    assert _valid(schema, answer.json()), f"{status}: {answer.text} does not match {schema}"
    for name, header in declared.get("headers", {}).items():
        header = _resolve(header)
        value = answer.headers.get(name)
        if value is None:
            assert not header.get("required"), f"{status}: no {name} header"
            continue
        assert _valid(header["schema"], _header_value(value, header["schema"])), (
            f"{status}: {name}: {value!r} does not match {header['schema']}"
        )
    return declared


def declared_headers(method: str, path: str, status: int) -> set[str]:
    operation = document()["paths"][path][method.lower()]
    return {n.lower() for n in _resolve(operation["responses"][str(status)]).get("headers", {})}
