"""The Redis buckets: the same arithmetic as in one process, shared by every client of one Redis,
and let through (with a warning) when Redis is gone."""

import logging
import time

import redis

from app.ratelimit.buckets import Charge, MemoryBuckets, Quota, standings
from app.ratelimit.shared import RedisBuckets
from tests.guard.conftest import REDIS_URL
from tests.uvicorn_server import free_port


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
