"""The AppError family and the RFC 9457 ``application/problem+json`` rendering of every error."""

import logging
import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, ClassVar

import orjson
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import exc as sa_exc
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response

log = logging.getLogger("climatelib.errors")

PROBLEM_TYPE_BASE = "https://climatelib.org/problems/"
PROBLEM_MEDIA_TYPE = "application/problem+json"


class FieldError(BaseModel):
    loc: list[str | int] = Field(
        description="Path of the offending field, e.g. ['body', 'end_date']."
    )
    code: str = Field(description="Stable machine code of the rule that failed.")
    message: str = Field(description="Human-readable explanation.")


class Problem(BaseModel):
    """An RFC 9457 problem document."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "type": "https://climatelib.org/problems/not-found",
                    "title": "Not found",
                    "status": 404,
                    "detail": "No project 6bc9cce0-3cdb-48dd-8baf-aefa807247e2.",
                    "code": "not_found",
                    "request_id": "41190534627d4c3d970787d0d1d3b7a3",
                },
                {
                    "type": "https://climatelib.org/problems/invalid-transition",
                    "title": "Conflict",
                    "status": 409,
                    "detail": "'submit' is not possible from in_library; allowed: exit.",
                    "code": "invalid_transition",
                    "allowed_actions": ["exit"],
                    "request_id": "a854c0b03782435984a83e2d4709f04b",
                },
            ]
        }
    )

    type: str = Field(description="URI identifying the problem type.")
    title: str
    status: int
    detail: str | None = None
    code: str = Field(description="Stable machine-readable error code.", examples=["not_found"])
    errors: list[FieldError] | None = Field(
        default=None, description="For validation problems: one entry per offending field."
    )
    allowed_actions: list[str] | None = Field(
        default=None, description="For lifecycle conflicts: the actions allowed from this state."
    )
    limit_bytes: int | None = Field(
        default=None,
        description=(
            "For a size refused (413, 414, 431): the limit in bytes. An import past another "
            "limit names that one instead (limit_rows, limit_columns, limit_parts, …)."
        ),
    )
    violated_policies: list[str] | None = Field(
        default=None,
        description="For 429: the quotas used up, as named in RateLimit-Policy.",
    )
    rule_id: str | None = Field(
        default=None, description="For a 两高 refusal: the screening rule that refused it."
    )
    rule_version: str | None = Field(
        default=None, description="For a 两高 refusal: the version of the screening rules."
    )
    request_id: str | None = None


class AppError(Exception):
    status: ClassVar[int] = 400
    default_code: ClassVar[str] = "bad_request"
    title: ClassVar[str] = "Bad request"

    def __init__(
        self,
        detail: str | None = None,
        *,
        code: str | None = None,
        errors: Sequence[FieldError] | None = None,
        headers: dict[str, str] | None = None,
        **extra: Any,
    ) -> None:
        super().__init__(detail or self.title)
        self.detail = detail
        self.code = code or self.default_code
        self.errors = list(errors) if errors is not None else None
        self.headers = headers
        self.extra = extra

    def problem(self, request_id: str | None = None) -> dict[str, Any]:
        """The problem document this error answers with."""
        return problem(
            self.status,
            self.code,
            self.title,
            self.detail,
            errors=self.errors,
            request_id=request_id,
            **self.extra,
        )


class BadRequest(AppError):
    pass


class Unauthorized(AppError):
    status = 401
    default_code = "unauthorized"
    title = "Authentication required"


class Forbidden(AppError):
    status = 403
    default_code = "forbidden"
    title = "Not allowed"


class NotFound(AppError):
    status = 404
    default_code = "not_found"
    title = "Not found"


class Conflict(AppError):
    status = 409
    default_code = "conflict"
    title = "Conflict"


class PreconditionFailed(AppError):
    status = 412
    default_code = "precondition_failed"
    title = "Precondition failed"


class PayloadTooLarge(AppError):
    status = 413
    default_code = "payload_too_large"
    title = "Payload too large"


class UnsupportedMediaType(AppError):
    status = 415
    default_code = "unsupported_media_type"
    title = "Unsupported media type"


class PreconditionRequired(AppError):
    status = 428
    default_code = "precondition_required"
    title = "Precondition required"


class RuleViolation(AppError):
    """A request that is well formed but breaks a domain rule (422)."""

    status = 422
    default_code = "validation_error"
    title = "Validation failed"


class DatabaseUnavailable(AppError):
    status = 503
    default_code = "database_unavailable"
    title = "Service unavailable"


# PostgreSQL error classes that say "not now" rather than "not this": connection exceptions (08),
# insufficient resources such as too many connections (53), shutdown, start-up and cancellation
# by the statement timeout (57), lock not available (55P03), and the two a retry resolves:
# serialization failure and deadlock (40001, 40P01).
_UNAVAILABLE_SQLSTATES = ("08", "53", "57", "55P03", "40001", "40P01")


def is_unavailable(exc: BaseException) -> bool:
    """Whether a failure means the database cannot serve for a moment (a retry may succeed)."""
    if isinstance(exc, sa_exc.TimeoutError):  # no free connection within the pool timeout
        return True
    if not isinstance(exc, sa_exc.DBAPIError):
        return False
    if exc.connection_invalidated:
        return True
    sqlstate = getattr(exc.orig, "sqlstate", None)
    if isinstance(sqlstate, str) and sqlstate.startswith(_UNAVAILABLE_SQLSTATES):
        return True
    # SQLite: another writer held the lock past the busy timeout.
    return "database is locked" in str(exc.orig)


def field_error(loc: Sequence[str | int], code: str, message: str) -> FieldError:
    return FieldError(loc=list(loc), code=code, message=message)


def problem(
    status: int,
    code: str,
    title: str,
    detail: str | None = None,
    *,
    errors: Sequence[FieldError] | None = None,
    request_id: str | None = None,
    **extra: Any,
) -> dict[str, Any]:
    """The problem document of every error answer, and of every error item of a batch."""
    body: dict[str, Any] = {
        "type": PROBLEM_TYPE_BASE + code.replace("_", "-"),
        "title": title,
        "status": status,
        "detail": detail or title,
        "code": code,
    }
    if errors is not None:
        body["errors"] = [e.model_dump() for e in errors]
    body.update({k: v for k, v in extra.items() if v is not None})
    if request_id:
        body["request_id"] = request_id
    return body


def _answer(body: dict[str, Any], headers: dict[str, str] | None = None) -> Response:
    return Response(
        orjson.dumps(body),
        status_code=body["status"],
        media_type=PROBLEM_MEDIA_TYPE,
        headers=headers,
    )


def _request_id(request: Request | None) -> str | None:
    return getattr(request.state, "request_id", None) if request is not None else None


def problem_response(
    status: int,
    code: str,
    title: str,
    detail: str | None = None,
    *,
    errors: Sequence[FieldError] | None = None,
    headers: dict[str, str] | None = None,
    request: Request | None = None,
    **extra: Any,
) -> Response:
    request_id = _request_id(request)
    body = problem(status, code, title, detail, errors=errors, request_id=request_id, **extra)
    return _answer(body, headers)


# pydantic error types mapped to our stable codes; anything else keeps pydantic's own type name.
_PYDANTIC_CODES = {
    "missing": "required",
    "extra_forbidden": "unknown_field",
    "json_invalid": "malformed_json",
}


def field_errors(
    errors: Iterable[Mapping[str, Any]], prefix: Sequence[str | int] = ()
) -> list[FieldError]:
    """pydantic's errors (``ValidationError.errors()``) as our field errors, with stable codes.

    ``prefix`` goes before each location: a request's own validation locates its errors already
    (["body", …]); a model validated by hand does not.
    """
    out = []
    for err in errors:
        ctx = err.get("ctx")
        ctx_code = ctx.get("error_code") if isinstance(ctx, dict) else None
        code = ctx_code or _PYDANTIC_CODES.get(err["type"], err["type"])
        message = str(err.get("msg", "")).removeprefix("Value error, ")
        loc = [*prefix, *(p if isinstance(p, int) else str(p) for p in err["loc"])]
        out.append(FieldError(loc=loc, code=code, message=message))
    return out


_HTTP_CODES = {
    400: ("bad_request", "Bad request"),
    401: ("unauthorized", "Authentication required"),
    403: ("forbidden", "Not allowed"),
    404: ("not_found", "Not found"),
    405: ("method_not_allowed", "Method not allowed"),
    406: ("not_acceptable", "Not acceptable"),
    413: ("payload_too_large", "Payload too large"),
    415: ("unsupported_media_type", "Unsupported media type"),
}


async def _app_error(request: Request, exc: AppError) -> Response:
    return _answer(exc.problem(_request_id(request)), exc.headers)


async def _database(request: Request, exc: sa_exc.SQLAlchemyError) -> Response:
    # A database that cannot serve for a moment (connection refused or dropped, no free
    # connection within the pool timeout, statement timeout, SQLite lock past the busy timeout)
    # is not a bug: say so, and when to retry. Anything else is unexpected.
    if not is_unavailable(exc):
        raise exc
    log.warning("database unavailable", extra={"path": request.url.path})
    return problem_response(
        503,
        "database_unavailable",
        "Service unavailable",
        "The database is unavailable for a moment; retry the request.",
        headers={"Retry-After": "1"},
        request=request,
    )


async def _validation(request: Request, exc: RequestValidationError) -> Response:
    errors = field_errors(exc.errors())
    if any(e.code == "malformed_json" for e in errors):
        return problem_response(
            400,
            "malformed_json",
            "Malformed JSON",
            "The request body is not valid JSON.",
            errors=[e for e in errors if e.code == "malformed_json"],
            request=request,
        )
    return problem_response(
        422,
        "validation_error",
        "Validation failed",
        "The request does not satisfy the schema.",
        errors=errors,
        request=request,
    )


def _allowed_methods(request: Request) -> str:
    """Every method the document declares for the path. Starlette names only the first route
    that matched the path, and a path often has one route per method (GET and POST of a list).
    As OpenAPI resolves a URL, a concrete path wins over a templated one of the same shape:
    /projects/export is the export's path item, not /projects/{project_id} with id "export"."""
    matches: list[tuple[int, set[str]]] = []
    for template, item in request.app.openapi().get("paths", {}).items():
        pattern = re.sub(r"\\\{[^/]+?\\\}", "[^/]+", re.escape(template))
        if re.fullmatch(pattern, request.url.path):
            matches.append((template.count("{"), {method.upper() for method in item}))
    fewest = min((templated for templated, _ in matches), default=0)
    methods = set().union(*(found for templated, found in matches if templated == fewest))
    return ", ".join(sorted(methods))


async def _http(request: Request, exc: StarletteHTTPException) -> Response:
    code, title = _HTTP_CODES.get(exc.status_code, ("http_error", "HTTP error"))
    detail = exc.detail if isinstance(exc.detail, str) else title
    if exc.status_code == 404 and detail == "Not Found":
        detail = f"No route {request.method} {request.url.path}."
    headers = getattr(exc, "headers", None)
    if exc.status_code == 405:
        detail = f"{request.method} is not allowed on {request.url.path}."
        headers = {**(headers or {}), "Allow": _allowed_methods(request)}
    return problem_response(exc.status_code, code, title, detail, headers=headers, request=request)


def install_error_handlers(app: FastAPI) -> None:
    """Answer every error as a problem document."""
    app.exception_handler(AppError)(_app_error)
    app.exception_handler(sa_exc.SQLAlchemyError)(_database)
    app.exception_handler(RequestValidationError)(_validation)
    app.exception_handler(StarletteHTTPException)(_http)


def nul_character_body(request_id: str | None) -> bytes:
    """The answer to a path or query string holding a NUL character."""
    detail = "The path or query string contains a NUL character."
    return orjson.dumps(problem(400, "nul_character", "Bad request", detail, request_id=request_id))


def internal_error_body(request_id: str | None) -> bytes:
    """The answer to an unexpected exception: no trace, only the request id to find it in logs."""
    detail = "The service failed to answer; the request id identifies it in the logs."
    return orjson.dumps(
        problem(500, "internal_error", "Internal server error", detail, request_id=request_id)
    )


def responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses=`` entries for the problem statuses a route can answer."""
    out: dict[int | str, dict[str, Any]] = {}
    for status in statuses:
        out[status] = {
            "model": Problem,
            "description": _DESCRIPTIONS.get(status, "Error"),
            "content": {PROBLEM_MEDIA_TYPE: {"schema": {"$ref": "#/components/schemas/Problem"}}},
        }
    return out


_DESCRIPTIONS = {
    400: "Malformed request",
    401: "Missing, unknown or revoked API key",
    403: "The key's role or scope does not allow this",
    404: "Not found, or not visible to the caller",
    409: "Conflicts with the current state",
    412: "If-Match does not match the current ETag",
    415: "The file's content is not of a type it may be, or not the type it claims",
    422: "The request breaks a validation rule",
    428: "If-Match is required",
    503: "Not ready",
}
