"""Region keys scoped to a pilot (pilot:<id>) cover the pilot's codes on every project endpoint."""

import httpx

from tests.conftest import Keys
from tests.factories import FUTIAN_PILOT, MIYUN_PILOT
from tests.factories import PROJECTS as BASE
from tests.factories import create_project as create
from tests.factories import move_project as move
from tests.factories import project_payload as payload


class TestPilotScopedKeys:
    async def test_two_pilots_sharing_no_code_never_see_each_others_drafts(
        self, client: httpx.AsyncClient, keys: Keys
    ) -> None:
        futian = await keys.region(f"pilot:{FUTIAN_PILOT}")
        miyun = await keys.region(f"pilot:{MIYUN_PILOT}")
        futian_draft = await create(client, futian, region_code="440304")
        miyun_draft = await create(client, miyun, region_code="110118", name="Miyun reservoir")

        for own, other_draft, own_draft in (
            (futian, miyun_draft, futian_draft),
            (miyun, futian_draft, miyun_draft),
        ):
            assert (await client.get(f"{BASE}/{own_draft['id']}", headers=own)).status_code == 200
            for path in ("", "/history"):
                response = await client.get(f"{BASE}/{other_draft['id']}{path}", headers=own)
                assert response.status_code == 404, path
            listed = (await client.get(BASE, headers=own)).json()["items"]
            assert [p["id"] for p in listed] == [own_draft["id"]]
            patch = await client.patch(
                f"{BASE}/{other_draft['id']}",
                json={"name": "taken over"},
                headers=own | {"If-Match": f'"{other_draft["version"]}"'},
            )
            assert patch.status_code == 404

    async def test_pilot_key_cannot_create_outside_its_codes(
        self, client: httpx.AsyncClient, keys: Keys
    ) -> None:
        futian = await keys.region(f"pilot:{FUTIAN_PILOT}")
        response = await client.post(BASE, json=payload(region_code="110118"), headers=futian)
        assert response.status_code == 422
        assert response.json()["errors"][0]["code"] == "region_out_of_scope"
        assert (await client.get(BASE, headers=futian)).json()["items"] == []

    async def test_pilot_key_submits_its_own_project(
        self, client: httpx.AsyncClient, keys: Keys
    ) -> None:
        futian = await keys.region(f"pilot:{FUTIAN_PILOT}")
        project = await create(client, futian, region_code="440304")
        submitted = await move(client, futian, project, "submit")
        assert submitted["status"] == "submitted"
