"""Every POST that creates honours Idempotency-Key: retries replay the first answer."""

from collections.abc import Awaitable, Callable
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from tests.conftest import Keys
from tests.factories import institution, library_project, make_uscc, product

Setup = Callable[
    [httpx.AsyncClient, Keys, FastAPI],
    Awaitable[tuple[str, dict[str, str], dict[str, Any], dict[str, Any]]],
]


async def _institution(client: httpx.AsyncClient, keys: Keys, app: FastAPI) -> Any:
    body = {"name": "绿色银行", "uscc": make_uscc(), "type": "bank"}
    return "/api/v1/institutions", await keys.admin(), body, body | {"uscc": make_uscc()}


async def _product(client: httpx.AsyncClient, keys: Keys, app: FastAPI) -> Any:
    _, bank = await institution(client, keys)
    body = {"name": "绿色贷", "type": "green_loan", "status": "active"}
    return "/api/v1/products", bank, body, body | {"name": "另一个"}


async def _engagement(client: httpx.AsyncClient, keys: Keys, app: FastAPI) -> Any:
    project_id = await library_project(app)
    _, bank = await institution(client, keys)
    loan = await product(client, bank, quota_total="100000000.00")
    body = {
        "project_id": project_id,
        "product_id": loan["id"],
        "amount": "1000000.00",
        "annual_rate": "3.2",
        "tenor_months": 36,
        "message": "offer",
    }
    return "/api/v1/engagements", bank, body, body | {"amount": "2000000.00"}


async def _pilot(client: httpx.AsyncClient, keys: Keys, app: FastAPI) -> Any:
    body = {
        "name": "广东省深圳市南山区",
        "kind": "district",
        "province": "44",
        "regions": [{"code": "440305"}],
        "batch": 2,
    }
    return "/api/v1/pilots", await keys.admin(), body, body | {"name": "另一个试点"}


@pytest.mark.parametrize(
    "setup",
    [_institution, _product, _engagement, _pilot],
    ids=["institution", "product", "engagement", "pilot"],
)
async def test_retry_replays_and_another_body_is_refused(
    client: httpx.AsyncClient, keys: Keys, app: FastAPI, setup: Setup
) -> None:
    path, headers, body, other = await setup(client, keys, app)
    headers = headers | {"Idempotency-Key": "retry-1"}
    first = await client.post(path, json=body, headers=headers)
    assert first.status_code == 201, first.text
    assert first.headers["location"] == f"{path}/{first.json()['id']}"
    again = await client.post(path, json=body, headers=headers)
    assert again.status_code == 201
    assert again.json() == first.json()
    assert again.headers["idempotent-replayed"] == "true"
    reused = await client.post(path, json=other, headers=headers)
    assert reused.status_code == 422
    assert reused.json()["code"] == "idempotency_key_reused"
    listed = (await client.get(path, headers=headers)).json()["items"]
    assert [item["id"] for item in listed].count(first.json()["id"]) == 1
    assert len(
        [i for i in listed if i.get("name", "") in (body.get("name"), other.get("name"))]
    ) <= 1 or path.endswith("engagements")


async def test_a_body_with_an_integer_beyond_64_bits_is_answered_and_replayed(
    client: httpx.AsyncClient, keys: Keys
) -> None:
    """The fuzzer's case: a batch item holding 2^100 is an item error, never a 500."""
    region = await keys.region("440304")
    body = {"items": [{"external_ref": "BIG-1", "tenor_months": 2**100}]}
    headers = region | {"Idempotency-Key": "big-integer"}
    first = await client.post("/api/v1/projects/batch", json=body, headers=headers)
    assert first.status_code == 200, first.text
    assert first.json()["results"][0]["status"] == "error"
    again = await client.post("/api/v1/projects/batch", json=body, headers=headers)
    assert again.status_code == 200
    assert again.headers["idempotent-replayed"] == "true"
