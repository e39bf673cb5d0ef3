"""How ``climatelib serve`` runs uvicorn, and the HTTP protocol it runs.

uvicorn's httptools protocol holds a request line and header block of any size until the block
ends (llhttp sets no bound, and httptools gathers a header's pieces before handing it on), so the
application's 431 (``app/limits.py``) came only after megabytes had been read and held.
``BoundedHttpToolsProtocol`` counts each request head as it arrives and, past
``request_head_limit``, answers 431 itself and closes the connection. The bound is well above the
application's own header limit, so every head between the two still gets the application's
answer; the server's cut only stops a head the application would refuse anyway (with the
application's limit off, the server's 64 KB still holds).
"""

from typing import Any

import orjson
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from app.config import Settings, get_settings
from app.errors import PROBLEM_MEDIA_TYPE, problem

MIN_REQUEST_HEAD_BYTES = 64 * 1024
LINGER_S = 1.0


def request_head_limit(settings: Settings) -> int:
    """Bytes of request line and headers the server reads before it cuts the request."""
    return max(MIN_REQUEST_HEAD_BYTES, 4 * settings.max_header_bytes)


def _head_too_large(limit: int) -> bytes:
    detail = f"The request line and headers are at most {limit // 1024} KB."
    body = orjson.dumps(
        problem(
            431,
            "headers_too_large",
            "Request header fields too large",
            detail,
            limit_bytes=limit,
        )
    )
    head = (
        b"HTTP/1.1 431 Request Header Fields Too Large\r\n"
        b"content-type: " + PROBLEM_MEDIA_TYPE.encode() + b"\r\n"
        b"content-length: %d\r\nconnection: close\r\n\r\n" % len(body)
    )
    return head + body


class BoundedHttpToolsProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol, cutting a request head past the limit as it streams in.

    A head is counted from the first chunk after the one it began in (the parser says when a
    request begins, not where in the chunk), so the bytes held stay under the limit plus two
    reads, and a body or a previous request in the same chunk is never counted against a head.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.head_limit = request_head_limit(get_settings())
        self.head_bytes: int | None = None  # None: not inside a request head
        self.head_began = False
        self.refused = False

    def data_received(self, data: bytes) -> None:
        if self.refused or self.transport.is_closing():
            return  # read and dropped until the connection closes
        self.head_began = False
        super().data_received(data)
        if self.head_bytes is None or self.transport.is_closing():
            return
        if not self.head_began:
            self.head_bytes += len(data)
        if self.head_bytes > self.head_limit:
            self.refuse()

    def refuse(self) -> None:
        """Answer 431 and close; until then drop what the client still sends, since closing
        on unread data resets the connection and the client would lose the answer."""
        self.refused = True
        self.transport.write(_head_too_large(self.head_limit))
        if self.transport.can_write_eof():
            self.transport.write_eof()
        self.loop.call_later(LINGER_S, self.transport.close)

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self.head_bytes = 0
        self.head_began = True

    def on_headers_complete(self) -> None:
        self.head_bytes = None
        super().on_headers_complete()


def uvicorn_options(settings: Settings) -> dict[str, Any]:
    """``uvicorn.run`` arguments beyond the address and the worker count."""
    return {
        "http": BoundedHttpToolsProtocol,
        "log_level": "warning",
        "access_log": False,
        # Client addresses come from X-Forwarded-For only behind CLIMATELIB_TRUSTED_PROXIES,
        # decided by the rate limiter; uvicorn's own rewrite would trust any local peer.
        "proxy_headers": False,
        # On SIGTERM, requests still running after this are cancelled (their transactions roll
        # back) instead of keeping the process alive for as long as they take.
        "timeout_graceful_shutdown": settings.shutdown_timeout_s,
    }
