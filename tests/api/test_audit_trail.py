"""GET /api/v1/audit: the one store of what happened, read by who may read it."""

import httpx

from tests.conftest import Keys
from tests.factories import create_project, in_library
from tests.factories import institution as register_institution

AUDIT = "/api/v1/audit"


async def test_every_write_is_there_with_its_actor_and_request(
    client: httpx.AsyncClient, keys: Keys
) -> None:
    futian = await keys.region("440304")
    project = await in_library(client, keys, futian)
    admin = await keys.admin()
    answer = await client.get(AUDIT, headers=admin, params={"object_id": project["id"]})
    assert answer.status_code == 200, answer.text
    events = answer.json()["items"]
    assert [e["action"] for e in events] == ["create", "submit", "recommend", "approve"]
    assert [e["actor_role"] for e in events] == ["region", "region", "reviewer", "admin"]
    assert all(e["object_type"] == "project" and e["request_id"] for e in events)
    assert [e["id"] for e in events] == sorted(e["id"] for e in events)
    by_key = await client.get(
        AUDIT, headers=admin, params={"actor_key_id": events[0]["actor_key_id"]}
    )
    assert {e["action"] for e in by_key.json()["items"]} == {"create", "submit"}
    later = await client.get(AUDIT, headers=admin, params={"since": events[-1]["at"]})
    assert events[-1]["id"] in {e["id"] for e in later.json()["items"]}
    future = await client.get(AUDIT, headers=admin, params={"since": "2999-01-01T00:00:00Z"})
    assert future.status_code == 200 and future.json()["items"] == []


async def test_each_reader_sees_its_own_part(client: httpx.AsyncClient, keys: Keys) -> None:
    futian = await keys.region("440304")
    beijing = await keys.region("110101")
    ours = await create_project(client, futian)
    theirs = await create_project(client, beijing, region_code="110101")
    region_view = (await client.get(AUDIT, headers=futian)).json()["items"]
    assert {e["object_id"] for e in region_view} == {ours["id"]}
    guangdong = await keys.reviewer("44")
    assert {
        e["object_id"] for e in (await client.get(AUDIT, headers=guangdong)).json()["items"]
    } <= {ours["id"]}
    everything = (await client.get(AUDIT, headers=await keys.admin())).json()["items"]
    assert {ours["id"], theirs["id"]} <= {e["object_id"] for e in everything}
    assert (await client.get(AUDIT)).status_code == 401
    _, institution = await register_institution(client, keys)
    refused = await client.get(AUDIT, headers=institution)
    assert refused.status_code == 403


async def test_bad_filters_are_refused(client: httpx.AsyncClient, keys: Keys) -> None:
    admin = await keys.admin()
    assert (await client.get(AUDIT, headers=admin, params={"object_id": "x"})).status_code == 422
    assert (
        await client.get(AUDIT, headers=admin, params={"since": "yesterday"})
    ).status_code == 422
    assert (await client.get(AUDIT, headers=admin, params={"cursor": "zz"})).status_code == 400


async def test_key_events_never_hold_a_secret(client: httpx.AsyncClient, keys: Keys) -> None:
    admin = await keys.admin()
    body = {"name": "futian", "role": "region", "scope": "440304"}
    made = (await client.post("/api/v1/api-keys", json=body, headers=admin)).json()
    await client.post(f"/api/v1/api-keys/{made['id']}/rotate", headers=admin)
    await client.delete(f"/api/v1/api-keys/{made['id']}", headers=admin)
    events = (await client.get(AUDIT, headers=admin, params={"object_id": made["id"]})).json()
    assert [(e["object_type"], e["action"]) for e in events["items"]] == [
        ("api_key", "create"),
        ("api_key", "rotate"),
        ("api_key", "revoke"),
    ]
    assert events["items"][0]["changes"]["scope"] == {"before": None, "after": "440304"}
    assert made["key"] not in str(events) and made["prefix"] not in str(events)
