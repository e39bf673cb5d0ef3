"""Project and revision ids: new ones are time-ordered UUIDs (version 7), and the UUID4 ids
minted before them are read, written and revised as before."""

import uuid

import httpx
from fastapi import FastAPI

from tests.api.bulk.helpers import BATCH, item
from tests.conftest import Keys
from tests.factories import PROJECTS, library_project
from tests.factories import create_project as create


def _v7(text: str) -> uuid.UUID:
    value = uuid.UUID(text)
    assert (value.version, value.variant) == (7, uuid.RFC_4122), text
    assert str(value) == text  # the canonical form, as before
    return value


class TestNewIds:
    async def test_creates_and_batch_items_get_time_ordered_ids(
        self, client: httpx.AsyncClient, keys: Keys
    ) -> None:
        region = await keys.region("440304")
        singles = [(await create(client, region, name=f"Single {n}"))["id"] for n in range(3)]
        answer = await client.post(
            BATCH, json={"items": [item(n) for n in range(30)]}, headers=region
        )
        assert answer.status_code == 200, answer.text
        batched = [r["id"] for r in answer.json()["results"]]
        ids = [_v7(i) for i in singles + batched]
        # In the order they were created: each single create, then the batch's items in order.
        assert ids == sorted(ids) and len(set(ids)) == len(ids)
        assert [i.hex for i in ids] == sorted(i.hex for i in ids)
        history = await client.get(f"{PROJECTS}/{batched[-1]}/history", headers=region)
        assert [h["action"] for h in history.json()["items"]] == ["create"]


class TestUUID4Ids:
    async def test_a_project_with_a_uuid4_id_is_read_written_and_revised(
        self, client: httpx.AsyncClient, keys: Keys, app: FastAPI
    ) -> None:
        region = await keys.region("440304")
        old = uuid.uuid4()
        sent = item(1)
        pid = await library_project(
            app, id=old, external_ref="R-00001", name=sent["name"], source_scope="440304"
        )
        assert pid == str(old)
        got = await client.get(f"{PROJECTS}/{pid}", headers=region)
        assert got.status_code == 200 and got.json()["id"] == pid
        assert (await client.get(f"{PROJECTS}/{pid}")).json()["id"] == pid  # public
        assert (await client.get(f"{PROJECTS}/{pid.upper()}")).json()["id"] == pid
        listed = await client.get(PROJECTS, params={"region_code": "440304"}, headers=region)
        assert pid in [p["id"] for p in listed.json()["items"]]
        # A progress field applies at once; a screening field in a batch opens a revision.
        patched = await client.patch(
            f"{PROJECTS}/{pid}",
            json={"construction_status": "operational"},
            headers={**region, "If-Match": got.headers["etag"]},
        )
        assert patched.status_code == 200, patched.text
        assert patched.json()["id"] == pid
        renamed = item(1, name="Renamed plant", construction_status="operational")
        answer = await client.post(BATCH, json={"items": [renamed]}, headers=region)
        result = answer.json()["results"][0]
        assert (result["status"], result["id"]) == ("updated", pid)
        revision_id = _v7(result["revision_id"])
        revisions = await client.get(f"{PROJECTS}/{pid}/revisions", headers=region)
        assert [r["id"] for r in revisions.json()["items"]] == [str(revision_id)]
        history = await client.get(f"{PROJECTS}/{pid}/history", headers=region)
        assert [h["action"] for h in history.json()["items"]][-2:] == ["update", "revision_open"]
