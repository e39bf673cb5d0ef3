"""The Redis buckets: the same arithmetic as in one process, shared by every client of one Redis,
and let through (with a warning) when Redis is gone."""

import asyncio
import logging
import re
import time

import redis
from fastapi import FastAPI

from app.config import Settings
from app.ratelimit.buckets import Charge, MemoryBuckets, Quota, standings
from app.ratelimit.middleware import RateLimitMiddleware
from app.ratelimit.shared import RedisBuckets
from tests.guard.conftest import REDIS_URL, running
from tests.uvicorn_server import free_port

FIELD = r'"per-address";r=(\d+);t=(\d+)'


def _limiter(app: FastAPI) -> RateLimitMiddleware:
    """The app's rate-limit middleware (the test client runs the lifespan around it, so the
    middleware never sees the shutdown that closes its connection)."""
    layer = app.middleware_stack
    while not isinstance(layer, RateLimitMiddleware):
        layer = layer.app  # type: ignore[union-attr]
    return layer


class Records(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


class TestRedisBuckets:
    async def test_a_burst_of_the_limit_then_refusals_like_in_one_process(
        self, redis_prefix: str
    ) -> None:
        quota = Quota("q", limit=6, window=60)
        charge = [Charge(quota, "k")]
        shared, local = RedisBuckets(REDIS_URL, redis_prefix), MemoryBuckets()
        try:
            for _ in range(7):
                used = await shared.charge(charge)
                assert used is not None
                got = standings(charge, used)
                expected = standings(charge, await local.charge(charge))
                assert [(s.remaining, s.exceeded) for s in got] == [
                    (s.remaining, s.exceeded) for s in expected
                ]
            assert got[0].exceeded
            assert got[0].reset == 10
        finally:
            await shared.aclose()

    async def test_two_clients_of_one_redis_count_together(self, redis_prefix: str) -> None:
        quota = Quota("q", limit=10, window=60)
        first, second = RedisBuckets(REDIS_URL, redis_prefix), RedisBuckets(REDIS_URL, redis_prefix)
        try:
            allowed = 0
            for n in range(20):
                buckets = first if n % 2 else second
                used = await buckets.charge([Charge(quota, "k")])
                assert used is not None
                allowed += not standings([Charge(quota, "k")], used)[0].exceeded
            assert allowed == 10
        finally:
            await first.aclose()
            await second.aclose()

    async def test_buckets_expire_when_full_again_and_checks_store_nothing(
        self, redis_prefix: str
    ) -> None:
        buckets = RedisBuckets(REDIS_URL, redis_prefix)
        try:
            await buckets.charge([Charge(Quota("q", limit=4), "k"), Charge(Quota("f", 2), "f", 0)])
        finally:
            await buckets.aclose()
        with redis.Redis.from_url(REDIS_URL) as client:
            assert client.exists(redis_prefix + "f") == 0
            assert 14_000 <= client.pttl(redis_prefix + "k") <= 15_000

    async def test_requests_go_through_uncounted_while_redis_is_down(self) -> None:
        records = Records()
        logger = logging.getLogger("climatelib.ratelimit")
        logger.addHandler(records)
        buckets = RedisBuckets(f"redis://127.0.0.1:{free_port()}/0", "down:")
        try:
            assert await buckets.charge([Charge(Quota("q", 1), "k")]) is None
            started = time.perf_counter()
            assert await buckets.charge([Charge(Quota("q", 1), "k")]) is None
            assert time.perf_counter() - started < 0.01  # not retried at once
        finally:
            logger.removeHandler(records)
            await buckets.aclose()
        assert records.messages == [
            "rate limits not counted: Redis unavailable, requests let through"
        ]


class TestSharedCounting:
    """Concurrent requests of several processes: each answer must be the one Redis stored for
    that request, the script must survive a Redis that forgot it, and an unanswered command must
    cost at most the timeout, with one warning for the outage."""

    async def test_concurrent_requests_count_exactly_and_get_their_own_answers(
        self, redis_prefix: str
    ) -> None:
        quota = Quota("q", limit=20, window=60)
        other = Quota("o", limit=1, window=60)  # stored for a minute
        first, second = RedisBuckets(REDIS_URL, redis_prefix), RedisBuckets(REDIS_URL, redis_prefix)
        try:

            async def one(n: int) -> tuple[int, bool]:
                buckets = first if n % 2 else second
                # A bucket of its own beside the shared one: stored only if this request was let
                # through (all or nothing), so each answer can be checked against what Redis did.
                own = [Charge(quota, "shared"), Charge(other, f"own:{n}")]
                used = await buckets.charge(own)
                assert used is not None
                return n, standings(own, used)[0].exceeded

            answers = await asyncio.gather(*(one(n) for n in range(60)))
        finally:
            await first.aclose()
            await second.aclose()
        assert sum(not exceeded for _, exceeded in answers) == 20
        with redis.Redis.from_url(REDIS_URL) as client:
            stored = [client.exists(f"{redis_prefix}own:{n}") == 1 for n, _ in answers]
        assert stored == [not exceeded for _, exceeded in answers]

    async def test_a_redis_that_lost_the_script_is_sent_it_again(self, redis_prefix: str) -> None:
        quota = Quota("q", limit=3, window=60)
        buckets = RedisBuckets(REDIS_URL, redis_prefix)
        records = Records()
        logging.getLogger("climatelib.ratelimit").addHandler(records)
        try:
            answers = [await buckets.charge([Charge(quota, "k")])]
            with redis.Redis.from_url(REDIS_URL) as client:
                client.script_flush()  # as after a restart: the script's name is unknown
            answers += [await buckets.charge([Charge(quota, "k")]) for _ in range(3)]
        finally:
            logging.getLogger("climatelib.ratelimit").removeHandler(records)
            await buckets.aclose()
        exceeded = [standings([Charge(quota, "k")], a)[0].exceeded for a in answers if a]
        assert exceeded == [False, False, False, True]
        assert records.messages == []

    async def test_an_unanswered_command_is_let_through_after_the_timeout(
        self, redis_prefix: str
    ) -> None:
        writers: list[asyncio.StreamWriter] = []
        done = asyncio.Event()

        async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            writers.append(writer)
            await reader.read(1 << 16)
            await done.wait()

        server = await asyncio.start_server(silent, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        records = Records()
        logger = logging.getLogger("climatelib.ratelimit")
        logger.addHandler(records)
        buckets = RedisBuckets(f"redis://127.0.0.1:{port}/0", redis_prefix)
        try:
            started = time.perf_counter()
            answers = await asyncio.gather(
                *(buckets.charge([Charge(Quota("q", 10), f"k{n}")]) for n in range(10))
            )
            waited = time.perf_counter() - started
            assert answers == [None] * 10
            assert RedisBuckets.TIMEOUT_S <= waited < RedisBuckets.TIMEOUT_S + 0.5
            started = time.perf_counter()
            assert await buckets.charge([Charge(Quota("q", 10), "k")]) is None
            assert time.perf_counter() - started < 0.01  # paused: not asked again at once
        finally:
            logger.removeHandler(records)
            await buckets.aclose()
            done.set()
            for writer in writers:
                writer.close()
                await writer.wait_closed()
            server.close()
            await server.wait_closed()
        assert records.messages == [
            "rate limits not counted: Redis unavailable, requests let through"
        ]


class TestThroughTheApplication:
    """The middleware counting in Redis: the same headers and the same 429 as in one process,
    and every request let through (without the fields) while Redis is down."""

    async def test_redis_limits_answer_like_local_ones(
        self, limited: Settings, redis_prefix: str
    ) -> None:
        settings = limited.model_copy(
            update={"redis_url": REDIS_URL, "redis_key_prefix": redis_prefix}
        )
        async with running(settings) as (app, http):
            answers = [await http.get("/api/v1/taxonomy") for _ in range(4)]
            assert [a.status_code for a in answers] == [200] * 4
            # t: when the next unit frees, one emission interval (15 s) at most.
            fields = [re.fullmatch(FIELD, a.headers["ratelimit"]) for a in answers]
            assert [f and f[1] for f in fields] == ["3", "2", "1", "0"]
            assert all(f and f[2] in ("14", "15") for f in fields)
            assert answers[0].headers["ratelimit-policy"] == '"per-address";q=4;w=60'
            refused = await http.get("/api/v1/regions")
            await _limiter(app).buckets.aclose()
        assert refused.status_code == 429
        assert refused.headers["content-type"] == "application/problem+json"
        assert refused.headers["retry-after"] in ("14", "15")
        assert refused.json()["code"] == "rate_limited"
        assert refused.json()["violated_policies"] == ["per-address"]

    async def test_requests_are_let_through_uncounted_while_redis_is_down(
        self, limited: Settings
    ) -> None:
        settings = limited.model_copy(
            update={"redis_url": f"redis://127.0.0.1:{free_port()}/0", "redis_key_prefix": "down:"}
        )
        async with running(settings) as (_, http):
            answers = [await http.get("/api/v1/taxonomy") for _ in range(10)]
        assert [a.status_code for a in answers] == [200] * 10
        assert all("ratelimit" not in a.headers for a in answers)
