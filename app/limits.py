"""Size limits checked before a request is parsed or authenticated.

- Headers: one field (name and value) at most ``max_header_field_bytes``, all of them together
  at most ``max_header_bytes`` (each counted as its ``name: value`` line): 431. A request target
  longer than one field: 414.
- Bodies: a multipart upload at most the import limit plus room for its envelope, any other body
  at most ``max_json_body_bytes``: 413 naming the limit. A declared ``Content-Length`` over the
  limit is refused before a byte is read (and the connection closed, so the client stops
  sending); a body without one is counted as it streams in and cut at the limit.
"""

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.config import Settings
from app.errors import problem_response

# The multipart framing around a file: boundaries, part headers and the small form fields.
MULTIPART_ENVELOPE_BYTES = 64 * 1024


def _size(n: int) -> str:
    for unit, factor in (("MB", 1024 * 1024), ("KB", 1024)):
        if n >= factor and n % factor == 0:
            return f"{n // factor} {unit}"
    return f"{n} bytes"


class BodyTooLarge(HTTPException):
    """Raised from ``receive`` when a streamed body passes its limit (the app sees an HTTP 413)."""

    def __init__(self) -> None:
        super().__init__(413, "The request body is too large.")


class RequestLimitsMiddleware:
    def __init__(self, app: ASGIApp, *, settings: Settings, upload_bytes: int) -> None:
        self.app = app
        self.header_bytes = settings.max_header_bytes
        self.field_bytes = settings.max_header_field_bytes
        self.json_bytes = settings.max_json_body_bytes
        self.upload_bytes = upload_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        field_bytes, total = self.field_bytes, 0
        length: bytes | None = None
        multipart = False
        for name, value in scope["headers"]:
            line = len(name) + len(value) + 2
            if field_bytes and line > field_bytes:
                await self._headers_problem(scope)(scope, receive, send)
                return
            total += line + 2
            if name == b"content-length":
                length = value
            elif name == b"content-type":
                multipart = value[:19].lower() == b"multipart/form-data"
        if self.header_bytes and total > self.header_bytes:
            await self._headers_problem(scope)(scope, receive, send)
            return
        target = len(scope.get("raw_path") or scope["path"].encode()) + len(scope["query_string"])
        if field_bytes and target > field_bytes:
            detail = f"The request target is at most {_size(field_bytes)}."
            problem = _problem(scope, 414, "uri_too_long", "URI too long", detail, field_bytes)
            await problem(scope, receive, send)
            return
        limit = self.upload_bytes + MULTIPART_ENVELOPE_BYTES if multipart else self.json_bytes
        if not limit:
            await self.app(scope, receive, send)
            return
        if length is not None:
            if length.isdigit() and int(length) > limit:
                await self._body_problem(scope, multipart)(scope, receive, send)
                return
            # The server delivers exactly the declared length: nothing left to count.
            await self.app(scope, receive, send)
            return
        await self._streamed(scope, receive, send, limit, multipart)

    async def _streamed(
        self, scope: Scope, receive: Receive, send: Send, limit: int, multipart: bool
    ) -> None:
        received = 0
        exceeded = started = answered = False

        async def counting_receive() -> Message:
            nonlocal received, exceeded
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    exceeded = True
                    raise BodyTooLarge
            return message

        async def refuse_once() -> None:
            nonlocal answered
            if not answered:
                answered = True
                await self._body_problem(scope, multipart)(scope, receive, send)

        async def guarded_send(message: Message) -> None:
            nonlocal started
            if exceeded:
                # Whatever the application made of the cut body, the answer is the 413.
                await refuse_once()
                return
            started = True
            await send(message)

        try:
            await self.app(scope, counting_receive, guarded_send)
        except Exception:
            if not exceeded or started:
                raise
        if exceeded and not started:
            await refuse_once()

    def _headers_problem(self, scope: Scope) -> Response:
        detail = (
            f"Request headers are at most {_size(self.header_bytes)} in total and "
            f"{_size(self.field_bytes)} per field."
        )
        title = "Request header fields too large"
        return _problem(scope, 431, "headers_too_large", title, detail, self.header_bytes)

    def _body_problem(self, scope: Scope, multipart: bool) -> Response:
        if multipart:
            detail = f"A file is at most {_size(self.upload_bytes)}."
            return _problem(
                scope, 413, "file_too_large", "Payload too large", detail, self.upload_bytes
            )
        detail = f"A request body is at most {_size(self.json_bytes)}."
        return _problem(
            scope, 413, "payload_too_large", "Payload too large", detail, self.json_bytes
        )


def _problem(scope: Scope, status: int, code: str, title: str, detail: str, limit: int) -> Response:
    # The rest of the request is never read: close the connection rather than drain it.
    return problem_response(
        status,
        code,
        title,
        detail,
        headers={"Connection": "close"},
        request=Request(scope),
        limit_bytes=limit,
    )
