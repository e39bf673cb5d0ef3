"""Idempotency-Key on POST /projects: retries replay, other bodies 422, running requests 409."""

import asyncio
import hashlib
import uuid
from datetime import timedelta

import httpx
from fastapi import FastAPI
from sqlalchemy import func, select

from app.idempotency import request_hash
from app.models import IdempotencyRecord, Project
from app.models.base import utcnow
from app.schemas.project import ProjectCreate
from tests.conftest import Keys
from tests.factories import PROJECTS as BASE
from tests.factories import project_payload as payload


async def _count_projects(app: FastAPI) -> int:
    async with app.state.sessions() as session:
        return int((await session.execute(select(func.count()).select_from(Project))).scalar_one())


class TestIdempotencyKey:
    async def test_retry_with_same_body_replays_first_answer(
        self, client: httpx.AsyncClient, keys: Keys, app: FastAPI
    ) -> None:
        region = {**await keys.region("440304"), "Idempotency-Key": "push-1"}
        first = await client.post(BASE, json=payload(), headers=region)
        again = await client.post(BASE, json=payload(), headers=region)
        assert first.status_code == again.status_code == 201
        assert again.json() == first.json()
        assert again.headers["etag"] == first.headers["etag"]
        assert again.headers["location"] == first.headers["location"]
        assert again.headers["idempotent-replayed"] == "true"
        assert await _count_projects(app) == 1

    async def test_same_key_with_other_body_is_422(
        self, client: httpx.AsyncClient, keys: Keys, app: FastAPI
    ) -> None:
        region = {**await keys.region("440304"), "Idempotency-Key": "push-2"}
        assert (await client.post(BASE, json=payload(), headers=region)).status_code == 201
        other = await client.post(BASE, json=payload(name="Other"), headers=region)
        assert other.status_code == 422
        assert other.json()["code"] == "idempotency_key_reused"
        assert await _count_projects(app) == 1

    async def test_keys_are_scoped_to_the_caller(
        self, client: httpx.AsyncClient, keys: Keys, app: FastAPI
    ) -> None:
        futian = {**await keys.region("440304"), "Idempotency-Key": "shared"}
        shenzhen = {**await keys.region("440300"), "Idempotency-Key": "shared"}
        a = await client.post(BASE, json=payload(), headers=futian)
        b = await client.post(BASE, json=payload(), headers=shenzhen)
        assert a.status_code == b.status_code == 201
        assert a.json()["id"] != b.json()["id"]
        assert await _count_projects(app) == 2

    async def test_retry_while_first_is_running_is_409(
        self, client: httpx.AsyncClient, keys: Keys, app: FastAPI
    ) -> None:
        region = await keys.region("440304")
        body = payload()
        # A completed request gives the hash this body has; a claim with that hash and no answer
        # yet is exactly what a request still at work leaves in the table.
        await client.post(BASE, json=body, headers={**region, "Idempotency-Key": "probe"})
        async with app.state.sessions.begin() as session:
            probe = (
                await session.execute(
                    select(IdempotencyRecord).where(IdempotencyRecord.key == "probe")
                )
            ).scalar_one()
            session.add(
                IdempotencyRecord(
                    principal=probe.principal,
                    key="running",
                    request_hash=probe.request_hash,
                    created_at=utcnow(),
                )
            )
        response = await client.post(
            BASE, json=body, headers={**region, "Idempotency-Key": "running"}
        )
        assert response.status_code == 409
        assert response.json()["code"] == "idempotency_key_in_progress"
        assert response.headers["retry-after"] == "1"
        assert await _count_projects(app) == 1

    async def test_abandoned_claim_is_taken_over(
        self, client: httpx.AsyncClient, keys: Keys, app: FastAPI
    ) -> None:
        region = await keys.region("440304")
        body = payload()
        async with app.state.sessions.begin() as session:
            session.add(
                IdempotencyRecord(
                    principal="region:440304",
                    key="crashed",
                    request_hash=request_hash(
                        "POST", BASE, ProjectCreate(**body).model_dump(mode="json")
                    ),
                    created_at=utcnow() - timedelta(hours=1),
                )
            )
        response = await client.post(
            BASE, json=body, headers={**region, "Idempotency-Key": "crashed"}
        )
        assert response.status_code == 201
        replay = await client.post(
            BASE, json=body, headers={**region, "Idempotency-Key": "crashed"}
        )
        assert replay.json()["id"] == response.json()["id"]
        assert await _count_projects(app) == 1

    async def test_concurrent_retries_create_one_project(
        self, client: httpx.AsyncClient, keys: Keys, app: FastAPI
    ) -> None:
        region = {**await keys.region("440304"), "Idempotency-Key": "burst"}
        answers = await asyncio.gather(
            *(client.post(BASE, json=payload(), headers=region) for _ in range(6))
        )
        statuses = [a.status_code for a in answers]
        assert set(statuses) <= {201, 409}
        created = {a.json()["id"] for a in answers if a.status_code == 201}
        assert len(created) == 1
        assert await _count_projects(app) == 1

    async def test_failed_request_does_not_consume_the_key(
        self, client: httpx.AsyncClient, keys: Keys, app: FastAPI
    ) -> None:
        region = {**await keys.region("440304"), "Idempotency-Key": "fix-and-retry"}
        bad = await client.post(BASE, json=payload(financing_need="9e9"), headers=region)
        assert bad.status_code == 422
        again = await client.post(BASE, json=payload(financing_need="9e9"), headers=region)
        assert again.status_code == 422
        assert again.json()["code"] == "validation_error"
        good = await client.post(BASE, json=payload(), headers=region)
        # A different body under the key: the failed attempts left no record behind.
        assert good.status_code == 201

    async def test_overlong_key_is_400(self, client: httpx.AsyncClient, keys: Keys) -> None:
        region = {**await keys.region("440304"), "Idempotency-Key": "k" * 201}
        response = await client.post(BASE, json=payload(), headers=region)
        assert response.status_code == 400
        assert response.json()["code"] == "invalid_idempotency_key"

    async def test_stored_in_the_database(
        self, client: httpx.AsyncClient, keys: Keys, app: FastAPI
    ) -> None:
        region = {**await keys.region("440304"), "Idempotency-Key": str(uuid.uuid4())}
        created = await client.post(BASE, json=payload(), headers=region)
        async with app.state.sessions() as session:
            record = (
                await session.execute(
                    select(IdempotencyRecord).where(
                        IdempotencyRecord.key == region["Idempotency-Key"]
                    )
                )
            ).scalar_one()
        assert record.principal == "region:440304"
        assert record.status_code == 201 and record.completed_at is not None
        assert record.response_body["body"]["id"] == created.json()["id"]
        assert len(record.request_hash) == len(hashlib.sha256().hexdigest())
