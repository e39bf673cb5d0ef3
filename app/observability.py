"""Request ids, structured JSON logs and Prometheus metrics, as one pure ASGI middleware."""

import contextvars
import gc
import logging
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import orjson
from prometheus_client import Counter, Histogram
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.errors import internal_error_body, nul_character_body

request_id_var: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "request_id", default=None
)

REQUESTS = Counter(
    "climatelib_http_requests_total", "HTTP requests answered", ["method", "route", "status"]
)
LATENCY = Histogram(
    "climatelib_http_request_duration_seconds",
    "Time to answer an HTTP request",
    ["method", "route"],
    buckets=(0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)

GC_PAUSES = Histogram(
    "climatelib_gc_pause_seconds",
    "Time the cyclic garbage collector held the process, per collection",
    ["generation"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1),
)


@contextmanager
def collector_pauses() -> Iterator[None]:
    """While the block runs, time every collection into ``GC_PAUSES``.

    A collection stops every request of the process at once, and at the national scale one
    over the young generation's 50,000 objects (``app/collector.py``) took 26 ms of CPU on the
    shared 2-core machine: a request's tail that no per-request timing names. The callback runs
    only per collection (a few a minute under load), so it costs nothing per request."""
    started = [0.0]

    def timed(phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            started[0] = time.perf_counter()
        else:
            GC_PAUSES.labels(str(info["generation"])).observe(time.perf_counter() - started[0])

    gc.callbacks.append(timed)
    try:
        yield
    finally:
        gc.callbacks.remove(timed)


_STANDARD_ATTRS = frozenset(vars(logging.makeLogRecord({}))) | {"message", "asctime"}


class JsonFormatter(logging.Formatter):
    """One JSON object per line, with the request id of the request being served."""

    def format(self, record: logging.LogRecord) -> str:
        data: dict[str, Any] = {
            "ts": self.formatTime(record, "%Y-%m-%dT%H:%M:%S") + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        if (request_id := request_id_var.get()) is not None:
            data["request_id"] = request_id
        data.update({k: v for k, v in vars(record).items() if k not in _STANDARD_ATTRS})
        if record.exc_info:
            data["exc_info"] = self.formatException(record.exc_info)
        return orjson.dumps(data, default=str).decode()


def configure_logging(level: str, as_json: bool) -> None:
    handler = logging.StreamHandler(sys.stderr)
    if as_json:
        formatter: logging.Formatter = JsonFormatter()
        formatter.converter = time.gmtime
    else:
        formatter = logging.Formatter("%(asctime)s %(levelname)s %(name)s %(message)s")
    handler.setFormatter(formatter)
    root = logging.getLogger("climatelib")
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    root.propagate = False


access_log = logging.getLogger("climatelib.access")
log = logging.getLogger("climatelib.errors")


async def _send_problem(send: Send, status: int, body: bytes) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [(b"content-type", b"application/problem+json")],
        }
    )
    await send({"type": "http.response.body", "body": body})


def _valid_request_id(value: str) -> bool:
    return 0 < len(value) <= 100 and value.isascii() and value.isprintable()


def _has_nul(scope: Scope) -> bool:
    # PostgreSQL text cannot hold NUL, and no query parameter or path segment needs one.
    query: bytes = scope.get("query_string", b"")
    return "\x00" in scope["path"] or b"%00" in query.lower() or b"\x00" in query


def _with_safety_headers(
    headers: list[tuple[bytes, bytes]], credentialed: bool
) -> list[tuple[bytes, bytes]]:
    """Headers every answer carries: no content sniffing, and nothing kept by caches when the
    request carried a key (only such answers hold contact data or a new key's secret)."""
    names = {name.lower() for name, _ in headers}
    extra = [] if b"x-content-type-options" in names else [(b"x-content-type-options", b"nosniff")]
    if credentialed and b"cache-control" not in names:
        extra.append((b"cache-control", b"no-store"))
    return headers + extra


class RequestContextMiddleware:
    """Give each request an id (or keep the caller's X-Request-ID), log it, and count it.

    The access log names the key id of an authenticated request (never the key itself, nor any
    header or body); every answer leaves with the safety headers of ``_with_safety_headers``.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    @staticmethod
    async def _refuse_nul(send: Send, request_id: str) -> None:
        await _send_problem(send, 400, nul_character_body(request_id))

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        incoming = next(
            (v.decode("latin-1") for k, v in scope["headers"] if k == b"x-request-id"), ""
        )
        request_id = incoming if _valid_request_id(incoming) else uuid.uuid4().hex
        token = request_id_var.set(request_id)
        scope.setdefault("state", {})["request_id"] = request_id
        status = 500
        started_response = False
        started = time.perf_counter()

        credentialed = any(k == b"authorization" for k, _ in scope["headers"])

        async def send_with_id(message: Message) -> None:
            nonlocal status, started_response
            if message["type"] == "http.response.start":
                status = message["status"]
                started_response = True
                message["headers"] = _with_safety_headers(
                    [*message.get("headers", []), (b"x-request-id", request_id.encode())],
                    credentialed,
                )
            await send(message)

        try:
            if _has_nul(scope):
                await self._refuse_nul(send_with_id, request_id)
            else:
                await self.app(scope, receive, send_with_id)
        except Exception:
            log.exception("unhandled error", extra={"path": scope["path"]})
            if started_response:
                raise
            await _send_problem(send_with_id, 500, internal_error_body(request_id))
        finally:
            elapsed = time.perf_counter() - started
            route = getattr(scope.get("route"), "path", "unmatched")
            method = scope["method"]
            principal = scope["state"].get("principal")
            REQUESTS.labels(method, route, str(status)).inc()
            LATENCY.labels(method, route).observe(elapsed)
            access_log.info(
                "request",
                extra={
                    "method": method,
                    "path": scope["path"],
                    "route": route,
                    "status": status,
                    "duration_ms": round(elapsed * 1000, 2),
                    "key_id": str(principal.key_id) if principal and principal.key_id else None,
                },
            )
            request_id_var.reset(token)
