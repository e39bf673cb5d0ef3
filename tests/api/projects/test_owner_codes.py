"""Owners' unified social credit codes (GB 32100-2015) and kinds, through every way in.

Positions 1–2 of a code are the registration authority and the organisation category, both from
the code's 31-character alphabet: a village collective (村级 农村集体经济组织) registered by the
agriculture authorities has ``N2…``. python-stdnum alone refuses those lawful codes; the service
keeps stdnum's checksum and accepts them, and refuses what the standard refuses (a wrong check
character, I/O/S/V/Z anywhere, letters in the region part).
"""

import httpx
import pytest
from fastapi import FastAPI

from tests.api.bulk.helpers import BATCH, IMPORT, item
from tests.api.bulk.test_import import row, to_csv, upload
from tests.conftest import Keys
from tests.factories import PROJECTS, create_project
from tests.factories import project_payload as payload

# A 村级 collective in 浙江省丽水市莲都区 (331102), registered by the agriculture authorities.
COLLECTIVE = "N2331102MF0000001J"
# A 农民专业合作社 registered by market regulation (authority 9, category 3).
COOPERATIVE = "93331102MA0000001J"

REFUSED = [
    ("wrong check character", "N2331102MF0000001K"),
    ("letter O for zero in the category", "NO331102MF0000001J"),
    ("letter S as authority", "S2331102MF0000001J"),
    ("letter in the region part", "N2A31102MF0000001J"),
    ("letter V in the organisation code", "N2331102MV0000001J"),
    ("seventeen characters", "N2331102MF0000001"),
]


def _owner(uscc: str, kind: str = "collective") -> dict[str, str]:
    return {"name": "丽水市莲都区某村股份经济合作社", "uscc": uscc, "type": kind}


class TestOwnerCodes:
    async def test_village_collective_code_is_accepted(
        self, client: httpx.AsyncClient, keys: Keys
    ) -> None:
        region = await keys.region("440304")
        body = await create_project(client, region, owner=_owner(COLLECTIVE))
        assert body["owner"] == _owner(COLLECTIVE)

    async def test_cooperative_owner_kind(self, client: httpx.AsyncClient, keys: Keys) -> None:
        region = await keys.region("440304")
        body = await create_project(client, region, owner=_owner(COOPERATIVE, "cooperative"))
        assert body["owner"]["type"] == "cooperative"
        assert body["owner"]["uscc"] == COOPERATIVE

    async def test_lower_case_and_separators_are_stored_in_the_standard_form(
        self, client: httpx.AsyncClient, keys: Keys
    ) -> None:
        region = await keys.region("440304")
        body = await create_project(client, region, owner=_owner("n2 331102 mf0000001-j"))
        assert body["owner"]["uscc"] == COLLECTIVE

    @pytest.mark.parametrize(("why", "code"), REFUSED)
    async def test_unlawful_codes_are_refused_and_nothing_is_stored(
        self, client: httpx.AsyncClient, keys: Keys, why: str, code: str
    ) -> None:
        region = await keys.region("440304")
        response = await client.post(PROJECTS, json=payload(owner=_owner(code)), headers=region)
        assert response.status_code == 422, why
        assert {(tuple(e["loc"]), e["code"]) for e in response.json()["errors"]} == {
            (("body", "owner", "uscc"), "invalid_uscc")
        }
        assert (await client.get(PROJECTS, headers=region)).json()["items"] == []

    async def test_unknown_owner_kind_is_refused(
        self, client: httpx.AsyncClient, keys: Keys
    ) -> None:
        region = await keys.region("440304")
        response = await client.post(
            PROJECTS, json=payload(owner=_owner(COLLECTIVE, "village")), headers=region
        )
        assert response.status_code == 422

    async def test_batch_takes_the_collective_and_refuses_a_bad_checksum(
        self, client: httpx.AsyncClient, keys: Keys
    ) -> None:
        region = await keys.region("440304")
        items = [item(1, owner=_owner(COLLECTIVE)), item(2, owner=_owner(REFUSED[0][1]))]
        response = await client.post(BATCH, json={"items": items}, headers=region)
        assert response.status_code == 200, response.text
        first, second = response.json()["results"]
        assert first["status"] == "created"
        assert second["status"] == "error"
        assert second["problem"]["errors"][0]["code"] == "invalid_uscc"

    async def test_import_takes_the_collective_and_refuses_a_bad_checksum(
        self, client: httpx.AsyncClient, keys: Keys, app: FastAPI
    ) -> None:
        region = await keys.region("440304")
        rows = [
            row(1, owner_uscc=COLLECTIVE, owner_type="collective"),
            row(2, owner_uscc=COOPERATIVE.lower(), owner_type="cooperative"),
            row(3, owner_uscc=REFUSED[0][1]),
        ]
        response = await client.post(IMPORT, headers=region, **upload(to_csv(rows)))
        assert response.status_code == 200, response.text
        results = response.json()["results"]
        assert [r["status"] for r in results] == ["created", "created", "error"]
        assert results[2]["problem"]["errors"][0]["loc"] == ["file", 4, "owner_uscc"]
        second = (await client.get(f"{PROJECTS}/{results[1]['id']}", headers=region)).json()
        assert second["owner"]["uscc"] == COOPERATIVE
        assert second["owner"]["type"] == "cooperative"


class TestInstitutionCodes:
    async def test_letter_authority_code_is_registered_and_a_bad_one_refused(
        self, client: httpx.AsyncClient, keys: Keys
    ) -> None:
        admin = await keys.admin()
        ok = await client.post(
            "/api/v1/institutions",
            json={"name": "丽水市某村资金互助会", "uscc": COLLECTIVE.lower(), "type": "other"},
            headers=admin,
        )
        assert ok.status_code == 201, ok.text
        assert ok.json()["uscc"] == COLLECTIVE
        bad = await client.post(
            "/api/v1/institutions",
            json={"name": "x", "uscc": "NO331102MF0000001J", "type": "other"},
            headers=admin,
        )
        assert bad.status_code == 422
        assert bad.json()["code"] == "invalid_uscc"
