"""Rate limits in one process: the GCRA arithmetic, client addresses behind proxies, and the
quotas per key, per address, for expensive endpoints and for failed authentications."""

import re
import uuid

import httpx
import pytest
from pydantic import ValidationError

from app.config import Settings
from app.models import Role
from app.ratelimit.buckets import Charge, MemoryBuckets, Quota, standings
from app.ratelimit.client import ClientAddress
from tests.conftest import Keys
from tests.guard.conftest import running

PROBLEM = "application/problem+json"


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class TestGcra:
    async def test_a_burst_of_the_limit_then_one_per_interval(self) -> None:
        clock = Clock()
        buckets = MemoryBuckets(clock)
        quota = Quota("q", limit=6, window=60)  # one every 10 s
        charge = [Charge(quota, "k")]
        remaining = []
        for _ in range(6):
            (state,) = standings(charge, await buckets.charge(charge))
            assert not state.exceeded
            remaining.append(state.remaining)
        assert remaining == [5, 4, 3, 2, 1, 0]
        (state,) = standings(charge, await buckets.charge(charge))
        assert state.exceeded
        assert state.reset == 10
        assert state.retry_after == pytest.approx(10)
        clock.now += 9.5
        (state,) = standings(charge, await buckets.charge(charge))
        assert state.exceeded
        assert state.reset == 1
        clock.now += 0.5
        (state,) = standings(charge, await buckets.charge(charge))
        assert (state.exceeded, state.remaining) == (False, 0)
        clock.now += 60
        (state,) = standings(charge, await buckets.charge(charge))
        assert state.remaining == 5

    async def test_reset_is_when_the_next_unit_frees(self) -> None:
        clock = Clock()
        buckets = MemoryBuckets(clock)
        charge = [Charge(Quota("q", limit=4, window=60), "k")]  # one every 15 s
        await buckets.charge(charge)
        clock.now += 5
        (state,) = standings(charge, await buckets.charge(charge))
        assert (state.remaining, state.reset) == (2, 10)

    async def test_all_or_nothing_and_checks_cost_nothing(self) -> None:
        clock = Clock()
        buckets = MemoryBuckets(clock)
        small, large = Quota("small", limit=1), Quota("large", limit=100)
        check = Charge(small, "s", cost=0)
        for _ in range(3):
            assert not any(s.exceeded for s in standings([check], await buckets.charge([check])))
        both = [Charge(small, "s"), Charge(large, "l")]
        first = standings(both, await buckets.charge(both))
        assert [s.remaining for s in first] == [0, 99]
        second = standings(both, await buckets.charge(both))
        assert [s.exceeded for s in second] == [True, False]
        (alone,) = standings([both[1]], await buckets.charge([both[1]]))
        assert alone.remaining == 98  # the refused request did not charge it

    async def test_full_buckets_are_forgotten(self) -> None:
        clock = Clock()
        buckets = MemoryBuckets(clock)
        quota = Quota("q", limit=10)
        for n in range(MemoryBuckets.SWEEP_FLOOR - 1):
            await buckets.charge([Charge(quota, f"k{n}")])
        clock.now += 7
        await buckets.charge([Charge(quota, "fresh")])
        assert len(buckets) == 1


class TestClientAddress:
    def scope(self, peer: str, *forwarded: str) -> dict[str, object]:
        headers = [(b"x-forwarded-for", value.encode()) for value in forwarded]
        return {"client": (peer, 40000), "headers": headers}

    def test_forwarded_for_is_ignored_from_an_untrusted_peer(self) -> None:
        address = ClientAddress(["10.0.0.0/8"])
        assert address(self.scope("203.0.113.7", "198.51.100.1")) == "203.0.113.7"
        assert ClientAddress([])(self.scope("10.0.0.5", "198.51.100.1")) == "10.0.0.5"

    def test_the_first_untrusted_hop_from_the_right_is_the_client(self) -> None:
        address = ClientAddress(["10.0.0.0/8", "192.0.2.1"])
        spoofed = self.scope("10.0.0.5", "6.6.6.6, 198.51.100.1", "192.0.2.1, 10.1.1.1")
        assert address(spoofed) == "198.51.100.1"
        assert address(self.scope("10.0.0.5", "garbage, 198.51.100.9")) == "198.51.100.9"
        assert address(self.scope("10.0.0.5", "garbage")) == "10.0.0.5"
        assert address(self.scope("10.0.0.5")) == "10.0.0.5"
        assert address(self.scope("10.0.0.5", "10.2.2.2")) == "10.2.2.2"

    def test_ipv6_clients_count_per_64_and_mapped_ipv4_as_ipv4(self) -> None:
        address = ClientAddress([])
        assert address(self.scope("2001:db8:1:2:aaaa::1")) == "2001:db8:1:2::/64"
        assert address(self.scope("2001:db8:1:2:bbbb::9")) == "2001:db8:1:2::/64"
        assert address(self.scope("::ffff:198.51.100.4")) == "198.51.100.4"
        assert address({"client": None, "headers": []}) == "unknown"

    def test_trusted_proxies_come_comma_separated_and_are_checked(
        self, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.setenv("CLIMATELIB_TRUSTED_PROXIES", "10.0.0.0/8, 192.0.2.1,::1")
        assert Settings().trusted_proxies == ["10.0.0.0/8", "192.0.2.1", "::1"]
        with pytest.raises(ValidationError, match="not-an-address"):
            Settings(trusted_proxies="10.0.0.0/8,not-an-address")


FIELD = re.compile(r'"([a-z-]+)";r=(\d+);t=(\d+)')


def remaining(response: httpx.Response) -> dict[str, int]:
    return {name: int(r) for name, r, _ in FIELD.findall(response.headers["ratelimit"])}


def assert_rate_limited(response: httpx.Response, *policies: str) -> dict[str, object]:
    assert response.status_code == 429
    assert response.headers["content-type"] == PROBLEM
    body: dict[str, object] = response.json()
    assert body["code"] == "rate_limited"
    assert body["type"] == "https://climatelib.org/problems/rate-limited"
    assert body["title"] == "Too many requests"
    assert body["violated_policies"] == list(policies)
    assert body["request_id"] == response.headers["x-request-id"]
    retry_after = int(response.headers["retry-after"])
    assert retry_after >= 1
    fields = FIELD.findall(response.headers["ratelimit"])
    assert [(name, r) for name, r, _ in fields] == [(p, "0") for p in policies]
    assert max(int(t) for _, _, t in fields) == retry_after
    return body


class TestQuotas:
    """Through the application, with limits from the ``limited`` settings: 4 a minute per
    address, 5 per key, 3 failed authentications, 2 expensive per 10 s."""

    async def test_anonymous_callers_share_their_address_quota(self, limited: Settings) -> None:
        async with running(limited) as (_, http):
            answers = [await http.get("/api/v1/taxonomy") for _ in range(4)]
            assert [a.status_code for a in answers] == [200] * 4
            assert [remaining(a)["per-address"] for a in answers] == [3, 2, 1, 0]
            assert answers[0].headers["ratelimit-policy"] == '"per-address";q=4;w=60'
            refused = await http.get("/api/v1/regions")
        body = assert_rate_limited(refused, "per-address")
        assert body["detail"] == (
            "More than 4 requests in 60 s for this client address without a key; retry in 15 s."
        )
        assert refused.headers["retry-after"] == "15"

    async def test_each_key_has_its_own_quota(self, limited: Settings) -> None:
        async with running(limited) as (app, http):
            keys = Keys(app)
            first, second = await keys.admin(), await keys.issue(Role.reviewer, "44")
            for _ in range(5):
                assert (await http.get("/api/v1/api-keys", headers=first)).status_code == 200
            assert_rate_limited(await http.get("/api/v1/api-keys", headers=first), "per-key")
            answer = await http.get("/api/v1/projects", headers=second)
            assert answer.status_code == 200
            assert remaining(answer) == {"per-key": 4}
            # Keyed requests do not use the address's quota.
            assert remaining(await http.get("/api/v1/taxonomy")) == {"per-address": 3}

    async def test_expensive_endpoints_have_a_lower_quota_of_their_own(
        self, limited: Settings
    ) -> None:
        async with running(limited) as (_, http):
            for expected in (1, 0):
                answer = await http.get("/api/v1/stats/overview")
                assert answer.status_code == 200
                assert remaining(answer) == {"per-address": 4 - 2 + expected, "expensive": expected}
            assert answer.headers["ratelimit-policy"] == (
                '"per-address";q=4;w=60, "expensive";q=2;w=10'
            )
            body = assert_rate_limited(await http.get("/api/v1/projects/export"), "expensive")
            assert body["detail"] == (
                "More than 2 requests in 10 s for statistics, exports, matches, portfolios and "
                "integrity flags; retry in 5 s."
            )
            assert (await http.get("/api/v1/taxonomy")).status_code == 200

    async def test_portfolios_and_integrity_flags_draw_from_the_expensive_quota(
        self, limited: Settings, database_url: str
    ) -> None:
        # On both databases: the portfolio and the flags answer from either.
        settings = limited.model_copy(update={"database_url": database_url})
        async with running(settings) as (app, http):
            keys = Keys(app)
            admin, reviewer = await keys.admin(), await keys.issue(Role.reviewer, "44")
            portfolio = f"/api/v1/institutions/{uuid.uuid4()}/portfolio"
            json_answer = await http.get(portfolio, headers=admin)
            workbook = await http.get(portfolio, params={"format": "xlsx"}, headers=admin)
            assert remaining(json_answer) == {"per-key": 4, "expensive": 1}
            assert remaining(workbook) == {"per-key": 3, "expensive": 0}
            integrity = f"/api/v1/projects/{uuid.uuid4()}/integrity"
            assert_rate_limited(await http.get(integrity, headers=admin), "expensive")

            # The project list is expensive only when filtered by a flag.
            plain = await http.get("/api/v1/projects", headers=reviewer)
            assert remaining(plain) == {"per-key": 4}
            flagged = await http.get(
                "/api/v1/projects", params={"status": "submitted", "flag": "x"}, headers=reviewer
            )
            assert remaining(flagged) == {"per-key": 3, "expensive": 1}
            assert remaining(await http.get(integrity, headers=reviewer))["expensive"] == 0

    async def test_wrong_keys_are_refused_before_lookup_after_the_failure_quota(
        self, limited: Settings
    ) -> None:
        async with running(limited) as (app, http):
            good = await Keys(app).admin()
            for n in range(3):
                bad = {"Authorization": f"Bearer clk_guess{n}"}
                assert (await http.get("/api/v1/projects", headers=bad)).status_code == 401
            guess = await http.get("/api/v1/projects", headers={"Authorization": "Bearer clk_x"})
            body = assert_rate_limited(guess, "failed-auth")
            assert body["detail"] == (
                "More than 3 requests in 60 s for failed authentications from this client "
                "address; retry in 20 s."
            )
            # From that address no key is looked up for now, not even a good one ...
            assert_rate_limited(await http.get("/api/v1/projects", headers=good), "failed-auth")
            # ... while the public can still read.
            assert (await http.get("/api/v1/projects")).status_code == 200

    async def test_successes_and_anonymous_401s_do_not_count_as_failures(
        self, limited: Settings
    ) -> None:
        async with running(limited.model_copy(update={"rate_limit_per_key": 100})) as (app, h):
            good = await Keys(app).issue(Role.reviewer, "44")
            for _ in range(4):
                assert (await h.get("/api/v1/projects", headers=good)).status_code == 200
            for _ in range(3):
                assert (await h.get("/api/v1/api-keys")).status_code == 401
            assert (await h.get("/api/v1/api-keys", headers=good)).status_code == 403
            assert (await h.get("/api/v1/projects", headers=good)).status_code == 200

    async def test_probes_are_never_limited(self, limited: Settings) -> None:
        async with running(limited) as (_, http):
            for _ in range(10):
                for path in ("/healthz", "/readyz", "/metrics"):
                    answer = await http.get(path)
                    assert answer.status_code == 200
                    assert "ratelimit" not in answer.headers

    async def test_forwarded_addresses_count_apart_only_behind_a_trusted_proxy(
        self, limited: Settings
    ) -> None:
        def forwarded(address: str) -> dict[str, str]:
            return {"X-Forwarded-For": address}

        async with running(limited) as (_, http):
            for n in range(4):
                answer = await http.get("/api/v1/taxonomy", headers=forwarded(f"198.51.100.{n}"))
                assert answer.status_code == 200
            refused = await http.get("/api/v1/taxonomy", headers=forwarded("198.51.100.99"))
            assert_rate_limited(refused, "per-address")
        behind_proxy = limited.model_copy(update={"trusted_proxies": ["127.0.0.1"]})
        async with running(behind_proxy) as (_, http):
            for n in range(6):
                answer = await http.get("/api/v1/taxonomy", headers=forwarded(f"198.51.100.{n}"))
                assert remaining(answer) == {"per-address": 3}

    @pytest.mark.parametrize(
        "update",
        [
            {"rate_limits": False},
            {
                "rate_limit_per_key": 0,
                "rate_limit_per_address": 0,
                "rate_limit_expensive": 0,
                "rate_limit_auth_failures": 0,
            },
        ],
    )
    async def test_limits_can_be_turned_off(
        self, limited: Settings, update: dict[str, object]
    ) -> None:
        async with running(limited.model_copy(update=update)) as (_, http):
            for n in range(12):
                answer = await http.get("/api/v1/stats/overview")
                assert answer.status_code == 200
                assert "ratelimit" not in answer.headers
                bad = {"Authorization": f"Bearer clk_guess{n}"}
                assert (await http.get("/api/v1/projects", headers=bad)).status_code == 401

    async def test_without_redis_each_worker_enforces_its_share(self, limited: Settings) -> None:
        async with running(limited.model_copy(update={"workers": 2})) as (_, http):
            answer = await http.get("/api/v1/taxonomy")
            assert answer.headers["ratelimit-policy"] == '"per-address";q=2;w=60'
            await http.get("/api/v1/taxonomy")
            assert_rate_limited(await http.get("/api/v1/taxonomy"), "per-address")
