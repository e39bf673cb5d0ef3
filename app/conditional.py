"""ETag and ``If-None-Match`` → 304 for the public reads, in one middleware.

A GET of a public read (``PUBLIC_READS``: the project list and one project, statistics, the
taxonomy, regions, pilots, institutions) that answers 200 with JSON (or GeoJSON) and no ETag of
its own gets one: a hash of the caller's credentials and of the body. When the request's
``If-None-Match`` holds it, the answer is 304 with no body (its headers kept: ETag, Vary, request
id, rate limits).

Why a hash of the answer rather than a change counter: the body is what the caller would see,
computed afresh by the route for this request, so the ETag changes exactly when what the caller
sees changes (a write, a key's reach, a contact granted, a day passing in a figure), and a write
can never leave a stale 304 behind, on any worker, without a counter every write path would have
to keep. A 304 spares the transfer and the client's parsing; the server still answers the read,
which the list path makes cheap (app/routers/public_read.py). The credentials are part of the
hash, so a key's ETag never equals the public's (or another key's) for the same body, and every
such answer says ``Vary: Authorization``.

A route that sets its own ETag keeps it, and a matching ``If-None-Match`` answers 304 alike: one
project for a key that may write it (its version, which ``If-Match`` writes send; its view of the
project is the row's, and every write to the row raises the version). Non-JSON answers (the
export's CSV stream) and HEAD pass through untouched.
"""

import hashlib
from collections.abc import Iterable

from starlette.datastructures import Headers, MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

PUBLIC_READS = (
    "/api/v1/projects",
    "/api/v1/stats",
    "/api/v1/taxonomy",
    "/api/v1/regions",
    "/api/v1/pilots",
    "/api/v1/institutions",
)
# Headers a 304 does not carry (RFC 9110 §15.4.5: it describes the stored answer, has no body).
_NOT_ON_304 = ("content-length", "content-type", "content-encoding", "transfer-encoding")


def is_json(content_type: str) -> bool:
    """Whether an answer of this type gets an ETag: JSON, and the JSON-based types (GeoJSON)."""
    media_type = content_type.split(";")[0].strip().lower()
    return media_type == "application/json" or media_type.endswith("+json")


def etag_of(body: bytes, credentials: bytes) -> str:
    """The ETag of an answer's body as the holder of ``credentials`` (b"": the public) sees it.
    SHA-256 because the CPU computes it (about 55 µs for a 50-row page here, half of BLAKE2b's);
    128 bits of it."""
    digest = hashlib.sha256(credentials)
    digest.update(b"\n")  # a header value holds no line break: credentials end here
    digest.update(body)
    return f'"{digest.hexdigest()[:32]}"'


def matches(if_none_match: str | None, etag: str) -> bool:
    """Whether ``If-None-Match`` names ``etag`` (weak comparison, ``*`` included)."""
    if not if_none_match:
        return False
    if if_none_match.strip() == "*":
        return True
    wanted = etag.removeprefix("W/")
    return any(tag.strip().removeprefix("W/") == wanted for tag in if_none_match.split(","))


def add_vary(headers: MutableHeaders, name: str = "Authorization") -> None:
    present = [v.strip().lower() for v in headers.get("vary", "").split(",") if v.strip()]
    if name.lower() not in present and "*" not in present:
        headers["Vary"] = ", ".join([*filter(None, [headers.get("vary")]), name])


def not_modified_headers(headers: Iterable[tuple[bytes, bytes]]) -> list[tuple[bytes, bytes]]:
    return [(k, v) for k, v in headers if k.decode("latin-1").lower() not in _NOT_ON_304]


class ConditionalGetMiddleware:
    """See the module's docstring. Innermost of the middleware: the headers the others add
    (request id, rate limits, CORS) are on its 304s too."""

    def __init__(self, app: ASGIApp, prefixes: tuple[str, ...] = PUBLIC_READS) -> None:
        self.app = app
        self.prefixes = prefixes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] != "http"
            or scope["method"] != "GET"
            or not scope["path"].startswith(self.prefixes)
        ):
            await self.app(scope, receive, send)
            return
        request_headers = Headers(scope=scope)
        if_none_match = request_headers.get("if-none-match")
        credentials = request_headers.get("authorization", "").encode("latin-1")
        start: Message | None = None
        chunks: list[bytes] = []

        async def conditional_send(message: Message) -> None:
            nonlocal start
            if message["type"] == "http.response.start":
                headers = MutableHeaders(raw=list(message["headers"]))
                add_vary(headers)
                message["headers"] = headers.raw
                if message["status"] == 200 and is_json(headers.get("content-type", "")):
                    if "etag" in headers:
                        if matches(if_none_match, headers["etag"]):
                            message["status"] = 304
                            message["headers"] = not_modified_headers(headers.raw)
                            start = message  # its body is dropped
                            await send(message)
                            await send({"type": "http.response.body", "body": b""})
                            return
                    else:
                        start = message  # held until the body is known
                        return
                await send(message)
                return
            if message["type"] != "http.response.body" or start is None:
                await send(message)
                return
            if start["status"] == 304:
                return  # the body of an answer already sent as 304
            chunks.append(message.get("body", b""))
            if message.get("more_body", False):
                return
            body = b"".join(chunks)
            etag = etag_of(body, credentials)
            headers = MutableHeaders(raw=start["headers"])
            headers["ETag"] = etag
            if matches(if_none_match, etag):
                start["status"] = 304
                start["headers"] = not_modified_headers(headers.raw)
                body = b""
            await send(start)
            await send({"type": "http.response.body", "body": body})

        await self.app(scope, receive, conditional_send)
