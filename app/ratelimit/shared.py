"""Buckets in Redis, shared by every process and host: one Lua script charges them atomically.

Redis's own clock decides, so hosts with skewed clocks still count alike. Times travel as
integer microseconds (Lua numbers are doubles, exact far beyond that range; Redis truncates a
script's numeric replies to integers). Each bucket expires once it is full again.

When Redis cannot be reached, requests are let through uncounted (fail open: losing the limits
for a moment is better than losing the service); a warning is logged and Redis is left alone for
a few seconds, so an outage costs each request nothing rather than a timeout.
"""

import logging
import time
from collections.abc import Sequence

from redis.asyncio import Redis
from redis.exceptions import RedisError

from app.ratelimit.buckets import Charge

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


class RedisBuckets:
    PAUSE_AFTER_FAILURE_S = 5.0
    TIMEOUT_S = 0.25

    def __init__(self, url: str, prefix: str) -> None:
        self._client = Redis.from_url(
            url, socket_timeout=self.TIMEOUT_S, socket_connect_timeout=self.TIMEOUT_S
        )
        self._script = self._client.register_script(_GCRA)
        self._prefix = prefix
        self._paused_until = 0.0

    async def charge(self, charges: Sequence[Charge]) -> list[float] | None:
        if time.monotonic() < self._paused_until:
            return None
        args: list[int] = []
        for c in charges:
            # Rounded down: a full burst of ``limit`` must still fit in the window.
            args += [int(c.quota.interval * _MICRO), c.quota.window * _MICRO, c.cost]
        try:
            reply = await self._script(keys=[self._prefix + c.key for c in charges], args=args)
        except (RedisError, OSError, TimeoutError) as exc:
            # Requests in flight when Redis went away all fail together: one warning per outage.
            already_paused = time.monotonic() < self._paused_until
            self._paused_until = time.monotonic() + self.PAUSE_AFTER_FAILURE_S
            if already_paused:
                return None
            log.warning(
                "rate limits not counted: Redis unavailable, requests let through",
                extra={"error": f"{type(exc).__name__}: {exc}"},
            )
            return None
        return [int(v) / _MICRO for v in reply]

    async def aclose(self) -> None:
        await self._client.aclose()
