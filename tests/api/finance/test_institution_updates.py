"""PATCH /institutions/{id}: an administrator changes the register's fields, the institution its
own open-data consent; If-Match guards every change, the USCC never changes, and the IATI export
(the full document and its updated_since feed) follows a consent change at once."""

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from lxml import etree

from tests.api.open_data.iati_check import check
from tests.conftest import Keys
from tests.factories import in_library, institution, make_uscc, product

BASE = "/api/v1/institutions"
IATI = "/api/v1/export/iati"
ORG = "CN-USCI-000000000000000000"
TODAY = datetime.now(UTC).date()
PROBLEM = "application/problem+json"


async def _ok(response: httpx.Response, status: int = 200) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body: dict[str, Any] = response.json()
    return body


async def _etag(client: httpx.AsyncClient, institution_id: str) -> str:
    response = await client.get(f"{BASE}/{institution_id}")
    assert response.status_code == 200, response.text
    return response.headers["etag"]


async def _patch(
    client: httpx.AsyncClient,
    institution_id: str,
    body: dict[str, Any],
    headers: dict[str, str],
    etag: str | None = None,
) -> httpx.Response:
    """A PATCH based on the current ETag (or the one given)."""
    tag = etag if etag is not None else await _etag(client, institution_id)
    return await client.patch(
        f"{BASE}/{institution_id}", json=body, headers={**headers, "If-Match": tag}
    )


async def _events(
    client: httpx.AsyncClient, keys: Keys, institution_id: str
) -> list[dict[str, Any]]:
    page = await _ok(
        await client.get(
            "/api/v1/audit", params={"object_id": institution_id}, headers=await keys.admin()
        )
    )
    items: list[dict[str, Any]] = page["items"]
    return items


class TestAdministratorUpdates:
    async def test_admin_changes_name_type_and_consent(
        self, client: httpx.AsyncClient, keys: Keys
    ) -> None:
        bank_id, _ = await institution(client, keys, name="湖州银行")
        before = await _ok(await client.get(f"{BASE}/{bank_id}"))
        assert before["open_data_consent"] is False
        admin = await keys.admin()
        response = await _patch(
            client,
            bank_id,
            {"name": "湖州银行股份有限公司", "type": "fund", "open_data_consent": True},
            admin,
        )
        body = await _ok(response)
        assert body == {
            **before,
            "name": "湖州银行股份有限公司",
            "type": "fund",
            "open_data_consent": True,
        }
        assert response.headers["etag"] == await _etag(client, bank_id)
        assert await _ok(await client.get(f"{BASE}/{bank_id}")) == body
        listed = await _ok(await client.get(BASE, params={"type": "fund"}))
        assert [i["id"] for i in listed["items"]] == [bank_id]

    async def test_each_change_is_an_audit_event_with_before_and_after(
        self, client: httpx.AsyncClient, keys: Keys
    ) -> None:
        bank_id, bank = await institution(client, keys, name="湖州银行")
        admin = await keys.admin()
        await _ok(await _patch(client, bank_id, {"name": "湖银", "type": "bank"}, admin))
        await _ok(await _patch(client, bank_id, {"open_data_consent": True}, bank))
        events = await _events(client, keys, bank_id)
        assert [e["action"] for e in events] == ["create", "update", "update"]
        renamed, consented = events[1], events[2]
        # type was sent unchanged: only what changed is recorded
        assert renamed["changes"] == {"name": {"before": "湖州银行", "after": "湖银"}}
        assert renamed["actor_role"] == "admin" and renamed["object_type"] == "institution"
        assert consented["changes"] == {"open_data_consent": {"before": False, "after": True}}
        assert consented["actor_role"] == "institution"

    async def test_a_body_that_changes_nothing_writes_nothing(
        self, client: httpx.AsyncClient, keys: Keys
    ) -> None:
        bank_id, bank = await institution(client, keys)
        etag = await _etag(client, bank_id)
        for body in ({}, {"open_data_consent": False}):
            response = await _patch(client, bank_id, body, bank, etag)
            assert response.status_code == 200 and response.headers["etag"] == etag
        assert [e["action"] for e in await _events(client, keys, bank_id)] == ["create"]

    async def test_unknown_id_is_404_for_the_admin(
        self, client: httpx.AsyncClient, keys: Keys
    ) -> None:
        response = await client.patch(
            f"{BASE}/00000000-0000-0000-0000-000000000000",
            json={"open_data_consent": True},
            headers={**await keys.admin(), "If-Match": "*"},
        )
        assert response.status_code == 404
        assert response.headers["content-type"] == PROBLEM
        assert response.json()["code"] == "institution_not_found"


class TestInstitutionOwnConsent:
    async def test_the_institution_gives_and_withdraws_its_consent(
        self, client: httpx.AsyncClient, keys: Keys
    ) -> None:
        bank_id, bank = await institution(client, keys)
        given = await _ok(await _patch(client, bank_id, {"open_data_consent": True}, bank))
        assert given["open_data_consent"] is True
        withdrawn = await _ok(await _patch(client, bank_id, {"open_data_consent": False}, bank))
        assert withdrawn["open_data_consent"] is False
        assert (await _ok(await client.get(f"{BASE}/{bank_id}")))["open_data_consent"] is False

    async def test_the_institution_cannot_change_its_name_or_type(
        self, client: httpx.AsyncClient, keys: Keys
    ) -> None:
        bank_id, bank = await institution(client, keys, name="湖州银行")
        before = await _ok(await client.get(f"{BASE}/{bank_id}"))
        for body in (
            {"name": "别名银行"},
            {"type": "fund"},
            {"type": "fund", "open_data_consent": True},
        ):
            response = await _patch(client, bank_id, body, bank)
            assert response.status_code == 403, body
            assert response.headers["content-type"] == PROBLEM
            problem = response.json()
            assert problem["code"] == "admin_only_fields"
            sent = {k for k in body if k != "open_data_consent"}
            assert {tuple(e["loc"]) for e in problem["errors"]} == {("body", k) for k in sent}
        assert await _ok(await client.get(f"{BASE}/{bank_id}")) == before

    async def test_other_keys_may_not_change_it(
        self, client: httpx.AsyncClient, keys: Keys
    ) -> None:
        bank_id, _ = await institution(client, keys)
        _, other_bank = await institution(client, keys, name="他行")
        body = {"open_data_consent": True}
        for headers, status, code in (
            ({}, 401, "unauthorized"),
            (await keys.region("440304"), 403, "wrong_role"),
            (await keys.reviewer("44"), 403, "wrong_role"),
            (other_bank, 403, "not_your_institution"),
        ):
            response = await _patch(client, bank_id, body, headers)
            assert response.status_code == status, response.text
            assert response.headers["content-type"] == PROBLEM
            if status == 403:
                assert response.json()["code"] == code
        # another institution's key is refused alike for an id that does not exist
        missing = await client.patch(
            f"{BASE}/00000000-0000-0000-0000-000000000000",
            json=body,
            headers={**other_bank, "If-Match": "*"},
        )
        assert missing.status_code == 403
        assert (await _ok(await client.get(f"{BASE}/{bank_id}")))["open_data_consent"] is False
        assert [e["action"] for e in await _events(client, keys, bank_id)] == ["create"]


class TestRefusedBodies:
    async def test_uscc_read_only_and_unknown_fields_are_422(
        self, client: httpx.AsyncClient, keys: Keys
    ) -> None:
        bank_id, bank = await institution(client, keys)
        before = await _ok(await client.get(f"{BASE}/{bank_id}"))
        admin = await keys.admin()
        for headers in (admin, bank):
            for field, value in (
                ("uscc", make_uscc()),
                ("id", "00000000-0000-0000-0000-000000000001"),
                ("created_at", "2020-01-01T00:00:00Z"),
                ("consent", True),
            ):
                response = await _patch(client, bank_id, {field: value}, headers)
                assert response.status_code == 422, (field, response.text)
                assert response.headers["content-type"] == PROBLEM
                assert response.json()["errors"][0]["loc"] == ["body", field]
        assert await _ok(await client.get(f"{BASE}/{bank_id}")) == before

    async def test_nulls_and_bad_values_are_422(
        self, client: httpx.AsyncClient, keys: Keys
    ) -> None:
        bank_id, _ = await institution(client, keys)
        admin = await keys.admin()
        for body, field in (
            ({"name": None}, "name"),
            ({"type": None}, "type"),
            ({"open_data_consent": None}, "open_data_consent"),
            ({"name": ""}, "name"),
            ({"type": "casino"}, "type"),
            ({"open_data_consent": "perhaps"}, "open_data_consent"),
        ):
            response = await _patch(client, bank_id, body, admin)
            assert response.status_code == 422, (body, response.text)
            assert response.headers["content-type"] == PROBLEM
            assert response.json()["errors"][0]["loc"] == ["body", field]


class TestPreconditions:
    async def test_if_match_is_required(self, client: httpx.AsyncClient, keys: Keys) -> None:
        bank_id, bank = await institution(client, keys)
        response = await client.patch(
            f"{BASE}/{bank_id}", json={"open_data_consent": True}, headers=bank
        )
        assert response.status_code == 428
        assert response.json()["code"] == "if_match_required"

    async def test_a_stale_etag_is_412_and_changes_nothing(
        self, client: httpx.AsyncClient, keys: Keys
    ) -> None:
        bank_id, bank = await institution(client, keys)
        stale = await _etag(client, bank_id)
        admin = await keys.admin()
        await _ok(await _patch(client, bank_id, {"name": "改名银行"}, admin, stale))
        response = await _patch(client, bank_id, {"open_data_consent": True}, bank, stale)
        assert response.status_code == 412
        assert response.headers["content-type"] == PROBLEM
        assert response.json()["code"] == "stale_etag"
        current = await _etag(client, bank_id)
        assert response.headers["etag"] == current != stale
        assert (await _ok(await client.get(f"{BASE}/{bank_id}")))["open_data_consent"] is False
        await _ok(await _patch(client, bank_id, {"open_data_consent": True}, bank, current))

    async def test_of_two_writes_on_one_etag_at_once_one_wins(
        self, client: httpx.AsyncClient, keys: Keys
    ) -> None:
        bank_id, bank = await institution(client, keys)
        etag = await _etag(client, bank_id)
        admin = await keys.admin()
        answers = await asyncio.gather(
            _patch(client, bank_id, {"open_data_consent": True}, bank, etag),
            _patch(client, bank_id, {"name": "同时改名"}, admin, etag),
        )
        assert sorted(a.status_code for a in answers) == [200, 412]
        won = next(a for a in answers if a.status_code == 200).json()
        assert await _ok(await client.get(f"{BASE}/{bank_id}")) == won
        assert len(await _events(client, keys, bank_id)) == 2

    async def test_if_none_match_is_304_until_a_change(
        self, client: httpx.AsyncClient, keys: Keys
    ) -> None:
        bank_id, bank = await institution(client, keys)
        one = f"{BASE}/{bank_id}"
        etag = await _etag(client, bank_id)
        listed = await client.get(BASE)
        list_etag = listed.headers["etag"]
        for url, tag in ((one, etag), (BASE, list_etag)):
            again = await client.get(url, headers={"If-None-Match": tag})
            assert again.status_code == 304 and again.content == b""
        # every caller reads the same institution, so one ETag serves the PATCH of any key
        assert (await client.get(one, headers=bank)).headers["etag"] == etag
        await _ok(await _patch(client, bank_id, {"open_data_consent": True}, bank, etag))
        fresh = await client.get(one, headers={"If-None-Match": etag})
        assert fresh.status_code == 200 and fresh.json()["open_data_consent"] is True
        assert fresh.headers["etag"] != etag
        fresh_list = await client.get(BASE, headers={"If-None-Match": list_etag})
        assert fresh_list.status_code == 200
        assert fresh_list.json()["items"][0]["open_data_consent"] is True


# ---- open data ------------------------------------------------------------------------------


async def _financed(
    client: httpx.AsyncClient, keys: Keys, bank: dict[str, str], name: str
) -> dict[str, Any]:
    """A library project of Futian that ``bank`` financed (signed, and one disbursement)."""
    futian = await keys.region("440304")
    project = await in_library(client, keys, futian, name=name)
    loan = await product(client, bank)
    offer = await _ok(
        await client.post(
            "/api/v1/engagements",
            json={
                "project_id": project["id"],
                "product_id": loan["id"],
                "amount": "3000000.00",
                "annual_rate": "3.2",
                "tenor_months": 36,
            },
            headers=bank,
        ),
        201,
    )
    steps = f"/api/v1/engagements/{offer['id']}/transitions"
    await _ok(await client.post(steps, json={"action": "accept"}, headers=futian))
    await _ok(await client.post(steps, json={"action": "contact"}, headers=bank))
    signing = {
        "action": "financed",
        "amount": "3000000.00",
        "annual_rate": "3.1",
        "date": (TODAY - timedelta(days=20)).isoformat(),
    }
    await _ok(await client.post(steps, json=signing, headers=bank))
    await _ok(
        await client.post(
            f"/api/v1/engagements/{offer['id']}/disbursements",
            json={"amount": "1000000.00", "date": (TODAY - timedelta(days=10)).isoformat()},
            headers=bank,
        ),
        201,
    )
    return project


def _activities(response: httpx.Response) -> dict[str, etree._Element]:
    assert response.status_code == 200, response.text
    root = check(response.content)
    return {a.findtext("iati-identifier"): a for a in root.iter("iati-activity")}


def _providers(activity: etree._Element) -> list[str | None]:
    """The provider named on each transaction (None: none named), and the funding orgs."""
    named = [t.find("provider-org") for t in activity.findall("transaction")]
    assert len(named) == 2  # the commitment and the disbursement
    funding = [o.get("ref") for o in activity.findall("participating-org[@role='1']")]
    providers = [None if p is None else p.get("ref") for p in named]
    return [*providers, *funding]


class TestConsentInOpenData:
    async def test_iati_names_the_bank_from_its_consent_on_and_not_after_it_withdraws(
        self, client: httpx.AsyncClient, keys: Keys
    ) -> None:
        bank_id, bank = await institution(client, keys, name="公开银行")
        uscc = (await _ok(await client.get(f"{BASE}/{bank_id}")))["uscc"]
        financed = await _financed(client, keys, bank, "福田屋顶光伏")
        futian = await keys.region("440304")
        untouched = await in_library(client, keys, futian, name="无关项目")
        ref = f"{ORG}-{financed['library_code']}"
        other = f"{ORG}-{untouched['library_code']}"

        first = await client.get(IATI, params={"updated_since": "2000-01-01T00:00:00Z"})
        activities = _activities(first)
        assert set(activities) == {ref, other}
        assert _providers(activities[ref]) == [None, None]
        assert "公开银行" not in first.text and uscc not in first.text
        watermark = first.headers["x-updated-until"]
        stamp = (await _ok(await client.get(f"/api/v1/projects/{financed['id']}")))["updated_at"]

        await _ok(await _patch(client, bank_id, {"open_data_consent": True}, bank))
        named = f"CN-USCI-{uscc}"
        full = await client.get(IATI)
        assert _providers(_activities(full)[ref]) == [named, named, named]
        assert "公开银行" in full.text
        # the feed hands the financed project out again, as it now reads; the other one not
        since = await client.get(IATI, params={"updated_since": watermark})
        fed = _activities(since)
        assert _providers(fed[ref]) == [named, named, named]
        if other in fed:  # a change at the watermark itself may come twice
            other_stamp = (await client.get(f"/api/v1/projects/{untouched['id']}")).json()
            assert datetime.fromisoformat(other_stamp["updated_at"]) >= datetime.fromisoformat(
                watermark
            )
        restamped = await _ok(await client.get(f"/api/v1/projects/{financed['id']}"))
        assert datetime.fromisoformat(restamped["updated_at"]) > datetime.fromisoformat(stamp)
        watermark = since.headers["x-updated-until"]

        # a rename while consenting changes the published name: the feed carries it too
        admin = await keys.admin()
        await _ok(await _patch(client, bank_id, {"name": "公开银行股份"}, admin))
        renamed = await client.get(IATI, params={"updated_since": watermark})
        assert "公开银行股份" in renamed.text and ref in _activities(renamed)
        watermark = renamed.headers["x-updated-until"]

        await _ok(await _patch(client, bank_id, {"open_data_consent": False}, bank))
        after = await client.get(IATI)
        assert _providers(_activities(after)[ref]) == [None, None]
        assert "公开银行" not in after.text and uscc not in after.text
        withdrawn = await client.get(IATI, params={"updated_since": watermark})
        assert _providers(_activities(withdrawn)[ref]) == [None, None]
        assert uscc not in withdrawn.text

    async def test_a_change_open_data_does_not_show_restamps_nothing(
        self, client: httpx.AsyncClient, keys: Keys
    ) -> None:
        bank_id, bank = await institution(client, keys, name="保密银行")
        financed = await _financed(client, keys, bank, "福田风电")
        before = await _ok(await client.get(f"/api/v1/projects/{financed['id']}"))
        admin = await keys.admin()
        # without consent the name is never published: a rename changes no activity
        await _ok(await _patch(client, bank_id, {"name": "保密银行股份", "type": "fund"}, admin))
        after = await _ok(await client.get(f"/api/v1/projects/{financed['id']}"))
        assert after["updated_at"] == before["updated_at"]
        assert after["version"] == before["version"]
