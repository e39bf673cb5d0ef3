"""The committed OpenAPI document: rendered deterministically so a diff means a real change.

FastAPI's generated document is corrected where it would not tell the truth about what the
server sends: every error is ``application/problem+json`` (FastAPI declares its own 422 shape),
any request may answer 400 for being malformed (a NUL character, a body that
is not JSON), and a route open to the public with more to show a key
declares the key as optional rather than required.

The refusals that come before any route are declared on every operation they can reach: 414 and
431 (``app/limits.py``, and the server's own cut of a huge head), 413 where a body is taken, 429
with ``Retry-After`` and the ``RateLimit-Policy``/``RateLimit`` fields (``app/ratelimit/``, which
also adds those fields to every answer it lets through), and 503 with ``Retry-After`` wherever the
database may be away (everything but the process's own probes).
"""

import json
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

from app.errors import PROBLEM_MEDIA_TYPE, responses
from app.ratelimit.policy import UNLIMITED_PATHS

KEY_OPTIONAL: dict[str, Any] = {"x-key-optional": True}
"""``openapi_extra`` of a route anyone may call, that shows more to a key."""

_PROBLEM = {PROBLEM_MEDIA_TYPE: {"schema": {"$ref": "#/components/schemas/Problem"}}}
_BEARER = "HTTPBearer"

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
            )
            for path, operations in schema.get("paths", {}).items():
                for operation in operations.values():
                    _tell_the_truth(operation)
                    _declare_refusals(path, operation)
            components = schema.setdefault("components", {})
            components["headers"] = HEADERS
            components["responses"] = RESPONSES
            for name in ("HTTPValidationError", "ValidationError"):
                schema.get("components", {}).get("schemas", {}).pop(name, None)
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
    # Any request may be malformed before its route sees it (a NUL in the query, a body that is
    # not JSON), and every such request answers 400.
    if "400" not in answers:
        answers["400"] = {"description": responses(400)[400]["description"], "content": _PROBLEM}
        operation["responses"] = dict(sorted(answers.items()))
    if operation.pop("x-key-optional", False):
        # An empty requirement beside the key's makes the key optional.
        operation["security"] = [{}, {_BEARER: []}]


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
                answer["headers"] = {name: _ref("headers", name) for name in _RATE_FIELDS}
    operation["responses"] = dict(sorted(answers.items()))
