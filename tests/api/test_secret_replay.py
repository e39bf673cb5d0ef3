"""An answer that shows a secret once (a new key, a rotated key) is never stored for
Idempotency-Key retries: the retry answers 409 secret_not_replayable, never the secret again."""

import httpx
from fastapi import FastAPI
from sqlalchemy import select

from app.models import IdempotencyRecord
from tests.conftest import Keys

KEYS = "/api/v1/api-keys"
BODY = {"name": "futian", "role": "region", "scope": "440304"}


async def _stored_answers(app: FastAPI) -> list[str]:
    async with app.state.sessions() as session:
        rows = await session.scalars(select(IdempotencyRecord))
        return [repr((r.key, r.status_code, r.response_body)) for r in rows]


def _refused(answer: httpx.Response) -> None:
    assert answer.status_code == 409, answer.text
    assert answer.headers["content-type"] == "application/problem+json"
    assert answer.json()["code"] == "secret_not_replayable"
    assert "key" not in answer.json()


class TestCreateKey:
    async def test_a_retry_is_refused_and_the_secret_never_stored(
        self, client: httpx.AsyncClient, keys: Keys, app: FastAPI
    ) -> None:
        admin = await keys.admin()
        once = {**admin, "Idempotency-Key": "issue-futian-1"}
        first = await client.post(KEYS, json=BODY, headers=once)
        assert first.status_code == 201, first.text
        secret = first.json()["key"]
        retry = await client.post(KEYS, json=BODY, headers=once)
        _refused(retry)
        assert secret not in retry.text
        stored = await _stored_answers(app)
        assert len(stored) == 1 and secret not in stored[0] and first.json()["id"] not in stored[0]
        # Only one key was made, and it works.
        listed = (await client.get(KEYS, headers=admin)).json()["items"]
        assert [k["name"] for k in listed].count("futian") == 1
        works = await client.get("/api/v1/audit", headers={"Authorization": f"Bearer {secret}"})
        assert works.status_code == 200

    async def test_the_same_key_with_another_body_is_422_and_without_a_key_each_call_issues(
        self, client: httpx.AsyncClient, keys: Keys
    ) -> None:
        admin = await keys.admin()
        once = {**admin, "Idempotency-Key": "issue-2"}
        assert (await client.post(KEYS, json=BODY, headers=once)).status_code == 201
        other = await client.post(KEYS, json={**BODY, "name": "other"}, headers=once)
        assert other.status_code == 422 and other.json()["code"] == "idempotency_key_reused"
        plain = [await client.post(KEYS, json=BODY, headers=admin) for _ in range(2)]
        assert [a.status_code for a in plain] == [201, 201]
        assert plain[0].json()["key"] != plain[1].json()["key"]

    async def test_a_failed_first_request_leaves_the_key_free(
        self, client: httpx.AsyncClient, keys: Keys
    ) -> None:
        admin = await keys.admin()
        once = {**admin, "Idempotency-Key": "issue-3"}
        bad = await client.post(KEYS, json={**BODY, "scope": "99"}, headers=once)
        assert bad.status_code == 422
        assert (await client.post(KEYS, json=BODY, headers=once)).status_code == 201


class TestRotateKey:
    async def test_a_retry_is_refused_and_the_key_rotated_once(
        self, client: httpx.AsyncClient, keys: Keys, app: FastAPI
    ) -> None:
        admin = await keys.admin()
        made = (await client.post(KEYS, json=BODY, headers=admin)).json()
        once = {**admin, "Idempotency-Key": "rotate-1"}
        url = f"{KEYS}/{made['id']}/rotate"
        first = await client.post(url, json={"grace_hours": 1}, headers=once)
        assert first.status_code == 200, first.text
        retry = await client.post(url, json={"grace_hours": 1}, headers=once)
        _refused(retry)
        assert first.json()["key"] not in retry.text
        assert all(first.json()["key"] not in row for row in await _stored_answers(app))
        # The rotated secret is the one that works; the retry made no third one.
        new = {"Authorization": f"Bearer {first.json()['key']}"}
        assert (await client.get("/api/v1/audit", headers=new)).status_code == 200
        events = (
            await client.get("/api/v1/audit", headers=admin, params={"object_id": made["id"]})
        ).json()["items"]
        assert [e["action"] for e in events] == ["create", "rotate"]
