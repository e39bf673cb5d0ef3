"""Provenance and revisions (docs/architecture.md, *Audit trail* and *Revisions*): every change
of a project is an event of the one audit store and its history shows it with before and after;
financing_secured never goes below what financed offers recorded; a screening change of a library
project is a revision reviewed while the project stays in the library."""

from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from fastapi import FastAPI
from sqlalchemy.exc import DBAPIError

from tests.api.bulk.helpers import BATCH, item
from tests.conftest import Keys
from tests.factories import PROJECTS, institution, library_project, product

TODAY = datetime.now(UTC).date().isoformat()


async def _read(client: httpx.AsyncClient, headers: dict[str, str], pid: str) -> dict[str, Any]:
    answer = await client.get(f"{PROJECTS}/{pid}", headers=headers)
    assert answer.status_code == 200, answer.text
    return dict(answer.json())


async def _patch(
    client: httpx.AsyncClient, headers: dict[str, str], pid: str, body: dict[str, Any]
) -> httpx.Response:
    current = await client.get(f"{PROJECTS}/{pid}", headers=headers)
    return await client.patch(
        f"{PROJECTS}/{pid}", json=body, headers={**headers, "If-Match": current.headers["etag"]}
    )


async def _history(
    client: httpx.AsyncClient, headers: dict[str, str], pid: str
) -> list[dict[str, Any]]:
    answer = await client.get(f"{PROJECTS}/{pid}/history", headers=headers)
    assert answer.status_code == 200, answer.text
    return list(answer.json()["items"])


async def _financed(
    client: httpx.AsyncClient, keys: Keys, pid: str, amount: str
) -> tuple[dict[str, str], str]:
    """A bank's offer on the project taken to financed with ``amount``: the bank's headers and
    the offer's id."""
    _, bank = await institution(client, keys)
    prod = await product(client, bank)
    region = await keys.region("440304")
    offer = await client.post(
        "/api/v1/engagements",
        json={
            "project_id": pid,
            "product_id": prod["id"],
            "amount": amount,
            "annual_rate": "3.450",
            "tenor_months": 36,
        },
        headers=bank,
    )
    assert offer.status_code == 201, offer.text
    oid = offer.json()["id"]
    steps: list[tuple[dict[str, str], dict[str, Any]]] = [
        (region, {"action": "accept"}),
        (bank, {"action": "contact"}),
        (bank, {"action": "due_diligence"}),
        (bank, {"action": "financed", "amount": amount, "annual_rate": "3.3", "date": TODAY}),
    ]
    for headers, body in steps:
        answer = await client.post(
            f"/api/v1/engagements/{oid}/transitions", json=body, headers=headers
        )
        assert answer.status_code == 200, answer.text
    return bank, oid


class TestFieldHistory:
    async def test_a_patch_is_in_the_history_with_before_and_after(
        self, client: httpx.AsyncClient, keys: Keys, app: FastAPI
    ) -> None:
        region = await keys.region("440304")
        pid = await library_project(app, financing_secured="600000.00")
        answer = await _patch(
            client,
            region,
            pid,
            {
                "financing_secured": "700000.00",
                "construction_status": "under_construction",
                "contact": {"name": "王芳", "phone": "13900000000"},
            },
        )
        assert answer.status_code == 200, answer.text
        last = (await _history(client, region, pid))[-1]
        assert last["action"] == "update"
        assert last["changes"] == {
            "construction_status": {"before": "approved", "after": "under_construction"},
            "contact": {"changed": True},
            "financing_secured": {"before": "600000.00", "after": "700000.00"},
        }
        assert "王芳" not in str(last) and "李工" not in str(last)
        assert last["actor_role"] == "region" and last["actor_scope"] == "440304"
        assert last["actor_key_id"]
        assert last["from_status"] == last["to_status"] == "in_library"
        # The event names the request that made it (the X-Request-ID of the answer).
        async with app.state.sessions() as session:
            stored = await session.execute(
                sa.text("SELECT request_id FROM audit_events WHERE id = :id"), {"id": last["id"]}
            )
            assert stored.scalar_one() == answer.headers["x-request-id"]

    async def test_a_batch_update_is_in_the_history(
        self, client: httpx.AsyncClient, keys: Keys
    ) -> None:
        region = await keys.region("440304")
        created = await client.post(BATCH, json={"items": [item(1)]}, headers=region)
        pid = created.json()["results"][0]["id"]
        changed = item(1, name="Renamed", tenor_months=84)
        answer = await client.post(BATCH, json={"items": [changed]}, headers=region)
        assert answer.json()["results"][0]["status"] == "updated"
        history = await _history(client, region, pid)
        assert [h["action"] for h in history] == ["create", "update"]
        assert history[1]["changes"]["name"]["after"] == "Renamed"
        assert history[1]["changes"]["tenor_months"]["after"] == 84

    async def test_a_financed_offer_is_in_the_history(
        self, client: httpx.AsyncClient, keys: Keys, app: FastAPI
    ) -> None:
        region = await keys.region("440304")
        pid = await library_project(app, financing_secured="600000.00")
        _, oid = await _financed(client, keys, pid, "400000.00")
        last = (await _history(client, region, pid))[-1]
        assert last["action"] == "financing_recorded"
        assert last["actor_role"] == "institution"
        assert last["changes"] == {
            "financing_secured": {"before": "600000.00", "after": "1000000.00"}
        }
        assert oid in last["reason"]


class TestFinancingFloor:
    async def test_patch_below_what_offers_recorded_is_refused(
        self, client: httpx.AsyncClient, keys: Keys, app: FastAPI
    ) -> None:
        # The measured case: 600,000 secured through a financed offer, PATCHed to 0.
        region = await keys.region("440304")
        pid = await library_project(app)
        await _financed(client, keys, pid, "600000.00")
        before = await _read(client, region, pid)
        answer = await _patch(client, region, pid, {"financing_secured": "0.00"})
        assert answer.status_code == 422, answer.text
        problem = answer.json()
        assert problem["code"] == "financing_below_recorded"
        assert problem["errors"][0]["loc"] == ["body", "financing_secured"]
        after = await _read(client, region, pid)
        assert after["financing_secured"] == "600000.00"
        assert after["version"] == before["version"]
        assert (await _history(client, region, pid))[-1]["action"] == "financing_recorded"
        # At or above the recorded amount is fine.
        answer = await _patch(client, region, pid, {"financing_secured": "650000.00"})
        assert answer.status_code == 200, answer.text

    async def test_batch_below_what_offers_recorded_is_an_error_item(
        self, client: httpx.AsyncClient, keys: Keys, app: FastAPI
    ) -> None:
        region = await keys.region("440304")
        pid = await library_project(app, external_ref="R-00001", **_as_item_row())
        await _financed(client, keys, pid, "600000.00")
        sent = item(1, financing_secured="100.00")
        answer = await client.post(BATCH, json={"items": [sent]}, headers=region)
        result = answer.json()["results"][0]
        assert result["status"] == "error", result
        assert result["problem"]["code"] == "financing_below_recorded"
        assert (await _read(client, region, pid))["financing_secured"] == "600000.00"


def _as_item_row() -> dict[str, Any]:
    """Column values that make a library row match tests.api.bulk.helpers.item(1) except for
    what an item changes."""
    sent = item(1)
    return {
        "name": sent["name"],
        "region_code": sent["region_code"],
        "source_scope": "440304",
    }


class TestAppendOnly:
    @pytest.mark.parametrize(
        "statement", ["UPDATE audit_events SET action = 'x'", "DELETE FROM audit_events"]
    )
    async def test_the_database_refuses_to_change_an_event(
        self, client: httpx.AsyncClient, keys: Keys, app: FastAPI, statement: str
    ) -> None:
        region = await keys.region("440304")
        pid = await library_project(app)
        assert (await _patch(client, region, pid, {"tenor_months": 30})).status_code == 202
        with pytest.raises(DBAPIError, match="append-only"):
            async with app.state.sessions.begin() as session:
                await session.execute(sa.text(statement))
        assert len(await _history(client, region, pid)) == 1


class TestRevisions:
    async def test_library_project_stays_public_during_review_and_approval_applies(
        self, client: httpx.AsyncClient, keys: Keys, app: FastAPI
    ) -> None:
        region = await keys.region("440304")
        reviewer, admin = await keys.reviewer("44"), await keys.admin()
        pid = await library_project(app)
        bank, _ = await _financed(client, keys, pid, "600000.00")
        approved = await _read(client, region, pid)
        answer = await _patch(
            client,
            region,
            pid,
            {
                "tenor_months": 84,
                "name": "福田光伏屋顶（二期）",
                "construction_status": "operational",
            },
        )
        assert answer.status_code == 202, answer.text
        revision = answer.json()
        assert revision["status"] == "submitted"
        assert revision["fields"] == {"name": "福田光伏屋顶（二期）", "tenor_months": 84}
        assert revision["screening"]["outcome"] == "not_two_high"
        # The progress field applied at once; the screening fields wait for the review.
        for caller in ({}, bank, region):
            seen = await _read(client, caller, pid)
            assert seen["status"] == "in_library"
            assert (seen["name"], seen["tenor_months"]) == (approved["name"], 60)
            assert seen["construction_status"] == "operational"
        # One open revision at a time.
        again = await _patch(client, region, pid, {"tenor_months": 96})
        assert again.status_code == 409 and again.json()["code"] == "revision_open"
        url = f"{PROJECTS}/{pid}/revisions/{revision['id']}"
        # The lifecycle table: the admin approves only a recommended revision, the reviewer
        # recommends, the region reviews nothing.
        early = await client.post(f"{url}/approve", json={}, headers=admin)
        assert early.status_code == 409 and early.json()["allowed_actions"] == [
            "recommend",
            "return",
            "reject",
        ]
        assert (await client.post(f"{url}/recommend", json={}, headers=region)).status_code == 403
        assert (await client.post(f"{url}/recommend", json={}, headers=reviewer)).status_code == 200
        assert (await client.post(f"{url}/approve", json={}, headers=reviewer)).status_code == 403
        done = await client.post(f"{url}/approve", json={}, headers=admin)
        assert done.status_code == 200, done.text
        assert done.json()["status"] == "approved" and done.json()["decided_at"]
        now = await _read(client, bank, pid)
        assert (now["name"], now["tenor_months"]) == ("福田光伏屋顶（二期）", 84)
        assert now["status"] == "in_library" and now["library_code"] == approved["library_code"]
        assert now["financing_secured"] == "600000.00"
        offers = (await client.get("/api/v1/engagements", headers=bank)).json()["items"]
        assert [o["status"] for o in offers] == ["financed"]
        history = await _history(client, region, pid)
        steps = [h["action"] for h in history]
        assert steps[-4:] == ["update", "revision_open", "revision_recommend", "revision_approve"]
        assert history[-1]["changes"]["tenor_months"] == {"before": 60, "after": 84}
        assert history[-1]["actor_role"] == "admin"
        assert history[-1]["screening"]["outcome"] == "not_two_high"
        listed = (await client.get(f"{PROJECTS}/{pid}/revisions", headers=reviewer)).json()
        assert [r["status"] for r in listed["items"]] == ["approved"]
        # A closed revision moves no more; a new one may be opened now.
        late = await client.post(f"{url}/reject", json={"reason": "x"}, headers=admin)
        assert late.status_code == 409
        assert (await _patch(client, region, pid, {"tenor_months": 96})).status_code == 202

    @pytest.mark.parametrize("action", ["return", "reject"])
    async def test_return_or_reject_leaves_the_approved_fields(
        self, client: httpx.AsyncClient, keys: Keys, app: FastAPI, action: str
    ) -> None:
        region, reviewer = await keys.region("440304"), await keys.reviewer("44")
        pid = await library_project(app)
        approved = await _read(client, region, pid)
        answer = await _patch(client, region, pid, {"financing_need": "12000000.00"})
        assert answer.status_code == 202, answer.text
        url = f"{PROJECTS}/{pid}/revisions/{answer.json()['id']}/{action}"
        missing = await client.post(url, json={}, headers=reviewer)
        assert missing.status_code == 422 and missing.json()["code"] == "reason_required"
        done = await client.post(url, json={"reason": "需补充依据"}, headers=reviewer)
        assert done.status_code == 200, done.text
        assert done.json()["status"] == {"return": "returned", "reject": "rejected"}[action]
        now = await _read(client, {}, pid)
        assert now["financing_need"] == approved["financing_need"] == "10000000.00"
        assert now["status"] == "in_library"
        assert (await _history(client, region, pid))[-1]["reason"].endswith("需补充依据")

    async def test_revisions_are_not_public_and_a_two_high_refusal_opens_none(
        self, client: httpx.AsyncClient, keys: Keys, app: FastAPI
    ) -> None:
        region = await keys.region("440304")
        pid = await library_project(app)
        assert (await client.get(f"{PROJECTS}/{pid}/revisions")).status_code == 401
        bank = (await institution(client, keys))[1]
        assert (await client.get(f"{PROJECTS}/{pid}/revisions", headers=bank)).status_code == 403
        # A new coal plant: 两高 without a transition category, refused as a submission is.
        refused = await _patch(
            client, region, pid, {"industry_code": "D4411", "fuel": "coal", "categories": ["M2"]}
        )
        assert refused.status_code == 422, refused.text
        assert refused.json()["code"] == "two_high_refused"
        listed = (await client.get(f"{PROJECTS}/{pid}/revisions", headers=region)).json()
        assert listed["items"] == []

    async def test_a_revision_of_an_exited_project_moves_no_more(
        self, client: httpx.AsyncClient, keys: Keys, app: FastAPI
    ) -> None:
        region, admin = await keys.region("440304"), await keys.admin()
        pid = await library_project(app)
        opened = await _patch(client, region, pid, {"tenor_months": 72})
        assert opened.status_code == 202, opened.text
        current = await client.get(f"{PROJECTS}/{pid}", headers=admin)
        exited = await client.post(
            f"{PROJECTS}/{pid}/transitions",
            json={"action": "exit", "reason_code": "cancelled"},
            headers={**admin, "If-Match": current.headers["etag"]},
        )
        assert exited.status_code == 200, exited.text
        url = f"{PROJECTS}/{pid}/revisions/{opened.json()['id']}/recommend"
        late = await client.post(url, json={}, headers=await keys.reviewer("44"))
        assert late.status_code == 409 and late.json()["code"] == "project_not_in_library"
