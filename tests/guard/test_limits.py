"""Sizes checked before parsing and before authentication: headers (431), request targets (414),
bodies (413 naming the limit), whether declared up front or streamed."""

from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import orjson
import pytest
from starlette.types import Message, Receive, Scope, Send

from app.config import Settings
from app.limits import MULTIPART_ENVELOPE_BYTES, RequestLimitsMiddleware
from app.services import batch_import
from tests.guard.conftest import running

PROBLEM = "application/problem+json"
KB = 1024


def line(name: bytes, value: bytes) -> int:
    """What one header costs against the total: ``name: value`` and its CRLF."""
    return len(name) + len(value) + 4


@dataclass
class Exchange:
    """One request through the middleware around an app that reads the whole body, then answers
    200 (or, ``swallow``, answers 400 to a failed read as a framework would)."""

    headers: list[tuple[bytes, bytes]]
    chunks: list[bytes] = field(default_factory=list)
    path: str = "/api/v1/projects"
    query: bytes = b""
    swallow: bool = False
    reads: int = 0
    app_called: bool = False
    app_read: int = 0
    sent: list[Message] = field(default_factory=list)

    @property
    def status(self) -> int:
        return int(self.sent[0]["status"])

    @property
    def response_headers(self) -> dict[bytes, bytes]:
        return dict(self.sent[0]["headers"])

    @property
    def problem(self) -> dict[str, object]:
        assert self.response_headers[b"content-type"] == PROBLEM.encode()
        body: dict[str, object] = orjson.loads(b"".join(m.get("body", b"") for m in self.sent[1:]))
        return body

    async def app(self, scope: Scope, receive: Receive, send: Send) -> None:
        self.app_called = True
        try:
            while True:
                message = await receive()
                self.app_read += len(message.get("body", b""))
                if not message.get("more_body"):
                    break
        except Exception:
            if not self.swallow:
                raise
            await send({"type": "http.response.start", "status": 400, "headers": []})
            await send({"type": "http.response.body", "body": b"bad body"})
            return
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})

    async def receive(self) -> Message:
        self.reads += 1
        index = self.reads - 1
        if index < len(self.chunks):
            more = index + 1 < len(self.chunks)
            return {"type": "http.request", "body": self.chunks[index], "more_body": more}
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(self, message: Message) -> None:
        self.sent.append(message)

    async def run(self, settings: Settings, upload_bytes: int = 1024 * KB) -> "Exchange":
        scope: Scope = {
            "type": "http",
            "method": "POST",
            "path": self.path,
            "raw_path": self.path.encode(),
            "query_string": self.query,
            "headers": self.headers,
            "state": {"request_id": "req-1"},
            "client": ("127.0.0.1", 50000),
            "server": ("test", 80),
            "scheme": "http",
            "http_version": "1.1",
            "root_path": "",
        }
        middleware = RequestLimitsMiddleware(self.app, settings=settings, upload_bytes=upload_bytes)
        await middleware(scope, self.receive, self.send)
        return self


def sizes(**limits: int) -> Settings:
    return Settings.model_validate(
        {"max_header_bytes": 1024, "max_header_field_bytes": 256} | limits
    )


class TestHeaderArithmetic:
    def padded(self, total: int) -> list[tuple[bytes, bytes]]:
        """Headers costing exactly ``total`` bytes, each field well below the field limit."""
        headers = [(b"host", b"test")]
        room = total - line(b"host", b"test")
        while room > 220:
            name = f"x-pad-{len(headers):02d}".encode()
            headers.append((name, b"a" * (200 - line(name, b""))))
            room -= 200
        headers.append((b"x-last", b"a" * (room - line(b"x-last", b""))))
        assert sum(line(k, v) for k, v in headers) == total
        return headers

    async def test_headers_exactly_at_the_total_pass(self) -> None:
        exchange = await Exchange(self.padded(1024)).run(sizes())
        assert exchange.status == 200

    async def test_one_byte_over_the_total_is_431(self) -> None:
        exchange = await Exchange(self.padded(1025)).run(sizes())
        assert exchange.status == 431
        assert not exchange.app_called
        problem = exchange.problem
        assert problem["code"] == "headers_too_large"
        assert problem["status"] == 431
        assert problem["type"] == "https://climatelib.org/problems/headers-too-large"
        assert problem["title"] == "Request header fields too large"
        assert problem["detail"] == (
            "Request headers are at most 1 KB in total and 256 bytes per field."
        )
        assert problem["limit_bytes"] == 1024
        assert problem["request_id"] == "req-1"

    async def test_a_field_exactly_at_its_limit_passes(self) -> None:
        # ``name: value`` is 256 bytes: 13 + 2 + 241.
        exchange = await Exchange([(b"authorization", b"b" * 241)]).run(sizes())
        assert exchange.status == 200

    async def test_a_field_one_byte_over_is_431_whatever_the_total(self) -> None:
        exchange = await Exchange([(b"authorization", b"b" * 242)]).run(sizes(max_header_bytes=0))
        assert exchange.status == 431
        assert exchange.problem["code"] == "headers_too_large"

    async def test_a_two_megabyte_authorization_header_is_431(self) -> None:
        exchange = await Exchange([(b"authorization", b"Bearer " + b"k" * 2 * KB * KB)]).run(
            Settings()
        )
        assert exchange.status == 431
        assert exchange.problem["detail"] == (
            "Request headers are at most 16 KB in total and 8 KB per field."
        )

    async def test_a_request_target_longer_than_a_field_is_414(self) -> None:
        at_limit = Exchange([], path="/api/v1/projects", query=b"q=" + b"x" * (256 - 18))
        assert (await at_limit.run(sizes())).status == 200
        over = Exchange([], path="/api/v1/projects", query=b"q=" + b"x" * (256 - 17))
        assert (await over.run(sizes())).status == 414
        assert over.problem["code"] == "uri_too_long"

    async def test_zero_turns_the_header_limits_off(self) -> None:
        exchange = Exchange([(b"x-big", b"z" * 64 * KB)], query=b"q=" + b"x" * 32 * KB)
        await exchange.run(sizes(max_header_bytes=0, max_header_field_bytes=0))
        assert exchange.status == 200


def declared(length: int, content_type: bytes = b"application/json") -> list[tuple[bytes, bytes]]:
    return [(b"content-type", content_type), (b"content-length", str(length).encode())]


class TestBodies:
    async def test_a_declared_length_over_the_limit_is_refused_before_reading(self) -> None:
        exchange = await Exchange(declared(10 * KB + 1), [b"x" * KB]).run(
            sizes(max_json_body_bytes=10 * KB)
        )
        assert exchange.status == 413
        assert not exchange.app_called
        assert exchange.reads == 0
        assert exchange.response_headers[b"connection"] == b"close"
        problem = exchange.problem
        assert problem["code"] == "payload_too_large"
        assert problem["detail"] == "A request body is at most 10 KB."
        assert problem["limit_bytes"] == 10 * KB

    async def test_a_declared_length_at_the_limit_passes(self) -> None:
        exchange = await Exchange(declared(10 * KB), [b"x" * 10 * KB]).run(
            sizes(max_json_body_bytes=10 * KB)
        )
        assert exchange.status == 200
        assert exchange.app_read == 10 * KB

    async def test_a_streamed_body_is_cut_at_the_limit(self) -> None:
        chunks = [b"x" * KB] * 100
        exchange = await Exchange([(b"transfer-encoding", b"chunked")], chunks).run(
            sizes(max_json_body_bytes=2 * KB + 500)
        )
        assert exchange.status == 413
        assert exchange.problem["code"] == "payload_too_large"
        assert exchange.reads == 3  # the third chunk passes the limit; nothing after it is read
        assert exchange.app_read == 2 * KB

    async def test_a_streamed_body_within_the_limit_passes(self) -> None:
        exchange = await Exchange([], [b"x" * KB] * 3).run(sizes(max_json_body_bytes=3 * KB))
        assert exchange.status == 200
        assert exchange.app_read == 3 * KB

    async def test_the_413_stands_even_when_the_app_answers_the_cut_body_itself(self) -> None:
        exchange = Exchange([], [b"x" * KB] * 10, swallow=True)
        await exchange.run(sizes(max_json_body_bytes=KB))
        assert exchange.status == 413
        assert [m["type"] for m in exchange.sent] == ["http.response.start", "http.response.body"]

    async def test_uploads_are_capped_at_the_import_limit_and_its_envelope(self) -> None:
        multipart = b"multipart/form-data; boundary=xyz"
        limit = 1024 * KB + MULTIPART_ENVELOPE_BYTES
        passes = await Exchange(declared(limit, multipart), [b"x" * limit]).run(sizes())
        assert passes.status == 200
        refused = await Exchange(declared(limit + 1, multipart)).run(sizes())
        assert refused.status == 413
        assert refused.problem["code"] == "file_too_large"
        assert refused.problem["detail"] == "A file is at most 1 MB."
        streamed = Exchange([(b"content-type", multipart)], [b"x" * 256 * KB] * 8)
        assert (await streamed.run(sizes())).status == 413
        assert streamed.reads == 5

    async def test_zero_turns_the_json_limit_off(self) -> None:
        exchange = await Exchange(declared(64 * KB), [b"x" * 64 * KB]).run(
            sizes(max_json_body_bytes=0)
        )
        assert exchange.status == 200


async def _never_read() -> AsyncIterator[bytes]:
    raise AssertionError("the body was read")
    yield b""  # pragma: no cover


class TestBeforeAuthentication:
    """Through the whole application: the limit answers before the key is looked at."""

    @pytest.mark.parametrize("authorization", [None, "Bearer clk_not-a-key"])
    async def test_an_anonymous_or_badly_keyed_100_mb_body_is_413_unread(
        self, sqlite_url: str, authorization: str | None
    ) -> None:
        headers = {"content-type": "application/json", "content-length": str(100 * KB * KB)}
        if authorization:
            headers["authorization"] = authorization
        async with running(Settings(database_url=sqlite_url, log_level="WARNING")) as (_, http):
            response = await http.post("/api/v1/projects", content=_never_read(), headers=headers)
        assert response.status_code == 413
        assert response.headers["content-type"] == PROBLEM
        body = response.json()
        assert body["code"] == "payload_too_large"
        assert body["detail"] == "A request body is at most 10 MB."
        assert body["request_id"] == response.headers["x-request-id"]

    async def test_an_upload_over_the_import_limit_is_413_unread(self, sqlite_url: str) -> None:
        length = batch_import.MAX_IMPORT_BYTES + MULTIPART_ENVELOPE_BYTES + 1
        headers = {
            "content-type": "multipart/form-data; boundary=xyz",
            "content-length": str(length),
        }
        async with running(Settings(database_url=sqlite_url, log_level="WARNING")) as (_, http):
            response = await http.post(
                "/api/v1/projects/import", content=_never_read(), headers=headers
            )
        assert response.status_code == 413
        assert response.json()["code"] == "file_too_large"
        assert response.json()["limit_bytes"] == batch_import.MAX_IMPORT_BYTES

    async def test_a_large_header_is_431_before_the_key_is_checked(self, sqlite_url: str) -> None:
        async with running(Settings(database_url=sqlite_url, log_level="WARNING")) as (_, http):
            response = await http.get(
                "/api/v1/projects", headers={"authorization": "Bearer " + "k" * 9000}
            )
        assert response.status_code == 431
        assert response.json()["code"] == "headers_too_large"

    async def test_requests_within_the_limits_are_served(self, sqlite_url: str) -> None:
        async with running(Settings(database_url=sqlite_url, log_level="WARNING")) as (_, http):
            response = await http.get("/api/v1/projects", headers={"x-pad": "x" * 8000})
            assert response.status_code == 200
            response = await http.post("/api/v1/projects", json={"name": "x" * 100_000})
            assert response.status_code == 401
