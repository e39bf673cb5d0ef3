"""Quotas and their counting: the generic cell rate algorithm (GCRA), and its per-process store.

A bucket keeps one number, its theoretical arrival time (TAT): the moment it would be full again.
A request of cost c moves the TAT c emission intervals (window / limit) later; it fits while the
TAT stays within one window of now. So a quota of N a minute allows a burst of N, then one
request every 60/N seconds, and never a count that resets at a window boundary.

A store charges several buckets at once and all or nothing: when one of them would overflow,
none moves. A charge of cost 0 only asks whether one more unit would fit (the failed-key check
before the request is served; the failure itself is charged after the 401).
"""

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import NamedTuple, Protocol

# Comparisons of float seconds: a request landing exactly on the boundary fits.
_EPSILON = 1e-9


@dataclass(frozen=True, slots=True)
class Quota:
    """``limit`` units per ``window`` seconds, advertised under ``name``."""

    name: str
    limit: int
    window: int = 60
    interval: float = field(init=False)  # seconds per unit

    def __post_init__(self) -> None:
        object.__setattr__(self, "interval", self.window / self.limit)


# Tuples rather than dataclasses: a few are made per request, and these are cheapest to make.
class Charge(NamedTuple):
    quota: Quota
    key: str
    cost: int = 1


class Standing(NamedTuple):
    """Where one charged bucket stands after a request: what the RateLimit field reports."""

    quota: Quota
    remaining: int
    reset: int
    retry_after: float

    @property
    def exceeded(self) -> bool:
        return self.retry_after > 0


class Buckets(Protocol):
    async def charge(self, charges: Sequence[Charge]) -> list[float] | None:
        """Charge every bucket or none; per charge, its TAT after the request less now, in
        seconds (for a refused request: as it would have been). None: nothing could be counted."""
        ...

    async def aclose(self) -> None: ...


def standings(charges: Sequence[Charge], used: Sequence[float]) -> list[Standing]:
    """What the store's answer means for each charged bucket."""
    out = []
    for (quota, _, _), seconds in zip(charges, used, strict=True):
        window, interval = quota.window, quota.interval
        over = seconds - window
        if over > _EPSILON:
            out.append(Standing(quota, 0, math.ceil(over), over))
            continue
        remaining = min(quota.limit, int((window - seconds) / interval + _EPSILON))
        # The next unit frees when the TAT falls one interval below the window's edge.
        next_unit = seconds - window + (remaining + 1) * interval
        out.append(Standing(quota, remaining, max(0, math.ceil(next_unit - _EPSILON)), 0.0))
    return out


def fits(charges: Sequence[Charge], used: Sequence[float]) -> bool:
    return all(s <= c.quota.window + _EPSILON for c, s in zip(charges, used, strict=True))


class MemoryBuckets:
    """The buckets of this process alone (no Redis configured)."""

    # Full buckets are forgotten (an absent bucket is a full one); the sweep runs when the table
    # has doubled since the last one, so its cost per request stays constant.
    SWEEP_FLOOR = 10_000

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._tats: dict[str, float] = {}
        self._sweep_at = self.SWEEP_FLOOR

    def __len__(self) -> int:
        return len(self._tats)

    async def charge(self, charges: Sequence[Charge]) -> list[float]:
        now = self._clock()
        used = [
            max(self._tats.get(c.key, now), now) - now + c.quota.interval * max(c.cost, 1)
            for c in charges
        ]
        if fits(charges, used):
            for c, seconds in zip(charges, used, strict=True):
                if c.cost > 0:
                    self._tats[c.key] = now + seconds
            if len(self._tats) >= self._sweep_at:
                self._sweep(now)
        return used

    def _sweep(self, now: float) -> None:
        self._tats = {k: tat for k, tat in self._tats.items() if tat > now}
        self._sweep_at = max(self.SWEEP_FLOOR, 2 * len(self._tats))

    async def aclose(self) -> None:
        self._tats.clear()
