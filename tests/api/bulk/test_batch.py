"""POST /projects/batch: up to 1,000 upserts by external_ref, each item validated as a create."""

import asyncio
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import event

from app import ids
from app.repositories import project_writes
from tests.api.bulk.helpers import BATCH, count_projects, count_transitions, item
from tests.conftest import Keys
from tests.factories import PROJECTS as BASE
from tests.factories import USCC, institution_headers, project_in
from tests.factories import move_project as move


def _invalid(n: int) -> dict[str, Any]:
    """Item n broken in one of several ways, each with the code a single create answers."""
    kind = n % 5
    if kind == 0:
        return item(n, owner={"name": "X", "uscc": "91440300715267260X"})
    if kind == 1:
        return item(n, financing_need="30000000.00")
    if kind == 2:
        broken = item(n)
        del broken["name"]
        return broken
    if kind == 3:
        return item(n, external_ref=None)
    return item(n, region_code="110101")


_EXPECTED = {
    0: ("invalid_uscc", ["owner", "uscc"]),
    1: ("need_exceeds_investment", ["financing_need"]),
    2: ("required", ["name"]),
    3: ("external_ref_required", ["external_ref"]),
    4: ("region_out_of_scope", ["region_code"]),
}


class TestBatchUpsert:
    async def test_thousand_items_with_invalid_ones_mixed_in(
        self, client: httpx.AsyncClient, keys: Keys, app: FastAPI
    ) -> None:
        region = await keys.region("440304")
        items = [_invalid(n) if n % 10 == 7 else item(n) for n in range(1000)]
        response = await client.post(BATCH, json={"items": items}, headers=region)
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["summary"] == {"created": 900, "updated": 0, "unchanged": 0, "error": 100}
        assert [r["index"] for r in body["results"]] == list(range(1000))
        for n, result in enumerate(body["results"]):
            if n % 10 != 7:
                assert result["status"] == "created"
                assert result["external_ref"] == f"R-{n:05d}"
                assert result["problem"] is None and result["id"]
                continue
            code, field = _EXPECTED[n % 5]
            assert result["status"] == "error" and result["id"] is None
            problem = result["problem"]
            assert problem["status"] == 422
            assert problem["errors"][0]["code"] == code
            assert problem["errors"][0]["loc"] == ["body", "items", n, *field]
        # nothing of a refused item was written: 900 projects and their 900 "create" steps
        assert await count_projects(app) == 900
        assert await count_transitions(app) == 900
        created = body["results"][0]
        got = await client.get(f"{BASE}/{created['id']}", headers=region)
        assert got.json()["external_ref"] == "R-00000" and got.json()["status"] == "draft"
        history = await client.get(f"{BASE}/{created['id']}/history", headers=region)
        assert [h["action"] for h in history.json()["items"]] == ["create"]

    async def test_same_batch_twice_changes_nothing_the_second_time(
        self, client: httpx.AsyncClient, keys: Keys
    ) -> None:
        region = await keys.region("440304")
        items = [item(n) for n in range(20)]
        first = (await client.post(BATCH, json={"items": items}, headers=region)).json()
        assert first["summary"]["created"] == 20
        before = await client.get(f"{BASE}/{first['results'][3]['id']}", headers=region)
        second = (await client.post(BATCH, json={"items": items}, headers=region)).json()
        assert second["summary"] == {"created": 0, "updated": 0, "unchanged": 20, "error": 0}
        assert [r["id"] for r in second["results"]] == [r["id"] for r in first["results"]]
        after = await client.get(f"{BASE}/{first['results'][3]['id']}", headers=region)
        assert after.json() == before.json()

    async def test_changed_items_update_and_bump_the_version(
        self, client: httpx.AsyncClient, keys: Keys
    ) -> None:
        region = await keys.region("440304")
        first = (
            await client.post(BATCH, json={"items": [item(1), item(2)]}, headers=region)
        ).json()
        changed = item(1, summary="Now with storage.", categories=["M3", "M2"])
        answer = await client.post(BATCH, json={"items": [changed, item(2)]}, headers=region)
        results = answer.json()["results"]
        assert [r["status"] for r in results] == ["updated", "unchanged"]
        assert results[0]["id"] == first["results"][0]["id"]
        got = (await client.get(f"{BASE}/{results[0]['id']}", headers=region)).json()
        assert got["summary"] == "Now with storage."
        assert got["categories"] == ["M2", "M3"]
        assert got["version"] == 2
        assert got["updated_at"] > got["created_at"]
        # the same categories in another order are the same project
        again = await client.post(
            BATCH,
            json={"items": [item(1, summary="Now with storage.", categories=["M2", "M3"])]},
            headers=region,
        )
        assert again.json()["results"][0]["status"] == "unchanged"

    async def test_library_project_progress_update_stays_in_library(
        self, client: httpx.AsyncClient, keys: Keys
    ) -> None:
        region = await keys.region("440304")
        project = await project_in(client, keys, "in_library", region, external_ref="R-00001")
        sent = item(1, name=project["name"], construction_status="under_construction")
        answer = await client.post(BATCH, json={"items": [sent]}, headers=region)
        assert answer.json()["results"][0]["status"] == "updated"
        got = (await client.get(f"{BASE}/{project['id']}", headers=region)).json()
        assert got["status"] == "in_library"
        assert got["construction_status"] == "under_construction"
        assert got["library_code"] == project["library_code"]

    async def test_library_project_screening_change_opens_a_revision(
        self, client: httpx.AsyncClient, keys: Keys
    ) -> None:
        region = await keys.region("440304")
        project = await project_in(client, keys, "in_library", region, external_ref="R-00001")
        sent = item(1, name="Renamed plant")
        answer = await client.post(BATCH, json={"items": [sent]}, headers=region)
        result = answer.json()["results"][0]
        assert result["status"] == "updated" and result["revision_id"]
        got = (await client.get(f"{BASE}/{project['id']}", headers=region)).json()
        assert (got["status"], got["name"]) == ("in_library", project["name"])
        history = (await client.get(f"{BASE}/{project['id']}/history", headers=region)).json()[
            "items"
        ]
        assert history[-1]["action"] == "revision_open"
        assert history[-1]["changes"]["name"] == {
            "before": project["name"],
            "after": "Renamed plant",
        }
        revisions = await client.get(f"{BASE}/{project['id']}/revisions", headers=region)
        assert [r["id"] for r in revisions.json()["items"]] == [result["revision_id"]]
        # A second screening change while that one is under review: an error item.
        again = await client.post(
            BATCH, json={"items": [item(1, name="Renamed again")]}, headers=region
        )
        assert again.json()["results"][0]["problem"]["code"] == "revision_open"

    async def test_library_project_turned_two_high_new_build_is_an_error_item(
        self, client: httpx.AsyncClient, keys: Keys
    ) -> None:
        region = await keys.region("440304")
        project = await project_in(client, keys, "in_library", region, external_ref="R-00001")
        # A new ironworks under M3 that replaces no capacity: new 两高 capacity.
        sent = item(
            1, name=project["name"], industry_code="C3110", nature="new_build", categories=["M3"]
        )
        result = (await client.post(BATCH, json={"items": [sent]}, headers=region)).json()
        problem = result["results"][0]["problem"]
        assert problem["code"] == "two_high_refused"
        assert problem["rule_id"] == "two_high.refused_new_capacity"
        assert problem["errors"][0]["loc"] == ["body", "items", 0, "capacity_replacement"]
        got = (await client.get(f"{BASE}/{project['id']}", headers=region)).json()
        assert got["status"] == "in_library" and got["version"] == project["version"]

    @pytest.mark.parametrize("status", ["submitted", "recommended", "rejected", "withdrawn"])
    async def test_project_the_region_cannot_edit_now_is_an_error_item(
        self, client: httpx.AsyncClient, keys: Keys, status: str
    ) -> None:
        region = await keys.region("440304")
        project = await project_in(client, keys, status, region, external_ref="R-00001")
        same = item(1, name=project["name"])
        changed = item(1, name="Something else")
        unchanged = await client.post(BATCH, json={"items": [same]}, headers=region)
        assert unchanged.json()["results"][0]["status"] == "unchanged"
        answer = await client.post(BATCH, json={"items": [changed, item(2)]}, headers=region)
        assert answer.status_code == 200
        first, second = answer.json()["results"]
        assert first["status"] == "error"
        assert first["problem"]["status"] == 409
        assert first["problem"]["code"] == "not_editable"
        assert isinstance(first["problem"]["allowed_actions"], list)
        assert second["status"] == "created"
        got = (await client.get(f"{BASE}/{project['id']}", headers=region)).json()
        assert got["name"] == project["name"] and got["status"] == status

    async def test_returned_project_is_updated(self, client: httpx.AsyncClient, keys: Keys) -> None:
        region = await keys.region("440304")
        project = await project_in(client, keys, "returned", region, external_ref="R-00001")
        answer = await client.post(BATCH, json={"items": [item(1, name="Fixed")]}, headers=region)
        assert answer.json()["results"][0]["status"] == "updated"
        reviewer = await keys.reviewer("44")
        resubmitted = await move(client, region, project, "submit")
        assert resubmitted["name"] == "Fixed"
        assert (await client.get(f"{BASE}/{project['id']}", headers=reviewer)).status_code == 200

    async def test_repeated_external_ref_in_one_batch_applies_the_first(
        self, client: httpx.AsyncClient, keys: Keys, app: FastAPI
    ) -> None:
        region = await keys.region("440304")
        items = [item(1), item(1, name="Twin")]
        results = (await client.post(BATCH, json={"items": items}, headers=region)).json()
        assert [r["status"] for r in results["results"]] == ["created", "error"]
        assert results["results"][1]["problem"]["code"] == "duplicate_external_ref"
        assert results["results"][1]["problem"]["status"] == 409
        assert await count_projects(app) == 1

    async def test_item_errors_equal_a_single_creates(
        self, client: httpx.AsyncClient, keys: Keys
    ) -> None:
        region = await keys.region("440304")
        bad = item(
            1,
            categories=["A1"],
            end_date="2020-01-01",
            financing_secured="20000000.00",
            unknown="x",
        )
        single = await client.post(BASE, json=bad, headers=region)
        batched = await client.post(BATCH, json={"items": [bad]}, headers=region)
        problem = batched.json()["results"][0]["problem"]
        assert problem["status"] == single.status_code == 422
        assert problem["code"] == single.json()["code"]
        assert [(e["code"], e["loc"][3:]) for e in problem["errors"]] == [
            (e["code"], e["loc"][1:]) for e in single.json()["errors"]
        ]
        fixed = {k: v for k, v in bad.items() if k != "unknown"}
        single = await client.post(BASE, json={**fixed, "external_ref": "S-1"}, headers=region)
        batched = await client.post(BATCH, json={"items": [fixed]}, headers=region)
        problem = batched.json()["results"][0]["problem"]
        assert sorted(e["code"] for e in problem["errors"]) == sorted(
            e["code"] for e in single.json()["errors"]
        )
        assert {"category_objective_mismatch", "end_before_start", "secured_exceeds_need"} <= {
            e["code"] for e in problem["errors"]
        }

    async def test_non_object_item_is_an_error_item(
        self, client: httpx.AsyncClient, keys: Keys
    ) -> None:
        region = await keys.region("440304")
        answer = await client.post(BATCH, json={"items": ["x", item(1)]}, headers=region)
        assert answer.status_code == 200
        first, second = answer.json()["results"]
        assert first["status"] == "error" and first["external_ref"] is None
        assert first["problem"]["errors"][0]["loc"][:3] == ["body", "items", 0]
        assert second["status"] == "created"

    async def test_nul_character_is_an_error_item_not_a_database_failure(
        self, client: httpx.AsyncClient, keys: Keys, app: FastAPI
    ) -> None:
        region = await keys.region("440304")
        bad = item(1, summary="a\x00b", owner={"name": "X\x00", "uscc": USCC})
        answer = await client.post(BATCH, json={"items": [bad, item(2)]}, headers=region)
        assert answer.status_code == 200
        first, second = answer.json()["results"]
        assert [e["loc"] for e in first["problem"]["errors"]] == [
            ["body", "items", 0, "summary"],
            ["body", "items", 0, "owner", "name"],
        ]
        assert {e["code"] for e in first["problem"]["errors"]} == {"nul_character"}
        assert second["status"] == "created"
        single = await client.post(BASE, json=bad, headers=region)
        assert single.status_code == 422
        assert await count_projects(app) == 1

    async def test_external_refs_are_per_region(
        self, client: httpx.AsyncClient, keys: Keys
    ) -> None:
        futian = await keys.region("440304")
        nanshan = await keys.region("440305")
        a = (await client.post(BATCH, json={"items": [item(1)]}, headers=futian)).json()
        b = (
            await client.post(
                BATCH, json={"items": [item(1, region_code="440305")]}, headers=nanshan
            )
        ).json()
        assert a["results"][0]["status"] == b["results"][0]["status"] == "created"
        assert a["results"][0]["id"] != b["results"][0]["id"]

    async def test_concurrently_taken_external_ref_fails_only_that_item(
        self, client: httpx.AsyncClient, keys: Keys, app: FastAPI, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        region = await keys.region("440304")
        taken = await client.post(BASE, json=item(2), headers=region)
        assert taken.status_code == 201

        async def nothing_stored(*_args: Any) -> dict[str, Any]:
            # As if another writer committed R-00002 between the lookup and the insert.
            return {}

        monkeypatch.setattr(project_writes, "lock_by_external_refs", nothing_stored)
        items = [item(1), item(2, name="Clash"), item(3)]
        answer = await client.post(BATCH, json={"items": items}, headers=region)
        assert answer.status_code == 200
        results = answer.json()["results"]
        assert [r["status"] for r in results] == ["created", "error", "created"]
        assert results[1]["problem"]["code"] == "duplicate_external_ref"
        assert await count_projects(app) == 3
        assert await count_transitions(app) == 3

    async def test_sqlite_inserts_new_items_without_a_savepoint(
        self, client: httpx.AsyncClient, keys: Keys, app: FastAPI, db_kind: str
    ) -> None:
        # Under a savepoint every row's statement journal went to SQLite's sub-journal file, a
        # cost that grew with the table (repositories/project_writes.insert_new).
        if db_kind != "sqlite":
            pytest.skip("PostgreSQL inserts in a savepoint, replayed per row if refused")
        region = await keys.region("440304")
        sent: list[str] = []

        def _note(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
            sent.append(statement.split(None, 1)[0].upper())

        engine = app.state.engine.sync_engine
        event.listen(engine, "before_cursor_execute", _note)
        try:
            answer = await client.post(
                BATCH, json={"items": [item(n) for n in range(3)]}, headers=region
            )
        finally:
            event.remove(engine, "before_cursor_execute", _note)
        assert [r["status"] for r in answer.json()["results"]] == ["created"] * 3
        assert "INSERT" in sent and "SAVEPOINT" not in sent
        assert await count_transitions(app) == 3

    async def test_a_refusal_other_than_a_taken_ref_writes_nothing(
        self,
        client: httpx.AsyncClient,
        keys: Keys,
        app: FastAPI,
        db_kind: str,
        monkeypatch: pytest.MonkeyPatch,
    ) -> None:
        # Two new items given one id: a refusal no rule before the insert catches (a stand-in
        # for any such bug). No 500, and what the answer says landed is what the database holds.
        from app.services import batch_plan

        clash = ids.new_id()
        monkeypatch.setattr(batch_plan, "new_id", lambda: clash)
        region = await keys.region("440304")
        answer = await client.post(
            BATCH, json={"items": [item(n) for n in range(2)]}, headers=region
        )
        assert answer.status_code < 500, answer.text
        stored = await count_projects(app)
        if db_kind == "sqlite":
            # no savepoint to take the first row back alone: the whole request is refused
            assert answer.status_code == 409
            assert answer.json()["code"] == "conflict"
            assert stored == 0
        else:
            created = [r for r in answer.json()["results"] if r["status"] == "created"]
            assert len(created) == stored == 1

    async def test_two_concurrent_batches_with_the_same_new_items(
        self, client: httpx.AsyncClient, keys: Keys, app: FastAPI
    ) -> None:
        region = await keys.region("440304")
        items = [item(n) for n in range(50)]
        first, second = await asyncio.gather(
            client.post(BATCH, json={"items": items}, headers=region),
            client.post(BATCH, json={"items": items}, headers=region),
        )
        assert first.status_code == second.status_code == 200
        summaries = sorted(
            (r.json()["summary"] for r in (first, second)), key=lambda s: s["created"]
        )
        assert summaries == [
            {"created": 0, "updated": 0, "unchanged": 50, "error": 0},
            {"created": 50, "updated": 0, "unchanged": 0, "error": 0},
        ]
        assert [r["id"] for r in first.json()["results"]] == [
            r["id"] for r in second.json()["results"]
        ]
        assert await count_projects(app) == 50

    async def test_idempotency_key_replays_the_first_answer(
        self, client: httpx.AsyncClient, keys: Keys
    ) -> None:
        region = await keys.region("440304")
        headers = {**region, "Idempotency-Key": "batch-1"}
        body = {"items": [item(1), item(2)]}
        first = await client.post(BATCH, json=body, headers=headers)
        again = await client.post(BATCH, json=body, headers=headers)
        assert again.status_code == 200
        assert again.headers["idempotent-replayed"] == "true"
        assert again.json() == first.json()
        assert again.json()["summary"]["created"] == 2
        other = await client.post(BATCH, json={"items": [item(3)]}, headers=headers)
        assert other.status_code == 422
        assert other.json()["code"] == "idempotency_key_reused"


class TestBatchRefusedAsAWhole:
    async def test_more_than_thousand_items_is_422(
        self, client: httpx.AsyncClient, keys: Keys, app: FastAPI
    ) -> None:
        items = [item(n) for n in range(1001)]
        response = await client.post(
            BATCH, json={"items": items}, headers=await keys.region("440304")
        )
        assert response.status_code == 422
        assert response.json()["errors"][0]["loc"] == ["body", "items"]
        assert response.json()["errors"][0]["code"] == "too_long"
        assert await count_projects(app) == 0

    async def test_empty_batch_is_422(self, client: httpx.AsyncClient, keys: Keys) -> None:
        response = await client.post(BATCH, json={"items": []}, headers=await keys.region("440304"))
        assert response.status_code == 422
        assert response.json()["errors"][0]["code"] == "too_short"

    async def test_body_without_items_is_422(self, client: httpx.AsyncClient, keys: Keys) -> None:
        response = await client.post(BATCH, json=[item(1)], headers=await keys.region("440304"))
        assert response.status_code == 422

    async def test_anonymous_gets_401(self, client: httpx.AsyncClient) -> None:
        response = await client.post(BATCH, json={"items": [item(1)]})
        assert response.status_code == 401

    async def test_other_roles_get_403(
        self, client: httpx.AsyncClient, keys: Keys, app: FastAPI
    ) -> None:
        for headers in (
            await keys.admin(),
            await keys.reviewer("44"),
            await institution_headers(client, keys),
        ):
            response = await client.post(BATCH, json={"items": [item(1)]}, headers=headers)
            assert response.status_code == 403
            assert response.json()["code"] == "wrong_role"

    async def test_uscc_is_normalised_as_on_create(
        self, client: httpx.AsyncClient, keys: Keys
    ) -> None:
        region = await keys.region("440304")
        spaced = item(1, owner={"name": "Futian Energy Co.", "uscc": USCC.lower()})
        answer = await client.post(BATCH, json={"items": [spaced]}, headers=region)
        result = answer.json()["results"][0]
        assert result["status"] == "created"
        got = (await client.get(f"{BASE}/{result['id']}", headers=region)).json()
        assert got["owner"]["uscc"] == USCC
