"""Stalled readers are dropped: a client that takes no part of an answer for ``send_timeout_s``
seconds is disconnected, and its request is cancelled.

An answer goes out through the server's ``send``, which waits while the client's socket buffers
are full, that is while the client does not read. Left alone, a caller that reads the first
kilobyte of an export and stops would keep its request, and whatever the request holds, for as
long as it keeps the socket open. Here each request's pending ``send`` is watched: once one has
waited ``send_timeout_s``, the connection is reset and the task that was sending is cancelled,
which ends the answer where it stands (an export's generator closes and removes its temporary
file) just as when a client goes away. Only waiting to send counts: a request that works for a
long time before it answers is not affected.

Resetting the connection needs the server's transport, which ASGI does not expose; uvicorn's
``receive`` is a method of its request cycle, which holds it. Under a server without one the
request is still cancelled and the server closes the connection, which frees everything but the
socket itself until the client reads or goes.

The check is one timer per request, moved on only while the request lives: a per-message
``asyncio.timeout`` would cost several microseconds on every answer of the hot list page.
"""

import asyncio
import logging
import socket
import struct
from typing import Any, Protocol

from starlette.types import ASGIApp, Message, Receive, Scope, Send

log = logging.getLogger("climatelib.send_timeout")

# A timer may fire a little early (the loop's clock resolution); early by less than this counts.
_SLACK_S = 0.05
# SO_LINGER on, zero seconds: close() discards unsent data and answers the peer with a reset.
_RESET = struct.pack("ii", 1, 0)


class _Transport(Protocol):
    """What is needed of the connection (asyncio's and uvloop's transports alike)."""

    def get_extra_info(self, name: str) -> Any: ...
    def is_closing(self) -> bool: ...
    def abort(self) -> None: ...


def _transport(receive: Receive) -> _Transport | None:
    transport = getattr(getattr(receive, "__self__", None), "transport", None)
    return transport if callable(getattr(transport, "abort", None)) else None


def _reset(transport: _Transport) -> None:
    """Drop the connection now, with its unsent data (a plain close would wait to flush it)."""
    sock = transport.get_extra_info("socket")
    if sock is not None:
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, _RESET)
        except OSError:
            pass  # already gone
    transport.abort()


class _Watch:
    """One request's sends: since when the pending one waits, and the timer that judges it."""

    __slots__ = (
        "_handle",
        "_loop",
        "_path",
        "_receive",
        "_send",
        "_sender",
        "_since",
        "_timeout",
        "cancelled",
    )

    def __init__(self, send: Send, receive: Receive, timeout: float, path: str) -> None:
        self._send = send
        self._receive = receive  # the server's: it leads to the connection, if anything does
        self._path = path
        self._timeout = timeout
        self._loop = asyncio.get_running_loop()
        self._since: float | None = None
        self._sender: asyncio.Task[Any] | None = None
        self._handle = self._loop.call_later(timeout, self._check)
        self.cancelled: asyncio.Task[Any] | None = None  # the sender, once dropped

    async def send(self, message: Message) -> None:
        self._since = self._loop.time()
        self._sender = asyncio.current_task()
        try:
            await self._send(message)
        finally:
            self._since = self._sender = None

    def _check(self) -> None:
        since, now = self._since, self._loop.time()
        if (
            since is not None
            and self._sender is not None
            and now - since >= self._timeout - _SLACK_S
        ):
            self._drop(self._sender)
            return
        self._handle = self._loop.call_at(
            (now if since is None else since) + self._timeout, self._check
        )

    def _drop(self, sender: asyncio.Task[Any]) -> None:
        self.cancelled = sender
        log.warning(
            "client stopped reading: connection dropped",
            extra={"path": self._path, "after_s": self._timeout},
        )
        transport = _transport(self._receive)
        if transport is not None and not transport.is_closing():
            _reset(transport)
        sender.cancel("the client stopped reading")

    def stop(self) -> None:
        self._handle.cancel()


class SendTimeoutMiddleware:
    """Disconnect a client whose answer could not be sent for ``timeout_s`` seconds (0: never).

    The outermost of the app's own middleware: it needs the server's own ``receive`` (which
    Starlette's error middleware, around every other, passes on as it is).
    """

    def __init__(self, app: ASGIApp, *, timeout_s: float) -> None:
        self.app = app
        self.timeout_s = timeout_s

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not self.timeout_s:
            await self.app(scope, receive, send)
            return
        watch = _Watch(send, receive, self.timeout_s, scope["path"])
        try:
            await self.app(scope, receive, watch.send)
        except asyncio.CancelledError:
            # Our own cancellation ends here: the client is gone and so is its answer. Any
            # other (the server shutting down) goes on.
            task = asyncio.current_task()
            if task is None or watch.cancelled is not task or task.uncancel() > 0:
                raise
        finally:
            watch.stop()
