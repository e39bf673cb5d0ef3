"""Which quotas a request is charged against.

- A request with an ``Authorization`` header counts against that key (its digest: the key is not
  known to be valid yet, and is never kept); one without counts against its client address.
- Statistics, exports, match lists, institutions' portfolios (JSON or the XLSX workbook, an
  aggregate over every offer and payment) and integrity flags (a project's, or the project list
  filtered by ``flag=``: each compares it with its peers), up to seconds of work each, count
  again, lower and over a shorter window, per key or address.
- Every 401 answered to a request that carried credentials counts against its client address;
  once those are used up, requests with credentials from that address are refused before the key
  is looked up, so guessing keys costs the guesser time and the database nothing.
- Health, readiness and metrics are never limited: a probe refused would take the instance out.

Without Redis each process counts alone, so each gets its share: the limit divided by the
workers on the host.
"""

import hashlib
import re
from dataclasses import dataclass

from app.config import Settings
from app.ratelimit.buckets import Charge, Quota

EXPENSIVE_PATH = re.compile(
    r"/api/v1/(?:stats/overview|projects/export|export/iati"
    r"|(?:products|projects)/[^/]+/matches|matching/preview"
    r"|institutions/[^/]+/portfolio|projects/[^/]+/integrity)"
)
# The project list is cheap, but not with a flag filter: every candidate is checked.
FLAG_FILTERED_PATH = "/api/v1/projects"
FLAG_PARAMETER = re.compile(rb"(?:^|&)flag=")
UNLIMITED_PATHS = frozenset({"/healthz", "/readyz", "/metrics"})

SUBJECTS = {
    "per-key": "this API key",
    "per-address": "this client address without a key",
    "expensive": "statistics, exports, matches, portfolios and integrity flags",
    "failed-auth": "failed authentications from this client address",
}


@dataclass(frozen=True, slots=True)
class RatePolicy:
    per_key: Quota | None
    per_address: Quota | None
    expensive: Quota | None
    failed_auth: Quota | None

    @classmethod
    def from_settings(cls, settings: Settings, processes: int) -> "RatePolicy":
        def quota(name: str, limit: int, window: int = 60) -> Quota | None:
            if not settings.rate_limits or limit <= 0:
                return None
            return Quota(name, max(1, limit // processes), window)

        return cls(
            per_key=quota("per-key", settings.rate_limit_per_key),
            per_address=quota("per-address", settings.rate_limit_per_address),
            # A short window: a quota is also the largest burst, and a burst of a minute's worth
            # of these would hold the CPU for seconds.
            expensive=quota("expensive", settings.rate_limit_expensive, window=10),
            failed_auth=quota("failed-auth", settings.rate_limit_auth_failures),
        )

    @property
    def is_active(self) -> bool:
        return any((self.per_key, self.per_address, self.expensive, self.failed_auth))

    def charges(
        self, path: str, address: str, credential: bytes | None, query: bytes = b""
    ) -> list[Charge]:
        """The buckets one request is charged against, the failed-key check first."""
        out = []
        if credential is None:
            identity = "a:" + address
            if self.per_address is not None:
                out.append(Charge(self.per_address, identity))
        else:
            identity = "k:" + hashlib.sha256(credential).hexdigest()[:32]
            if self.failed_auth is not None:
                out.append(Charge(self.failed_auth, "f:" + address, cost=0))
            if self.per_key is not None:
                out.append(Charge(self.per_key, identity))
        if self.expensive is not None and (
            EXPENSIVE_PATH.fullmatch(path)
            or (path == FLAG_FILTERED_PATH and FLAG_PARAMETER.search(query))
        ):
            out.append(Charge(self.expensive, "x:" + identity))
        return out

    def failure(self, address: str) -> Charge | None:
        """What a 401 to a request with credentials costs its address."""
        if self.failed_auth is None:
            return None
        return Charge(self.failed_auth, "f:" + address)
