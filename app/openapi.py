"""The committed OpenAPI document: rendered deterministically so a diff means a real change.

FastAPI's generated document is corrected where it would not tell the truth about what the
server sends: every error is ``application/problem+json`` (FastAPI declares its own 422 shape),
any request may answer 400 for being malformed (a NUL character, a body that
is not JSON), and a route open to the public with more to show a key
declares the key as optional rather than required.
"""

import json
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

from app.errors import PROBLEM_MEDIA_TYPE, responses

KEY_OPTIONAL: dict[str, Any] = {"x-key-optional": True}
"""``openapi_extra`` of a route anyone may call, that shows more to a key."""

_PROBLEM = {PROBLEM_MEDIA_TYPE: {"schema": {"$ref": "#/components/schemas/Problem"}}}
_BEARER = "HTTPBearer"


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
            for operations in schema.get("paths", {}).values():
                for operation in operations.values():
                    _tell_the_truth(operation)
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
