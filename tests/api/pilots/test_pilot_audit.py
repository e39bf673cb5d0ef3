"""Pilot writes go to the audit store like every other write, with actor and before/after; the
pilot's history is a view of it, in the shape it always had."""

import uuid

import httpx

from tests.conftest import Keys

PILOTS = "/api/v1/pilots"
AUDIT = "/api/v1/audit"
NEW = {
    "name": "广东省深圳市南山区",
    "kind": "district",
    "province": "44",
    "regions": [{"code": "440305"}],
    "batch": 2,
    "work_plan_ref": "工作方案 (2026)",
}


class TestPilotEvents:
    async def test_every_pilot_write_is_an_audit_event_and_history_a_view_of_them(
        self, client: httpx.AsyncClient, keys: Keys
    ) -> None:
        admin = await keys.admin()
        pilot = (await client.post(PILOTS, json=NEW, headers=admin)).json()
        url = f"{PILOTS}/{pilot['id']}"
        patched = await client.patch(
            url,
            json={"work_plan_ref": "工作方案 (2027)", "regions": [{"code": "440306"}]},
            headers=admin,
        )
        assert patched.status_code == 200, patched.text
        codes = {"codes": [{"code": "440305"}, {"code": "440306"}], "reason": "扩区"}
        assert (await client.put(f"{url}/codes", json=codes, headers=admin)).status_code == 200
        for action in ("submit", "approve"):
            moved = await client.post(f"{url}/transitions", json={"action": action}, headers=admin)
            assert moved.status_code == 200, moved.text

        events = (await client.get(AUDIT, headers=admin, params={"object_id": pilot["id"]})).json()[
            "items"
        ]
        assert [e["action"] for e in events] == [
            "create",
            "replace_codes",
            "update",
            "replace_codes",
            "submit",
            "approve",
        ]
        assert {e["object_type"] for e in events} == {"pilot"}
        assert {e["actor_role"] for e in events} == {"admin"}
        assert len({e["actor_key_id"] for e in events}) == 1 and events[0]["actor_key_id"]
        assert all(e["request_id"] for e in events)
        create, codes_by_patch, update, codes_by_put, submit, approve = events
        assert create["changes"]["name"] == {"before": None, "after": NEW["name"]}
        assert create["changes"]["codes"]["after"][0]["code"] == "440305"
        assert create["to_status"] == "applying"
        assert [c["code"] for c in codes_by_patch["changes"]["codes"]["before"]] == ["440305"]
        assert [c["code"] for c in codes_by_patch["changes"]["codes"]["after"]] == ["440306"]
        assert update["changes"] == {
            "work_plan_ref": {"before": "工作方案 (2026)", "after": "工作方案 (2027)"}
        }
        assert codes_by_put["reason"] == "扩区"
        assert [c["code"] for c in codes_by_put["changes"]["codes"]["after"]] == [
            "440305",
            "440306",
        ]
        assert (submit["from_status"], submit["to_status"]) == ("applying", "provincial_review")
        assert (approve["from_status"], approve["to_status"]) == ("provincial_review", "approved")

        # The history: the steps and code edits of the same events, in the shape it had.
        first = (await client.get(f"{url}/history", params={"limit": 2})).json()
        rest = (
            await client.get(f"{url}/history", params={"limit": 2, "cursor": first["next_cursor"]})
        ).json()
        history = first["items"] + rest["items"]
        assert rest["next_cursor"] is None
        assert [h["action"] for h in history] == [
            "replace_codes",
            "replace_codes",
            "submit",
            "approve",
        ]
        assert set(history[0]) == {
            "id",
            "action",
            "from_status",
            "to_status",
            "reason",
            "codes",
            "actor_role",
            "at",
        }
        assert [uuid.UUID(h["id"]).int for h in history] == [
            e["id"] for e in (codes_by_patch, codes_by_put, submit, approve)
        ]
        assert history[0]["codes"] == codes_by_patch["changes"]["codes"]
        assert (history[0]["from_status"], history[0]["to_status"]) == ("applying", "applying")
        assert history[1]["reason"] == "扩区" and history[2]["codes"] is None
        assert history[3]["to_status"] == "approved" and history[3]["actor_role"] == "admin"

    async def test_refused_writes_leave_no_event_and_regions_do_not_read_pilot_events(
        self, client: httpx.AsyncClient, keys: Keys
    ) -> None:
        admin = await keys.admin()
        pilot = (await client.post(PILOTS, json=NEW, headers=admin)).json()
        url = f"{PILOTS}/{pilot['id']}"
        bad = await client.put(f"{url}/codes", json={"codes": [{"code": "999999"}]}, headers=admin)
        assert bad.status_code == 422
        wrong = await client.post(f"{url}/transitions", json={"action": "accept"}, headers=admin)
        assert wrong.status_code == 409
        events = (await client.get(AUDIT, headers=admin, params={"object_id": pilot["id"]})).json()[
            "items"
        ]
        assert [e["action"] for e in events] == ["create"]
        region = await keys.region("440305")
        seen = (await client.get(AUDIT, headers=region, params={"object_id": pilot["id"]})).json()
        assert seen["items"] == []
