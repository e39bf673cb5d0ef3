"""Idempotency-Key on a monitoring report's POST (the first answer replayed) and on a webhook
subscription's (its signing secret is never stored: the retry answers 409 secret_not_replayable
and subscribes nothing more), through HTTP on both databases."""

from datetime import date

import httpx
from fastapi import FastAPI
from sqlalchemy import select

from app.models import IdempotencyRecord
from tests.api.results.test_monitoring import report
from tests.conftest import Keys
from tests.factories import library_project

HOOKS = "/api/v1/webhooks"
HOOK = {"url": "https://93.184.215.14/hook", "events": ["match.new"]}


FIRST_HALF = report()
SECOND_HALF = report(period_start="2025-07-01", period_end="2025-12-31")


async def _reports_url(app: FastAPI) -> str:
    project_id = await library_project(
        app, start_date=date(2025, 1, 1), annual_emission_reduction_tco2e=1000.0
    )
    return f"/api/v1/projects/{project_id}/monitoring-reports"


async def _listed(client: httpx.AsyncClient, url: str, headers: dict[str, str]) -> list[str]:
    answer = await client.get(url, headers=headers)
    assert answer.status_code == 200, answer.text
    return [item["id"] for item in answer.json()["items"]]


async def _stored_answers(app: FastAPI) -> list[str]:
    async with app.state.sessions() as session:
        rows = await session.scalars(select(IdempotencyRecord))
        return [repr((r.key, r.status_code, r.response_body)) for r in rows]


class TestMonitoringReport:
    async def test_a_retry_replays_the_first_answer_and_another_body_is_422(
        self, client: httpx.AsyncClient, keys: Keys, app: FastAPI
    ) -> None:
        url = await _reports_url(app)
        region = await keys.region("440304")
        once = region | {"Idempotency-Key": "report-1"}
        first = await client.post(url, json=FIRST_HALF, headers=once)
        assert first.status_code == 201, first.text
        assert first.headers["location"] == f"{url}/{first.json()['id']}"
        again = await client.post(url, json=FIRST_HALF, headers=once)
        assert again.status_code == 201, again.text
        assert again.json() == first.json()
        assert again.headers["idempotent-replayed"] == "true"
        assert again.headers["location"] == first.headers["location"]
        other = await client.post(url, json=SECOND_HALF, headers=once)
        assert other.status_code == 422, other.text
        assert other.json()["code"] == "idempotency_key_reused"
        assert await _listed(client, url, region) == [first.json()["id"]]

    async def test_keys_belong_to_their_caller(
        self, client: httpx.AsyncClient, keys: Keys, app: FastAPI
    ) -> None:
        url = await _reports_url(app)
        # A key is scoped to the caller's role and scope: the district's and its city's.
        one, two = await keys.region("440304"), await keys.region("440300")
        first = await client.post(url, json=FIRST_HALF, headers=one | {"Idempotency-Key": "k"})
        assert first.status_code == 201, first.text
        # The same key from another caller is that caller's own: no replay, no 422.
        second = await client.post(url, json=SECOND_HALF, headers=two | {"Idempotency-Key": "k"})
        assert second.status_code == 201, second.text
        assert "idempotent-replayed" not in second.headers
        assert second.json()["id"] != first.json()["id"]
        assert sorted(await _listed(client, url, one)) == sorted(
            [first.json()["id"], second.json()["id"]]
        )

    async def test_a_failed_first_request_leaves_the_key_free(
        self, client: httpx.AsyncClient, keys: Keys, app: FastAPI
    ) -> None:
        url = await _reports_url(app)
        region = await keys.region("440304")
        made = await client.post(url, json=FIRST_HALF, headers=region)
        assert made.status_code == 201, made.text
        once = region | {"Idempotency-Key": "report-after-failure"}
        # Refused by the service after the key was claimed: the period overlaps the first.
        overlapping = report(period_start="2025-03-01", period_end="2025-09-30")
        refused = await client.post(url, json=overlapping, headers=once)
        assert refused.status_code == 422, refused.text
        assert refused.json()["code"] != "idempotency_key_reused"
        # Had the claim outlived the failure, another body would answer 422 key reused.
        taken = await client.post(url, json=SECOND_HALF, headers=once)
        assert taken.status_code == 201, taken.text
        assert "idempotent-replayed" not in taken.headers
        assert sorted(await _listed(client, url, region)) == sorted(
            [made.json()["id"], taken.json()["id"]]
        )


def _refused(answer: httpx.Response) -> None:
    assert answer.status_code == 409, answer.text
    assert answer.headers["content-type"] == "application/problem+json"
    assert answer.json()["code"] == "secret_not_replayable"


class TestWebhook:
    async def test_a_retry_is_refused_and_nothing_more_subscribed(
        self, client: httpx.AsyncClient, keys: Keys, app: FastAPI
    ) -> None:
        region = await keys.region("440304")
        once = region | {"Idempotency-Key": "hook-1"}
        first = await client.post(HOOKS, json=HOOK, headers=once)
        assert first.status_code == 201, first.text
        secret = first.json()["secret"]
        retry = await client.post(HOOKS, json=HOOK, headers=once)
        _refused(retry)
        assert secret not in retry.text
        assert await _listed(client, HOOKS, region) == [first.json()["id"]]
        stored = await _stored_answers(app)
        assert len(stored) == 1
        assert secret not in stored[0] and first.json()["id"] not in stored[0]

    async def test_another_body_is_422_and_without_a_key_each_call_subscribes(
        self, client: httpx.AsyncClient, keys: Keys
    ) -> None:
        region = await keys.region("440304")
        once = region | {"Idempotency-Key": "hook-2"}
        first = await client.post(HOOKS, json=HOOK, headers=once)
        assert first.status_code == 201, first.text
        other = await client.post(HOOKS, json=HOOK | {"events": ["project.approved"]}, headers=once)
        assert other.status_code == 422, other.text
        assert other.json()["code"] == "idempotency_key_reused"
        plain = [await client.post(HOOKS, json=HOOK, headers=region) for _ in range(2)]
        assert [a.status_code for a in plain] == [201, 201]
        assert plain[0].json()["secret"] != plain[1].json()["secret"]
        assert len(await _listed(client, HOOKS, region)) == 3

    async def test_keys_belong_to_their_caller(self, client: httpx.AsyncClient, keys: Keys) -> None:
        one, two = await keys.region("440304"), await keys.region("440305")
        first = await client.post(HOOKS, json=HOOK, headers=one | {"Idempotency-Key": "k"})
        assert first.status_code == 201, first.text
        second = await client.post(HOOKS, json=HOOK, headers=two | {"Idempotency-Key": "k"})
        assert second.status_code == 201, second.text
        assert second.json()["secret"] != first.json()["secret"]
        assert await _listed(client, HOOKS, one) == [first.json()["id"]]
        assert await _listed(client, HOOKS, two) == [second.json()["id"]]

    async def test_a_failed_first_request_leaves_the_key_free(
        self, client: httpx.AsyncClient, keys: Keys
    ) -> None:
        region = await keys.region("440304")
        once = region | {"Idempotency-Key": "hook-after-failure"}
        # Refused by the service after the key was claimed: a private address.
        private = HOOK | {"url": "http://10.1.2.3/hook"}
        refused = await client.post(HOOKS, json=private, headers=once)
        assert refused.status_code == 422, refused.text
        assert refused.json()["code"] == "webhook_url_not_allowed"
        taken = await client.post(HOOKS, json=HOOK, headers=once)
        assert taken.status_code == 201, taken.text
        assert await _listed(client, HOOKS, region) == [taken.json()["id"]]
