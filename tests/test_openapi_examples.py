"""Every example in the committed OpenAPI document is valid against the schema it illustrates.

Examples live on the schema models (``json_schema_extra`` examples in app/schemas/, the problem
shapes in app/errors.py and app/openapi.py) and on single fields; a generated client's docs and
schemathesis' examples phase both take them at their word, so a stale example is a bug. Checked
with schemathesis' own validator (JSON Schema 2020-12, formats included), references resolved
against the document itself.
"""

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jsonschema_rs

SPEC = Path(__file__).parent.parent / "openapi" / "openapi.json"

# The main operations, and where their examples are: the request body's schema, or the answer's.
MAIN = {
    ("create_project", "request"),
    ("update_project", "request"),
    ("transition_project", "request"),
    ("create_product", "request"),
    ("create_engagement", "request"),
    ("transition_engagement", "request"),
    ("create_engagement", "answer"),
    ("list_project_matches", "answer"),
    ("list_product_matches", "answer"),
    ("get_stats_overview", "answer"),
    ("get_taxonomy", "answer"),
}


def _pointer(path: tuple[str, ...]) -> str:
    return "#/" + "/".join(p.replace("~", "~0").replace("/", "~1") for p in path)


def _examples(node: Any, path: tuple[str, ...] = ()) -> Iterator[tuple[str, str, Any]]:
    """(where, pointer of the schema, example) for every example in the document."""
    if isinstance(node, list):
        for i, item in enumerate(node):
            yield from _examples(item, (*path, str(i)))
        return
    if not isinstance(node, dict):
        return
    if "schema" in node and ("example" in node or isinstance(node.get("examples"), dict)):
        # A media type or a parameter: its examples illustrate its schema.
        schema = _pointer((*path, "schema"))
        if "example" in node:
            yield _pointer(path), schema, node["example"]
        for name, example in (node.get("examples") or {}).items():
            yield f"{_pointer(path)}/examples/{name}", schema, example["value"]
    elif isinstance(node.get("examples"), list) and path[-1:] != ("properties",):
        for i, example in enumerate(node["examples"]):
            yield f"{_pointer(path)}/examples/{i}", _pointer(path), example
    for key, value in node.items():
        if key not in ("examples", "example"):
            yield from _examples(value, (*path, key))


def test_every_example_is_valid_against_its_schema() -> None:
    document = json.loads(SPEC.read_text(encoding="utf-8"))
    checked = 0
    invalid = []
    for where, schema, example in _examples(document):
        validator = jsonschema_rs.Draft202012Validator(
            {**document, "$ref": schema}, validate_formats=True
        )
        errors = [f"{e.instance_path}: {e.message}" for e in validator.iter_errors(example)]
        if errors:
            invalid.append(f"{where}: {errors[:3]}")
        checked += 1
    assert not invalid, "\n".join(invalid)
    assert checked > 100, checked


def _schema_of(content: dict[str, Any]) -> dict[str, Any]:
    (media,) = content.values()
    schema: dict[str, Any] = media["schema"]
    return schema


def test_main_operations_show_examples() -> None:
    document = json.loads(SPEC.read_text(encoding="utf-8"))
    schemas = document["components"]["schemas"]

    def examples_of(schema: dict[str, Any]) -> list[Any]:
        if "$ref" in schema:
            return examples_of(schemas[schema["$ref"].rsplit("/", 1)[1]])
        if "items" in schema.get("properties", {}):  # a page: its items show the example
            return examples_of(schema["properties"]["items"]["items"])
        found: list[Any] = schema.get("examples", [])
        return found

    seen = set()
    for item in document["paths"].values():
        for operation in item.values():
            op = operation["operationId"]
            if (op, "request") in MAIN:
                body = _schema_of(operation["requestBody"]["content"])
                assert examples_of(body), f"{op}: request body without an example"
                seen.add((op, "request"))
            if (op, "answer") in MAIN:
                ok = next(v for k, v in operation["responses"].items() if k.startswith("2"))
                assert examples_of(_schema_of(ok["content"])), f"{op}: answer without an example"
                seen.add((op, "answer"))
    assert seen == MAIN
    for name in ("Problem", "ValidationProblem"):
        assert schemas[name]["examples"], name
