"""The rate-limit middleware: charge a request's buckets before the application sees it, answer
429 problem+json when one is empty, and advertise the quotas on every limited answer with the
IETF ``RateLimit-Policy`` and ``RateLimit`` fields (draft-ietf-httpapi-ratelimit-headers)."""

from collections.abc import Sequence
from functools import lru_cache

from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.config import Settings
from app.errors import problem_response
from app.ratelimit.buckets import Buckets, Charge, MemoryBuckets, Quota, Standing, standings
from app.ratelimit.client import ClientAddress
from app.ratelimit.policy import SUBJECTS, UNLIMITED_PATHS, RatePolicy
from app.ratelimit.shared import RedisBuckets


def _policy_field(quotas: Sequence[Quota]) -> str:
    return ", ".join(f'"{q.name}";q={q.limit};w={q.window}' for q in quotas)


def _limit_field(states: Sequence[Standing]) -> str:
    return ", ".join(f'"{s.quota.name}";r={s.remaining};t={s.reset}' for s in states)


def rate_limit_fields(states: Sequence[Standing]) -> dict[str, str]:
    return {
        "RateLimit-Policy": _policy_field([s.quota for s in states]),
        "RateLimit": _limit_field(states),
    }


@lru_cache(maxsize=64)
def _policy_header(quotas: tuple[Quota, ...]) -> tuple[bytes, bytes]:
    return (b"ratelimit-policy", _policy_field(quotas).encode())


def _headers(states: Sequence[Standing]) -> list[tuple[bytes, bytes]]:
    """The two fields for an answer that was let through (the policy part is always the same)."""
    return [
        _policy_header(tuple(s.quota for s in states)),
        (b"ratelimit", _limit_field(states).encode()),
    ]


class RateLimitMiddleware:
    def __init__(self, app: ASGIApp, *, settings: Settings) -> None:
        self.app = app
        url = settings.redis_url
        self.policy = RatePolicy.from_settings(settings, settings.workers if url is None else 1)
        self.buckets: Buckets = MemoryBuckets()
        if url is not None and self.policy.is_active:
            self.buckets = RedisBuckets(url, settings.redis_key_prefix)
        self.client_address = ClientAddress(settings.trusted_proxies)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self.app(scope, self._closing(receive), send)
            return
        if scope["type"] != "http" or not self.policy.is_active or scope["path"] in UNLIMITED_PATHS:
            await self.app(scope, receive, send)
            return
        address = self.client_address(scope)
        credential = None
        for name, value in scope["headers"]:
            if name == b"authorization":
                credential = value
                break
        charges = self.policy.charges(
            scope["path"], address, credential, scope.get("query_string", b"")
        )
        used = await self.buckets.charge(charges) if charges else None
        fields: list[tuple[bytes, bytes]] = []
        if used is not None:
            states = standings(charges, used)
            refused = [s for s in states if s.exceeded]
            if refused:
                await self._refuse(scope, receive, send, refused)
                return
            charged = [s for s, c in zip(states, charges, strict=False) if c.cost]
            if charged:
                fields = _headers(charged)
        failure = self.policy.failure(address) if credential is not None else None
        if not fields and failure is None:
            await self.app(scope, receive, send)
            return
        await self.app(scope, receive, self._sending(send, fields, failure))

    def _sending(
        self, send: Send, fields: list[tuple[bytes, bytes]], failure: Charge | None
    ) -> Send:
        async def send_with_fields(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", ()), *fields]
                if failure is not None and message["status"] == 401:
                    await self.buckets.charge([failure])
            await send(message)

        return send_with_fields

    @staticmethod
    async def _refuse(scope: Scope, receive: Receive, send: Send, refused: list[Standing]) -> None:
        worst = max(refused, key=lambda s: s.retry_after)
        quota = worst.quota
        detail = (
            f"More than {quota.limit} requests in {quota.window} s for "
            f"{SUBJECTS.get(quota.name, quota.name)}; retry in {worst.reset} s."
        )
        response = problem_response(
            429,
            "rate_limited",
            "Too many requests",
            detail,
            headers={"Retry-After": str(worst.reset), **rate_limit_fields(refused)},
            request=Request(scope),
            violated_policies=[s.quota.name for s in refused],
        )
        await response(scope, receive, send)

    def _closing(self, receive: Receive) -> Receive:
        async def receive_closing() -> Message:
            message = await receive()
            if message["type"] == "lifespan.shutdown":
                await self.buckets.aclose()
            return message

        return receive_closing
