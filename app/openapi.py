"""The committed OpenAPI document: rendered deterministically so a diff means a real change.

FastAPI's generated document is corrected where it would not tell the truth about what the
server sends: every error is ``application/problem+json`` (FastAPI declares its own 422 shape),
any request may answer 400 for being malformed (a NUL character, a body that
is not JSON), and a route open to the public with more to show a key
declares the key as optional rather than required (``security: [{}, {HTTPBearer: []}]``, either
no requirement or the key); a route anyone may call declares ``security: []``.

Schema names are the classes' own, stable and unique: one schema serves requests and answers
alike (no ``-Input``/``-Output`` pair), and the few classes that share a name across modules get
the names in ``SCHEMA_NAMES`` rather than FastAPI's module paths. Every decimal (money, rates) is
a string with a pattern, never ``number | string``, so generated clients keep it exact.

The refusals that come before any route are declared on every operation they can reach: 414 and
431 (``app/limits.py``, and the server's own cut of a huge head), 413 where a body is taken, 429
with ``Retry-After`` and the ``RateLimit-Policy``/``RateLimit`` fields (``app/ratelimit/``, which
also adds those fields to every answer it lets through), and 503 with ``Retry-After`` wherever the
database may be away (everything but the process's own probes).

Conditional requests are declared from the rules that make them (``_declare_conditional``): a
public read (app/conditional.py's ``PUBLIC_READS``) answering JSON takes ``If-None-Match``, sends
``ETag`` with its 200 and may answer 304; a write that takes ``If-Match`` answers 428 without it,
412 (with the current ``ETag``) when it is stale, and ``ETag`` with its success; a route that
sends its own ``ETag`` otherwise says so with ``SENDS_ETAG``. A route's own success headers
(``X-Updated-Until``) are kept beside the ones added here.
"""

import json
import re
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

from app.conditional import PUBLIC_READS, is_json
from app.errors import PROBLEM_MEDIA_TYPE, responses
from app.ratelimit.policy import UNLIMITED_PATHS

KEY_OPTIONAL: dict[str, Any] = {"x-key-optional": True}
"""``openapi_extra`` of a route anyone may call, that shows more to a key."""

SENDS_ETAG: dict[str, Any] = {"x-sends-etag": True}
"""``openapi_extra`` of a route whose success sends an ``ETag`` that no rule of
``_declare_conditional`` covers (a create answering the new object's version)."""

_PROBLEM = {PROBLEM_MEDIA_TYPE: {"schema": {"$ref": "#/components/schemas/Problem"}}}
# A 422 is a validation problem (one entry per offending field) or a domain rule's refusal.
_UNPROCESSABLE = {
    PROBLEM_MEDIA_TYPE: {
        "schema": {
            "anyOf": [
                {"$ref": "#/components/schemas/ValidationProblem"},
                {"$ref": "#/components/schemas/Problem"},
            ]
        }
    }
}
_BEARER = "HTTPBearer"
_METRICS_SCHEME = "MetricsToken"

SERVERS = [
    {
        "url": "http://{host}:{port}",
        "description": "Wherever `climatelib serve` listens; its defaults are 127.0.0.1:8000.",
        "variables": {"host": {"default": "127.0.0.1"}, "port": {"default": "8000"}},
    }
]
CONTACT = {"name": "climatelib maintainers"}
MONEY_NOTE = (
    "\n\nMoney (CNY) and rates (percent a year) are decimal strings, never floats: answers write "
    'them with two and three places (`"12500000.00"`, `"3.450"`). Requests send them as '
    "strings of the declared pattern: a JSON number is refused (422 `decimal_not_string`), since "
    "a float may have lost digits before the service reads it."
)

SCHEMA_NAMES = {
    "app__models__project__Objective": "Objective",
    "app__schemas__reference__Objective": "TaxonomyObjective",
    "app__schemas__project__Contact": "Contact",
    "app__schemas__engagement__Contact": "EngagementContact",
    "Body_import_projects": "ImportUpload",
    "Body_upload_project_document": "DocumentUpload",
}
"""Names for the schemas FastAPI would name by module path or form; other clashes get
``<Module><Class>`` and pages ``<Item>Page`` (``_schema_name``)."""

# Decimals that are not answers' money (inputs, the statistics' sums): a plain decimal string.
_UNSIGNED_DECIMAL = r"^\d+(\.\d+)?$"
_DECIMAL = r"^-?\d+(\.\d+)?$"

HEADERS: dict[str, dict[str, Any]] = {
    "Retry-After": {
        "description": "Seconds to wait before sending the request again.",
        "required": True,
        "schema": {"type": "integer", "minimum": 0},
    },
    "RateLimit-Policy": {
        "description": (
            "The quotas that apply to the request (IETF draft-ietf-httpapi-ratelimit-headers), "
            'e.g. `"per-key";q=1200;w=60`: q requests per w seconds.'
        ),
        "schema": {"type": "string"},
    },
    "RateLimit": {
        "description": (
            'What is left of each quota, e.g. `"per-key";r=1199;t=1`: r requests remain, '
            "t seconds until the quota has room again."
        ),
        "schema": {"type": "string"},
    },
}
_RATE_FIELDS = ("RateLimit-Policy", "RateLimit")
# Inline where used (each says whether it is required), so not a shared component.
_ETAG: dict[str, Any] = {
    "description": (
        "The answer's entity tag: send it as `If-None-Match` to read again (304 while it "
        "holds) or, where a write takes one, as `If-Match`. A project's for a key that "
        'writes it is its version (`"3"`); elsewhere a hash of the answer as the caller sees '
        "it (vary by `Authorization`)."
    ),
    "schema": {"type": "string"},
}
_IF_NONE_MATCH = {
    "name": "If-None-Match",
    "in": "header",
    "required": False,
    "description": (
        "ETag(s) of an answer the caller holds: while one is still current the answer is 304, "
        "with no body."
    ),
    "schema": {"type": "string"},
}


def _ref(kind: str, name: str) -> dict[str, str]:
    return {"$ref": f"#/components/{kind}/{name}"}


def _refusal(description: str, **headers: dict[str, Any]) -> dict[str, Any]:
    answer: dict[str, Any] = {"description": description, "content": _PROBLEM}
    if headers:
        answer["headers"] = headers
    return answer


RESPONSES: dict[str, dict[str, Any]] = {
    "PayloadTooLarge": _refusal(
        "The request body or uploaded file is larger than its limit (named in the problem)"
    ),
    "UriTooLong": _refusal("The request target is longer than its limit"),
    "TooManyRequests": _refusal(
        "Too many requests: a quota is used up until Retry-After",
        **{"Retry-After": _ref("headers", "Retry-After")},
        **{name: {**HEADERS[name], "required": True} for name in _RATE_FIELDS},
    ),
    "HeadersTooLarge": _refusal("A request header field, or all of them, is larger than its limit"),
    "NotModified": {
        "description": "Not modified: If-None-Match names the current ETag; no body",
        "headers": {
            "ETag": {**_ETAG, "required": True},
            **{name: _ref("headers", name) for name in _RATE_FIELDS},
        },
    },
    "DatabaseUnavailable": _refusal(
        "The database is unavailable for a moment; retry after Retry-After seconds",
        **{"Retry-After": _ref("headers", "Retry-After")},
    ),
}
# The probes answer from the process alone: never limited, never waiting on the database.
_NO_DATABASE = frozenset({"/healthz", "/metrics"})


def render(app: FastAPI) -> str:
    return json.dumps(app.openapi(), ensure_ascii=False, indent=2, sort_keys=True) + "\n"


def install(app: FastAPI) -> None:
    """Make error responses declare ``application/problem+json`` only, which is what they send."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = get_openapi(
                title=app.title,
                version=app.version,
                summary=app.summary,
                description=app.description,
                routes=app.routes,
                tags=app.openapi_tags,
                license_info=app.license_info,
                # One schema per class for requests and answers: no Contact-Input/-Output pair.
                separate_input_output_schemas=False,
            )
            schema["info"]["contact"] = CONTACT
            info = schema["info"]
            info["description"] = info.get("description", "").rstrip() + MONEY_NOTE
            schema["servers"] = SERVERS
            for path, operations in schema.get("paths", {}).items():
                for method, operation in operations.items():
                    _tell_the_truth(operation)
                    _declare_refusals(path, operation)
                    _declare_conditional(path, method, operation)
            components = schema.setdefault("components", {})
            components["headers"] = HEADERS
            components["responses"] = RESPONSES
            components.setdefault("securitySchemes", {})[_METRICS_SCHEME] = {
                "type": "http",
                "scheme": "bearer",
                "description": "CLIMATELIB_METRICS_SCHEME, when the server has one.",
            }
            schemas = components.setdefault("schemas", {})
            for name in ("HTTPValidationError", "ValidationError"):
                schemas.pop(name, None)
            schemas["ValidationProblem"] = _validation_problem(schemas["Problem"])
            _decimal_strings(schema)
            schema = _rename_schemas(schema)
            _restore_nulls(schema["components"]["schemas"])
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


def _tell_the_truth(operation: dict[str, Any]) -> None:
    answers = operation.setdefault("responses", {})
    for status, response in answers.items():
        if status[:1] in "45":
            response["content"] = dict(_PROBLEM)
    if "422" in answers:
        answers["422"]["description"] = responses(422)[422]["description"]
        answers["422"]["content"] = dict(_UNPROCESSABLE)
    # Any request may be malformed before its route sees it (a NUL in the query, a body that is
    # not JSON), and every such request answers 400.
    if "400" not in answers:
        answers["400"] = {"description": responses(400)[400]["description"], "content": _PROBLEM}
        operation["responses"] = dict(sorted(answers.items()))
    if operation.pop("x-key-optional", False):
        # An empty requirement beside the key's makes the key optional.
        operation["security"] = [{}, {_BEARER: []}]
    elif operation.get("operationId") == "get_metrics":
        operation["security"] = [{}, {_METRICS_SCHEME: []}]
    else:
        operation.setdefault("security", [])


def _declare_refusals(path: str, operation: dict[str, Any]) -> None:
    answers = operation["responses"]
    refusals = {"414": "UriTooLong", "431": "HeadersTooLarge"}
    if "requestBody" in operation:
        refusals["413"] = "PayloadTooLarge"
    limited = path not in UNLIMITED_PATHS
    if limited:
        refusals["429"] = "TooManyRequests"
    if path not in _NO_DATABASE:
        refusals["503"] = "DatabaseUnavailable"
    for status, name in refusals.items():
        if status == "503" and status in answers:  # the route's own (readiness): its wording
            answers[status]["headers"] = {"Retry-After": _ref("headers", "Retry-After")}
        else:
            answers[status] = _ref("responses", name)
    if limited:
        for status, answer in answers.items():
            if status.startswith("2"):
                _add_headers(answer, {name: _ref("headers", name) for name in _RATE_FIELDS})
    operation["responses"] = dict(sorted(answers.items()))


def _add_headers(answer: dict[str, Any], headers: dict[str, Any]) -> None:
    """Add to an answer's headers, keeping those its route declared."""
    answer["headers"] = dict(sorted({**answer.get("headers", {}), **headers}.items()))


def _is_conditional_read(path: str, method: str, operation: dict[str, Any]) -> bool:
    """Whether app/conditional.py gives this operation's 200 an ETag and answers 304."""
    content = operation["responses"].get("200", {}).get("content", {})
    return method == "get" and path.startswith(PUBLIC_READS) and any(is_json(t) for t in content)


def _declare_conditional(path: str, method: str, operation: dict[str, Any]) -> None:
    answers = operation["responses"]
    if _is_conditional_read(path, method, operation):
        content = answers["200"]["content"]
        # Sent with every JSON answer; a route that may answer another type (a spreadsheet)
        # sends it only with JSON.
        _add_headers(answers["200"], {"ETag": {**_ETAG, "required": all(map(is_json, content))}})
        answers["304"] = _ref("responses", "NotModified")
        operation.setdefault("parameters", []).append(_IF_NONE_MATCH)
    takes_if_match = any(
        p.get("in") == "header" and p.get("name") == "If-Match"
        for p in operation.get("parameters", [])
    )
    sends_etag = operation.pop("x-sends-etag", False)
    if takes_if_match or sends_etag:
        for status, answer in answers.items():
            if status.startswith("2"):
                _add_headers(answer, {"ETag": {**_ETAG, "required": True}})
    if takes_if_match:
        for status in ("412", "428"):
            answers.setdefault(
                status,
                {
                    "description": responses(int(status))[int(status)]["description"],
                    "content": _PROBLEM,
                },
            )
        stale = {**_ETAG, "required": True, "description": "The current ETag."}
        _add_headers(answers["412"], {"ETag": stale})
    operation["responses"] = dict(sorted(answers.items()))


def _validation_problem(problem: dict[str, Any]) -> dict[str, Any]:
    """The Problem of a request refused field by field: ``errors`` always, one per field."""
    shape: dict[str, Any] = json.loads(json.dumps(problem))
    shape["title"] = "ValidationProblem"
    shape["description"] = (
        "A problem that names every offending field in errors (validation_error and the "
        "field rules' own codes)."
    )
    shape["properties"]["errors"] = {
        "type": "array",
        "items": {"$ref": "#/components/schemas/FieldError"},
        "minItems": 1,
        "description": "One entry per offending field.",
    }
    shape["required"] = sorted({*shape.get("required", []), "errors"})
    shape["examples"] = [
        {
            "type": "https://climatelib.org/problems/validation-error",
            "title": "Validation failed",
            "status": 422,
            "detail": "The request does not satisfy the schema.",
            "code": "validation_error",
            "errors": [
                {
                    "loc": ["body", "financing_need"],
                    "code": "decimal_not_string",
                    "message": 'Send the amount as a decimal string (e.g. "12500000.00"), '
                    "not a JSON number.",
                }
            ],
            "request_id": "c76b5e1b81f1431b92a3414f98fc377c",
        }
    ]
    return shape


def _decimal_strings(node: Any) -> None:
    """Declare pydantic's ``number | string`` decimals as decimal strings with a pattern."""
    if isinstance(node, list):
        for item in node:
            _decimal_strings(item)
        return
    if not isinstance(node, dict):
        return
    branches = node.get("anyOf")
    if isinstance(branches, list):
        numbers = [b for b in branches if b.get("type") == "number"]
        strings = [b for b in branches if b.get("type") == "string"]
        if len(numbers) == 1 and len(strings) == 1:
            number = numbers[0]
            floor = number.get("minimum", number.get("exclusiveMinimum"))
            pattern = _UNSIGNED_DECIMAL if floor is not None and floor >= 0 else _DECIMAL
            text = {"type": "string", "pattern": pattern}
            rest = [b for b in branches if b is not number and b is not strings[0]]
            if rest:
                node["anyOf"] = [text, *rest]
            else:
                del node["anyOf"]
                node.update(text)
    for value in node.values():
        _decimal_strings(value)


def _schema_name(name: str) -> str:
    if name in SCHEMA_NAMES:
        return SCHEMA_NAMES[name]
    if page := re.fullmatch(r"Page_(\w+)_", name):
        return f"{page.group(1)}Page"
    if "__" in name:  # app__schemas__module__Class
        *path, cls = name.split("__")
        return path[-1].title().replace("_", "") + cls
    return name.replace("-Input", "").replace("-Output", "")


def _rename_schemas(schema: dict[str, Any]) -> dict[str, Any]:
    schemas = schema["components"]["schemas"]
    names = {name: _schema_name(name) for name in schemas}
    renamed = {new: schemas[old] for old, new in names.items()}
    if len(renamed) != len(schemas):
        raise ValueError(f"two schemas would share a name: {sorted(names.items())}")
    for old, new in names.items():
        if old != new:
            renamed[new]["title"] = new
    schema["components"]["schemas"] = dict(sorted(renamed.items()))
    text = json.dumps(schema, ensure_ascii=False)
    for old, new in names.items():
        if old != new:
            text = text.replace(f'"#/components/schemas/{old}"', f'"#/components/schemas/{new}"')
    result: dict[str, Any] = json.loads(text)
    return result


def _restore_nulls(schemas: dict[str, Any]) -> None:
    """Put back the nulls FastAPI drops from examples (it renders the document without None):
    a required field that may be null is null in the example, as the answer sends it."""
    for schema in schemas.values():
        for example in schema.get("examples", []):
            _fill(example, schema, schemas)


def _resolve(schema: dict[str, Any], schemas: dict[str, Any]) -> dict[str, Any]:
    ref = schema.get("$ref", "")
    return _resolve(schemas[ref.rsplit("/", 1)[1]], schemas) if ref else schema


def _nullable(schema: dict[str, Any]) -> bool:
    return any(branch.get("type") == "null" for branch in schema.get("anyOf", []))


def _fill(example: Any, schema: dict[str, Any], schemas: dict[str, Any]) -> None:
    schema = _resolve(schema, schemas)
    if isinstance(example, list) and "items" in schema:
        for item in example:
            _fill(item, schema["items"], schemas)
    if not isinstance(example, dict):
        return
    properties = schema.get("properties", {})
    for name in schema.get("required", []):
        if name not in example and _nullable(properties.get(name, {})):
            example[name] = None
    for name, value in example.items():
        if name in properties and value is not None:
            field = properties[name]
            branches = [b for b in field.get("anyOf", [field]) if b.get("type") != "null"]
            for branch in branches[:1]:
                _fill(value, branch, schemas)
