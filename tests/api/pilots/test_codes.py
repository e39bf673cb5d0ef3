"""PUT /pilots/{id}/codes: an administrator replaces a pilot's codes with coverage and validity,
each edit kept in the pilot's history with the codes before and after."""

from typing import Any

import httpx

from tests.conftest import Keys
from tests.factories import FUTIAN_PILOT, LIANGJIANG_PILOT, PROJECTS, create_project

PILOTS = "/api/v1/pilots"

# As GET shows them: full codes first, then the partial ones, each in code order.
LIANGJIANG_2025 = [
    {"code": "500157", "coverage": "full", "valid_from": "2025-11-06", "valid_to": None},
    {"code": "500105", "coverage": "partial", "valid_from": None, "valid_to": "2025-11-05"},
    {"code": "500109", "coverage": "partial", "valid_from": None, "valid_to": None},
    {"code": "500112", "coverage": "partial", "valid_from": None, "valid_to": "2025-11-05"},
]
# The same with 北碚区 covered whole.
BEIBEI_FULL = [
    *(c for c in LIANGJIANG_2025 if c["code"] != "500109"),
    {"code": "500109", "coverage": "full"},
]


def codes_of(pilot: dict[str, Any]) -> list[dict[str, Any]]:
    fields = ("code", "coverage", "valid_from", "valid_to")
    return [{f: r[f] for f in fields} for r in pilot["regions"]]


class TestReplaceCodes:
    async def test_admin_replaces_codes_and_the_history_keeps_before_and_after(
        self, client: httpx.AsyncClient, keys: Keys
    ) -> None:
        admin = await keys.admin()
        before = (await client.get(f"{PILOTS}/{LIANGJIANG_PILOT}")).json()
        assert codes_of(before) == LIANGJIANG_2025
        response = await client.put(
            f"{PILOTS}/{LIANGJIANG_PILOT}/codes",
            json={"codes": BEIBEI_FULL, "reason": "北碚区全域纳入"},
            headers=admin,
        )
        assert response.status_code == 200, response.text
        after = response.json()
        assert [(r["code"], r["coverage"]) for r in after["regions"]] == [
            ("500109", "full"),
            ("500157", "full"),
            ("500105", "partial"),
            ("500112", "partial"),
        ]
        assert after["updated_at"] > before["updated_at"]
        history = (await client.get(f"{PILOTS}/{LIANGJIANG_PILOT}/history")).json()["items"]
        assert len(history) == 1
        entry = history[0]
        assert entry["action"] == "replace_codes"
        assert (entry["from_status"], entry["to_status"]) == ("approved", "approved")
        assert entry["reason"] == "北碚区全域纳入"
        assert entry["actor_role"] == "admin"
        assert entry["codes"]["before"] == sorted(LIANGJIANG_2025, key=lambda c: str(c["code"]))
        assert {c["code"]: c["coverage"] for c in entry["codes"]["after"]}["500109"] == "full"

    async def test_a_code_made_full_brings_its_projects_into_the_keys_reach(
        self, client: httpx.AsyncClient, keys: Keys
    ) -> None:
        admin = await keys.admin()
        beibei = await create_project(client, await keys.region("500109"), region_code="500109")
        liangjiang = await keys.region(f"pilot:{LIANGJIANG_PILOT}")
        url = f"{PROJECTS}/{beibei['id']}"
        assert (await client.get(url, headers=liangjiang)).status_code == 404
        put = await client.put(
            f"{PILOTS}/{LIANGJIANG_PILOT}/codes", json={"codes": BEIBEI_FULL}, headers=admin
        )
        assert put.status_code == 200
        # A key reads its pilot's codes when it is used: the next request has the new reach.
        assert (await client.get(url, headers=liangjiang)).status_code == 200

    async def test_only_an_admin_replaces_codes(
        self, client: httpx.AsyncClient, keys: Keys
    ) -> None:
        body = {"codes": [{"code": "440304"}]}
        url = f"{PILOTS}/{FUTIAN_PILOT}/codes"
        assert (await client.put(url, json=body)).status_code == 401
        for headers in (await keys.region(f"pilot:{FUTIAN_PILOT}"), await keys.reviewer("44")):
            assert (await client.put(url, json=body, headers=headers)).status_code == 403
        missing = await client.put(
            f"{PILOTS}/00000000-0000-0000-0000-000000000000/codes",
            json=body,
            headers=await keys.admin(),
        )
        assert missing.status_code == 404
        assert (await client.get(f"{PILOTS}/{FUTIAN_PILOT}/history")).json()["items"] == []

    async def test_bad_codes_are_refused_each_with_its_code_and_nothing_changes(
        self, client: httpx.AsyncClient, keys: Keys
    ) -> None:
        admin = await keys.admin()
        codes = [
            {"code": "500157", "valid_from": "2026-01-01", "valid_to": "2025-12-31"},
            {"code": "500105"},  # 江北区, abolished 2025-11-06: only with valid_to before
            {"code": "500112", "valid_to": "2025-11-06"},  # one day past its end
            {"code": "440304"},
            {"code": "509999"},
            {"code": "500109", "coverage": "partial", "valid_to": "2025-11-05"},
            {"code": "500109"},
        ]
        response = await client.put(
            f"{PILOTS}/{LIANGJIANG_PILOT}/codes", json={"codes": codes}, headers=admin
        )
        assert response.status_code == 422
        body = response.json()
        assert body["code"] == "invalid_regions"
        assert [(e["loc"][2], e["code"]) for e in body["errors"]] == [
            (0, "invalid_validity"),
            (1, "retired_region"),
            (2, "retired_region"),
            (3, "region_outside_province"),
            (4, "unknown_region"),
            (6, "duplicate_region"),
        ]
        assert {tuple(e["loc"][:2]) for e in body["errors"]} == {("body", "codes")}
        pilot = (await client.get(f"{PILOTS}/{LIANGJIANG_PILOT}")).json()
        assert codes_of(pilot) == LIANGJIANG_2025
        assert (await client.get(f"{PILOTS}/{LIANGJIANG_PILOT}/history")).json()["items"] == []

    async def test_validity_before_a_code_existed_and_malformed_bodies_are_refused(
        self, client: httpx.AsyncClient, keys: Keys
    ) -> None:
        admin = await keys.admin()
        url = f"{PILOTS}/{LIANGJIANG_PILOT}/codes"
        early = await client.put(
            url, json={"codes": [{"code": "500157", "valid_from": "2024-01-01"}]}, headers=admin
        )
        assert early.status_code == 422
        assert early.json()["errors"][0]["code"] == "validity_before_region"
        bodies: list[dict[str, Any]] = [
            {"codes": []},
            {"codes": [{"code": "500157", "coverage": "most"}]},
            {"codes": [{"code": "500157", "coverage": "full", "is_partial": True}]},
            {"codes": [{"code": "500157"}], "extra": 1},
        ]
        for body in bodies:
            assert (await client.put(url, json=body, headers=admin)).status_code == 422, body

    async def test_retired_region_is_still_the_answer_for_a_retired_code_without_its_end(
        self, client: httpx.AsyncClient, keys: Keys
    ) -> None:
        """POST and PATCH /pilots answer retired_region as before; with valid_to on or before
        the code's end a retired code is kept as history."""
        admin = await keys.admin()
        refused = await client.patch(
            f"{PILOTS}/{LIANGJIANG_PILOT}",
            json={"regions": [{"code": "500157"}, {"code": "500105", "is_partial": True}]},
            headers=admin,
        )
        assert refused.status_code == 422
        assert refused.json()["errors"][0]["code"] == "retired_region"
        kept = await client.patch(
            f"{PILOTS}/{LIANGJIANG_PILOT}",
            json={
                "regions": [
                    {"code": "500157"},
                    {"code": "500105", "is_partial": True, "valid_to": "2025-11-05"},
                ]
            },
            headers=admin,
        )
        assert kept.status_code == 200, kept.text
        assert [(r["code"], r["coverage"], r["is_partial"]) for r in kept.json()["regions"]] == [
            ("500157", "full", False),
            ("500105", "partial", True),
        ]
        history = (await client.get(f"{PILOTS}/{LIANGJIANG_PILOT}/history")).json()["items"]
        assert [h["action"] for h in history] == ["replace_codes"]
