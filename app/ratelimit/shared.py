"""Buckets in Redis, shared by every process and host: one Lua script charges them atomically.

Redis's own clock decides, so hosts with skewed clocks still count alike. Times travel as
integer microseconds (Lua numbers are doubles, exact far beyond that range; Redis truncates a
script's numeric replies to integers). Each bucket expires once it is full again.

Every limited request makes this round trip, so it is kept to one ``EVALSHA`` on one connection
per process that every request of the process shares (Redis answers in order, so requests in
flight queue their replies rather than a connection each), written as the bytes of the protocol
directly: most of the quota arguments are encoded once, and the commands of the requests that
arrive in one turn of the event loop leave in one write. A Redis that does not know the script
(restarted, flushed) answers ``NOSCRIPT``; the request is sent again as ``EVAL``, which loads it.

When Redis cannot be reached, times out or answers an error, requests are let through uncounted
(fail open: losing the limits for a moment is better than losing the service); a warning is
logged once and Redis is left alone for a few seconds, so an outage costs each request nothing
rather than a timeout.
"""

import asyncio
import hashlib
import logging
import ssl
import time
from collections import deque
from collections.abc import Sequence
from typing import Any

from redis.asyncio.connection import SSLConnection, parse_url

from app.ratelimit.buckets import Charge, Quota

log = logging.getLogger("climatelib.ratelimit")

_GCRA = """
local clock = redis.call('TIME')
local now = tonumber(clock[1]) * 1000000 + tonumber(clock[2])
local used = {}
local fits = true
for i, key in ipairs(KEYS) do
  local interval = tonumber(ARGV[3 * i - 2])
  local window = tonumber(ARGV[3 * i - 1])
  local cost = tonumber(ARGV[3 * i])
  local tat = tonumber(redis.call('GET', key)) or now
  if tat < now then tat = now end
  used[i] = tat - now + interval * math.max(cost, 1)
  if used[i] > window then fits = false end
end
if fits then
  for i, key in ipairs(KEYS) do
    if tonumber(ARGV[3 * i]) > 0 then
      redis.call('SET', key, string.format('%.0f', now + used[i]),
                 'PX', math.max(1, math.ceil(used[i] / 1000)))
    end
  end
end
return used
"""

_MICRO = 1_000_000
# The name Redis gives the script (SHA-1 is what EVALSHA uses, not a security measure).
_SHA = hashlib.sha1(_GCRA.encode(), usedforsecurity=False).hexdigest().encode()


def _bulk(value: bytes) -> bytes:
    return b"$%d\r\n%s\r\n" % (len(value), value)


def _command(*parts: bytes) -> bytes:
    return b"*%d\r\n" % len(parts) + b"".join(_bulk(p) for p in parts)


def _head(verb: bytes, body: bytes, keys: int) -> bytes:
    """``verb body numkeys`` as the start of an array of ``3 + 4 * keys`` bulk strings (a key and
    its three arguments per bucket)."""
    return b"*%d\r\n" % (3 + 4 * keys) + _bulk(verb) + _bulk(body) + _bulk(b"%d" % keys)


class RedisError(Exception):
    """Redis answered with an error, or the answer could not be had."""


class _Incomplete(Exception):
    pass


def _parse(buf: bytes, pos: int) -> tuple[Any, int]:
    """One RESP2 reply at ``pos``: its value (an error as a ``RedisError``) and where it ends."""
    end = buf.find(b"\r\n", pos)
    if end < 0:
        raise _Incomplete
    kind, line = buf[pos : pos + 1], buf[pos + 1 : end]
    pos = end + 2
    if kind == b":":
        return int(line), pos
    if kind == b"*":
        n = int(line)
        if n < 0:
            return None, pos
        items = []
        for _ in range(n):
            item, pos = _parse(buf, pos)
            items.append(item)
        return items, pos
    if kind == b"+":
        return line.decode(), pos
    if kind == b"-":
        return RedisError(line.decode(errors="replace")), pos
    if kind == b"$":
        n = int(line)
        if n < 0:
            return None, pos
        if len(buf) < pos + n + 2:
            raise _Incomplete
        return buf[pos : pos + n], pos + n + 2
    raise RedisError(f"unexpected reply from Redis: {buf[pos - len(line) - 3 : end]!r}")


class _Pending:
    __slots__ = ("body", "deadline", "future", "keys")

    def __init__(self, future: "asyncio.Future[Any]", keys: int, body: bytes) -> None:
        self.future, self.keys, self.body = future, keys, body
        self.deadline = 0.0


class _Connection(asyncio.Protocol):
    """One connection to Redis on which commands are pipelined: the n-th reply answers the n-th
    command written. Any failure closes it and fails every command in flight."""

    def __init__(self, timeout: float) -> None:
        self.loop = asyncio.get_running_loop()
        self._timeout = timeout
        self._watchdog: asyncio.TimerHandle | None = None
        self.lost: asyncio.Future[None] = self.loop.create_future()
        self._transport: asyncio.Transport | None = None
        self._pending: deque[_Pending] = deque()
        self._out: list[bytes] = []
        self._buf = b""
        self.closed = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = transport  # type: ignore[assignment]  # a stream transport

    def send(self, data: bytes, pending: _Pending) -> None:
        if self.closed:
            raise RedisError("connection to Redis closed")
        if not self._pending and self._transport is not None:
            # Nothing in flight (a quiet moment): no reason to wait for company.
            self._transport.write(data)
        else:
            if not self._out:
                # Under load, the commands of one turn of the event loop leave in one write.
                self.loop.call_soon(self._flush)
            self._out.append(data)
        pending.deadline = self.loop.time() + self._timeout
        self._pending.append(pending)
        if self._watchdog is None:
            self._watchdog = self.loop.call_at(pending.deadline, self._watch)

    def _watch(self) -> None:
        # One timer per connection rather than one per request. Replies come in order, so only
        # the oldest command in flight can be the first overdue; when it is, every later one
        # waits behind it.
        self._watchdog = None
        if not self._pending or self.closed:
            return
        deadline = self._pending[0].deadline
        if self.loop.time() >= deadline:
            self.fail(TimeoutError("Redis did not answer in time"))
        else:
            self._watchdog = self.loop.call_at(deadline, self._watch)

    def _flush(self) -> None:
        out, self._out = self._out, []
        if self._transport is not None and not self.closed:
            self._transport.write(b"".join(out))

    def data_received(self, data: bytes) -> None:
        buf = self._buf + data if self._buf else data
        pos = 0
        try:
            while pos < len(buf):
                try:
                    value, pos_after = _parse(buf, pos)
                except _Incomplete:
                    break
                pos = pos_after
                if not self._pending:
                    raise RedisError("a reply from Redis that nothing asked for")
                self._answer(self._pending.popleft(), value)
        except (RedisError, ValueError) as exc:
            self.fail(exc)
            return
        self._buf = buf[pos:]

    def _answer(self, pending: _Pending, value: Any) -> None:
        if isinstance(value, RedisError) and str(value).startswith("NOSCRIPT"):
            # EVAL runs the script and keeps it: the next EVALSHA finds it.
            self.send(_head(b"EVAL", _GCRA.encode(), pending.keys) + pending.body, pending)
            return
        if not pending.future.done():
            if isinstance(value, RedisError):
                pending.future.set_exception(value)
            else:
                pending.future.set_result(value)

    def connection_lost(self, exc: Exception | None) -> None:
        self.fail(exc or RedisError("connection to Redis closed"))
        if not self.lost.done():
            self.lost.set_result(None)

    def fail(self, exc: BaseException) -> None:
        self.closed = True
        if self._watchdog is not None:
            self._watchdog.cancel()
            self._watchdog = None
        if self._transport is not None:
            self._transport.abort()
        pending, self._pending = self._pending, deque()
        for p in pending:
            if not p.future.done():
                p.future.set_exception(RedisError(f"{type(exc).__name__}: {exc}"))

    def close(self) -> None:
        self.closed = True
        if self._transport is not None:
            self._transport.close()


def _tls(options: dict[str, Any]) -> ssl.SSLContext:
    """The TLS of a ``rediss://`` URL: verified against the system's authorities unless its
    query names others (``ssl_ca_certs``) or turns verification off (``ssl_cert_reqs=none``)."""
    context = ssl.create_default_context(cafile=options.get("ssl_ca_certs"))
    if str(options.get("ssl_cert_reqs", "required")).lower() in ("none", str(ssl.CERT_NONE)):
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    return context


class RedisBuckets:
    PAUSE_AFTER_FAILURE_S = 5.0
    TIMEOUT_S = 0.25

    def __init__(self, url: str, prefix: str) -> None:
        options: dict[str, Any] = dict(parse_url(url))
        self._unix_path: str | None = options.get("path")
        self._host: str = options.get("host", "localhost")
        self._port: int = options.get("port", 6379)
        self._ssl = _tls(options) if options.get("connection_class") is SSLConnection else None
        # Sent once per connection, before anything else; their "+OK"s are checked like replies.
        self._hello: list[bytes] = []
        password, username = options.get("password"), options.get("username")
        if password is not None:
            auth = [username.encode()] if username else []
            self._hello.append(_command(b"AUTH", *auth, password.encode()))
        if options.get("db"):
            self._hello.append(_command(b"SELECT", b"%d" % int(options["db"])))
        self._prefix = prefix.encode()
        self._connection: _Connection | None = None
        self._connecting: asyncio.Future[_Connection] | None = None
        self._paused_until = 0.0
        # The three arguments of each (quota, cost), encoded once; a policy has a handful.
        self._arguments: dict[tuple[Quota, int], bytes] = {}
        self._heads: dict[int, bytes] = {}

    async def charge(self, charges: Sequence[Charge]) -> list[float] | None:
        if time.monotonic() < self._paused_until:
            return None
        try:
            connection = self._connection
            if (
                connection is None
                or connection.closed
                or connection.loop is not asyncio.get_running_loop()
            ):
                connection = await self._connect()
            n = len(charges)
            head = self._heads.get(n)
            if head is None:
                head = self._heads[n] = _head(b"EVALSHA", _SHA, n)
            parts = []
            arguments = self._arguments
            prefix = self._prefix
            for c in charges:
                key = prefix + c.key.encode()
                parts.append(b"$%d\r\n%s\r\n" % (len(key), key))
            for c in charges:
                encoded = arguments.get((c.quota, c.cost))
                if encoded is None:
                    encoded = arguments[(c.quota, c.cost)] = self._encode(c.quota, c.cost)
                parts.append(encoded)
            body = b"".join(parts)
            future: asyncio.Future[Any] = connection.loop.create_future()
            connection.send(head + body, _Pending(future, n, body))
            reply = await future
            return [v / _MICRO for v in reply]
        except (RedisError, OSError, TimeoutError, TypeError) as exc:
            self._fail(exc)
            return None

    @staticmethod
    def _encode(quota: Quota, cost: int) -> bytes:
        # The interval rounded down: a full burst of ``limit`` must still fit in the window.
        values = (int(quota.interval * _MICRO), quota.window * _MICRO, cost)
        return b"".join(_bulk(b"%d" % v) for v in values)

    async def _connect(self) -> _Connection:
        if (
            self._connecting is None
            or self._connecting.get_loop() is not asyncio.get_running_loop()
        ):
            self._connecting = asyncio.ensure_future(self._open())
        connecting = self._connecting
        try:
            # shield: one caller giving up must not cancel the others' connection.
            return await asyncio.shield(connecting)
        finally:
            if connecting.done():
                self._connecting = None

    async def _open(self) -> _Connection:
        loop = asyncio.get_running_loop()
        async with asyncio.timeout(self.TIMEOUT_S):
            if self._unix_path is not None:
                _, connection = await loop.create_unix_connection(
                    lambda: _Connection(self.TIMEOUT_S), self._unix_path
                )
            else:
                _, connection = await loop.create_connection(
                    lambda: _Connection(self.TIMEOUT_S), self._host, self._port, ssl=self._ssl
                )
            try:
                for command in self._hello:
                    future: asyncio.Future[Any] = loop.create_future()
                    connection.send(command, _Pending(future, 0, b""))
                    await future
            except BaseException:
                connection.close()
                raise
        self._connection = connection
        return connection

    def _fail(self, exc: BaseException) -> None:
        now = time.monotonic()
        if now < self._paused_until:
            return  # another request in flight saw the same outage and said so
        self._paused_until = now + self.PAUSE_AFTER_FAILURE_S
        log.warning(
            "rate limits not counted: Redis unavailable, requests let through",
            extra={"error": f"{type(exc).__name__}: {exc}"},
        )

    async def aclose(self) -> None:
        connection, self._connection = self._connection, None
        if connection is not None and connection.loop is asyncio.get_running_loop():
            connection.close()
            # The socket is closed on a later turn of the loop; the loop may not get another.
            await asyncio.wait([connection.lost], timeout=self.TIMEOUT_S)
