"""Pilot status: applying → provincial_review → approved → accepted | disqualified, with history."""

import asyncio

import httpx
import pytest

from tests.api.pilots.test_pilots import BASE, new_pilot
from tests.conftest import Keys
from tests.factories import FUTIAN_PILOT


async def create(client: httpx.AsyncClient, admin: dict[str, str]) -> str:
    response = await client.post(BASE, json=new_pilot(), headers=admin)
    assert response.status_code == 201
    return str(response.json()["id"])


async def step(
    client: httpx.AsyncClient, admin: dict[str, str], pilot_id: str, action: str, **extra: object
) -> httpx.Response:
    return await client.post(
        f"{BASE}/{pilot_id}/transitions", json={"action": action, **extra}, headers=admin
    )


class TestTransitionPilot:
    async def test_admin_moves_a_pilot_to_accepted_and_history_records_each_step(
        self, client: httpx.AsyncClient, keys: Keys
    ) -> None:
        admin = await keys.admin()
        pilot_id = await create(client, admin)
        expected = [
            ("submit", "provincial_review", ["approve"]),
            ("approve", "approved", ["accept", "disqualify"]),
            ("accept", "accepted", []),
        ]
        for action, status, allowed in expected:
            response = await step(client, admin, pilot_id, action, reason=f"{action} ok")
            assert response.status_code == 200, response.text
            assert response.json()["status"] == status
            assert response.json()["allowed_actions"] == allowed
        assert (await client.get(f"{BASE}/{pilot_id}")).json()["status"] == "accepted"
        history = (await client.get(f"{BASE}/{pilot_id}/history")).json()
        assert history["next_cursor"] is None
        assert [
            (h["action"], h["from_status"], h["to_status"], h["reason"], h["actor_role"])
            for h in history["items"]
        ] == [
            ("submit", "applying", "provincial_review", "submit ok", "admin"),
            ("approve", "provincial_review", "approved", "approve ok", "admin"),
            ("accept", "approved", "accepted", "accept ok", "admin"),
        ]
        assert all(h["at"].endswith("Z") for h in history["items"])

    async def test_disqualify_needs_a_reason(self, client: httpx.AsyncClient, keys: Keys) -> None:
        admin = await keys.admin()
        response = await step(client, admin, FUTIAN_PILOT, "disqualify")
        assert response.status_code == 422
        assert response.json()["code"] == "reason_required"
        assert response.json()["errors"][0]["loc"] == ["body", "reason"]
        assert (await client.get(f"{BASE}/{FUTIAN_PILOT}")).json()["status"] == "approved"
        assert (await client.get(f"{BASE}/{FUTIAN_PILOT}/history")).json()["items"] == []

    async def test_disqualified_pilot_keeps_the_reason(
        self, client: httpx.AsyncClient, keys: Keys
    ) -> None:
        admin = await keys.admin()
        reason = "未按实施方案推进，评估不合格"
        response = await step(client, admin, FUTIAN_PILOT, "disqualify", reason=reason)
        assert response.status_code == 200
        assert response.json()["status"] == "disqualified"
        assert response.json()["allowed_actions"] == []
        (entry,) = (await client.get(f"{BASE}/{FUTIAN_PILOT}/history")).json()["items"]
        assert entry["action"] == "disqualify"
        assert entry["reason"] == reason
        listed = (await client.get(BASE, params={"status": "disqualified"})).json()["items"]
        assert [p["id"] for p in listed] == [FUTIAN_PILOT]

    @pytest.mark.parametrize(
        ("path", "action", "allowed"),
        [
            ([], "approve", ["submit"]),
            ([], "accept", ["submit"]),
            (["submit"], "submit", ["approve"]),
            (["submit"], "disqualify", ["approve"]),
            (["submit", "approve", "accept"], "disqualify", []),
        ],
    )
    async def test_a_step_not_allowed_from_the_status_is_409_naming_the_allowed_ones(
        self,
        client: httpx.AsyncClient,
        keys: Keys,
        path: list[str],
        action: str,
        allowed: list[str],
    ) -> None:
        admin = await keys.admin()
        pilot_id = await create(client, admin)
        for done in path:
            assert (await step(client, admin, pilot_id, done)).status_code == 200
        before = (await client.get(f"{BASE}/{pilot_id}")).json()
        response = await step(client, admin, pilot_id, action, reason="because")
        assert response.status_code == 409
        assert response.headers["content-type"] == "application/problem+json"
        assert response.json()["code"] == "invalid_transition"
        assert response.json()["allowed_actions"] == allowed
        assert (await client.get(f"{BASE}/{pilot_id}")).json() == before
        history = (await client.get(f"{BASE}/{pilot_id}/history")).json()["items"]
        assert len(history) == len(path)

    async def test_only_admins_move_pilots(self, client: httpx.AsyncClient, keys: Keys) -> None:
        anonymous = await client.post(
            f"{BASE}/{FUTIAN_PILOT}/transitions", json={"action": "accept"}
        )
        assert anonymous.status_code == 401
        own_key = await keys.region(f"pilot:{FUTIAN_PILOT}")
        response = await step(client, own_key, FUTIAN_PILOT, "accept")
        assert response.status_code == 403
        assert (await client.get(f"{BASE}/{FUTIAN_PILOT}")).json()["status"] == "approved"

    async def test_unknown_pilot_is_404(self, client: httpx.AsyncClient, keys: Keys) -> None:
        admin = await keys.admin()
        response = await step(client, admin, "00000000-0000-0000-0000-000000000000", "accept")
        assert response.status_code == 404

    @pytest.mark.parametrize(
        "body",
        [
            {"action": "promote"},
            {},
            {"action": "accept", "reason": ""},
            {"action": "accept", "by": "x"},
        ],
    )
    async def test_malformed_step_is_422(
        self, client: httpx.AsyncClient, keys: Keys, body: dict[str, object]
    ) -> None:
        admin = await keys.admin()
        response = await client.post(f"{BASE}/{FUTIAN_PILOT}/transitions", json=body, headers=admin)
        assert response.status_code == 422
        assert (await client.get(f"{BASE}/{FUTIAN_PILOT}")).json()["status"] == "approved"


class TestPilotHistory:
    async def test_history_pages_oldest_first(self, client: httpx.AsyncClient, keys: Keys) -> None:
        admin = await keys.admin()
        pilot_id = await create(client, admin)
        for action in ("submit", "approve", "accept"):
            await step(client, admin, pilot_id, action)
        actions: list[str] = []
        cursor = None
        while True:
            params = {"limit": 1, **({"cursor": cursor} if cursor else {})}
            page = (await client.get(f"{BASE}/{pilot_id}/history", params=params)).json()
            actions.extend(h["action"] for h in page["items"])
            cursor = page["next_cursor"]
            if cursor is None:
                break
        assert actions == ["submit", "approve", "accept"]

    async def test_unknown_pilot_is_404(self, client: httpx.AsyncClient) -> None:
        response = await client.get(f"{BASE}/00000000-0000-0000-0000-000000000000/history")
        assert response.status_code == 404


class TestConcurrentTransitions:
    async def test_two_admins_racing_on_one_pilot_apply_one_step(
        self, client: httpx.AsyncClient, keys: Keys
    ) -> None:
        first, second = await keys.admin(), await keys.admin()
        responses = await asyncio.gather(
            step(client, first, FUTIAN_PILOT, "accept"),
            step(client, second, FUTIAN_PILOT, "disqualify", reason="评估不合格"),
        )
        assert sorted(r.status_code for r in responses) == [200, 409]
        winner = next(r for r in responses if r.status_code == 200).json()["status"]
        assert (await client.get(f"{BASE}/{FUTIAN_PILOT}")).json()["status"] == winner
        history = (await client.get(f"{BASE}/{FUTIAN_PILOT}/history")).json()["items"]
        assert [h["to_status"] for h in history] == [winner]


class TestReadsWithAKey:
    async def test_a_revoked_or_unknown_key_is_401_even_on_public_reads(
        self, client: httpx.AsyncClient
    ) -> None:
        bad = {"Authorization": "Bearer clk_nonsense"}
        for url in (BASE, f"{BASE}/{FUTIAN_PILOT}", f"{BASE}/{FUTIAN_PILOT}/history"):
            response = await client.get(url, headers=bad)
            assert response.status_code == 401, url
