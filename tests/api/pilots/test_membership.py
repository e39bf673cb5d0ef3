"""A project belongs to a pilot by its pilot_id (app/services/pilot_membership.py), and a pilot
key's reach follows it.

The case that started it: 500109 北碚区 lies only partly in 重庆两江新区. A project there belongs to
两江 only when it says so; otherwise the 两江 key neither reads its contact, nor edits, nor
withdraws it, and 两江's figures leave it out.
"""

import uuid
from typing import Any

import httpx
from fastapi import FastAPI

from app.models.project import ProjectStatus
from tests.conftest import Keys
from tests.factories import (
    FUTIAN_PILOT,
    LIANGJIANG_PILOT,
    MIYUN_PILOT,
    PROJECTS,
    TIANFU_PILOT,
    create_project,
    library_project,
    move_project,
    project_payload,
)

PILOTS = "/api/v1/pilots"
BATCH = "/api/v1/projects/batch"
BAOTOU_PILOT = "88302500-99bf-583b-a4af-36ed23763840"  # 内蒙古自治区包头市, 150200


def beibei(**overrides: Any) -> dict[str, Any]:
    """A project in 500109 北碚区 (its owner a 重庆 company)."""
    return {"region_code": "500109", "name": "北碚分布式光伏", **overrides}


async def evaluated(client: httpx.AsyncClient, admin: dict[str, str], pilot: str) -> int:
    body = (await client.get(f"{PILOTS}/{pilot}/evaluation", headers=admin)).json()
    return int(body["totals"]["projects"])


async def overview_count(client: httpx.AsyncClient, admin: dict[str, str], pilot: str) -> int:
    body = (await client.get("/api/v1/stats/overview", headers=admin)).json()
    return next(int(g["projects"]) for g in body["by_pilot"] if g["key"] == pilot)


async def patch(
    client: httpx.AsyncClient,
    admin: dict[str, str],
    headers: dict[str, str],
    project: dict[str, Any],
    **body: Any,
) -> httpx.Response:
    """PATCH as ``headers`` with the current ETag (read by the admin, who sees every project)."""
    current = await client.get(f"{PROJECTS}/{project['id']}", headers=admin)
    etag = current.headers["etag"]
    return await client.patch(
        f"{PROJECTS}/{project['id']}", json=body, headers={**headers, "If-Match": etag}
    )


class TestPartialCodeLeastPrivilege:
    async def test_beibei_project_without_pilot_is_out_of_the_liangjiang_keys_reach(
        self, client: httpx.AsyncClient, keys: Keys
    ) -> None:
        admin = await keys.admin()
        beibei_office = await keys.region("500109")
        liangjiang = await keys.region(f"pilot:{LIANGJIANG_PILOT}")
        draft = await create_project(client, beibei_office, **beibei())
        assert draft["pilot_id"] is None
        # A draft: the 两江 key does not see it at all.
        assert (
            await client.get(f"{PROJECTS}/{draft['id']}", headers=liangjiang)
        ).status_code == 404
        assert (await patch(client, admin, liangjiang, draft, name="taken")).status_code == 404
        withdraw = await client.post(
            f"{PROJECTS}/{draft['id']}/transitions",
            json={"action": "withdraw"},
            headers={**liangjiang, "If-Match": f'"{draft["version"]}"'},
        )
        assert withdraw.status_code == 404
        listed = (await client.get(PROJECTS, headers=liangjiang)).json()["items"]
        assert draft["id"] not in {p["id"] for p in listed}

        # In the library: public fields only, no contact, no edit.
        reviewer = await keys.reviewer("50")
        project = await move_project(client, beibei_office, draft, "submit")
        project = await move_project(client, reviewer, project, "recommend")
        project = await move_project(client, admin, project, "approve")
        seen = (await client.get(f"{PROJECTS}/{project['id']}", headers=liangjiang)).json()
        assert seen["contact"] is None
        refused = await patch(client, admin, liangjiang, project, financing_secured="1.00")
        assert refused.status_code == 403
        assert refused.json()["code"] == "not_project_owner"
        history = await client.get(f"{PROJECTS}/{project['id']}/history", headers=liangjiang)
        assert history.status_code == 403
        # The district's own office keeps it whole.
        own = (await client.get(f"{PROJECTS}/{project['id']}", headers=beibei_office)).json()
        assert own["contact"]["name"] == "Li Ming"
        # Not counted for 两江.
        assert await evaluated(client, admin, LIANGJIANG_PILOT) == 0
        assert await overview_count(client, admin, LIANGJIANG_PILOT) == 0

    async def test_beibei_project_that_chose_liangjiang_is_its_and_counts(
        self, client: httpx.AsyncClient, keys: Keys
    ) -> None:
        admin = await keys.admin()
        beibei_office = await keys.region("500109")
        liangjiang = await keys.region(f"pilot:{LIANGJIANG_PILOT}")
        chosen = await create_project(client, beibei_office, **beibei(pilot_id=LIANGJIANG_PILOT))
        assert chosen["pilot_id"] == LIANGJIANG_PILOT
        other = await create_project(client, beibei_office, **beibei(name="其他"))

        read = (await client.get(f"{PROJECTS}/{chosen['id']}", headers=liangjiang)).json()
        assert read["contact"]["name"] == "Li Ming"
        edited = await patch(client, admin, liangjiang, chosen, name="两江北碚光伏")
        assert edited.status_code == 200, edited.text
        listed = (await client.get(PROJECTS, headers=liangjiang)).json()["items"]
        assert [p["id"] for p in listed] == [chosen["id"]]
        assert await evaluated(client, admin, LIANGJIANG_PILOT) == 1
        assert await overview_count(client, admin, LIANGJIANG_PILOT) == 1
        withdrawn = await move_project(client, liangjiang, edited.json(), "withdraw")
        assert withdrawn["status"] == "withdrawn"
        assert other["pilot_id"] is None

    async def test_a_full_code_is_the_pilot_keys_whole(
        self, client: httpx.AsyncClient, keys: Keys, app: FastAPI
    ) -> None:
        """500157 两江新区 is a full code (since 2025-11-06): the 两江 key holds its projects."""
        admin = await keys.admin()
        liangjiang = await keys.region(f"pilot:{LIANGJIANG_PILOT}")
        project_id = await library_project(
            app, region_code="500157", status=ProjectStatus.draft, pilot_id=None
        )
        project = (await client.get(f"{PROJECTS}/{project_id}", headers=liangjiang)).json()
        assert project["contact"]["name"] == "李工"
        assert (await patch(client, admin, liangjiang, project, name="改名")).status_code == 200


class TestPilotIdIsSet:
    async def test_a_pilot_key_creates_its_pilots_projects_partial_codes_included(
        self, client: httpx.AsyncClient, keys: Keys
    ) -> None:
        liangjiang = await keys.region(f"pilot:{LIANGJIANG_PILOT}")
        for code in ("500157", "500109"):
            project = await create_project(client, liangjiang, region_code=code)
            assert project["pilot_id"] == LIANGJIANG_PILOT, code
        outside = await client.post(
            PROJECTS, json=project_payload(region_code="500103"), headers=liangjiang
        )
        assert outside.status_code == 422
        assert [e["code"] for e in outside.json()["errors"]] == ["region_out_of_scope"]

    async def test_a_project_in_a_full_code_gets_its_pilot_unless_it_names_one(
        self, client: httpx.AsyncClient, keys: Keys
    ) -> None:
        futian_office = await keys.region("440304")
        project = await create_project(client, futian_office, region_code="440304")
        assert project["pilot_id"] == FUTIAN_PILOT
        elsewhere = await create_project(client, await keys.region("440305"), region_code="440305")
        assert elsewhere["pilot_id"] is None

    async def test_the_list_filters_on_pilot_id(
        self, client: httpx.AsyncClient, keys: Keys
    ) -> None:
        admin = await keys.admin()
        beibei_office = await keys.region("500109")
        chosen = await create_project(client, beibei_office, **beibei(pilot_id=LIANGJIANG_PILOT))
        await create_project(client, beibei_office, **beibei(name="不属试点"))
        futian = await create_project(client, await keys.region("440304"))
        for pilot, expected in ((LIANGJIANG_PILOT, [chosen["id"]]), (FUTIAN_PILOT, [futian["id"]])):
            listed = await client.get(PROJECTS, params={"pilot_id": pilot}, headers=admin)
            assert [p["id"] for p in listed.json()["items"]] == expected
        none = await client.get(PROJECTS, params={"pilot_id": MIYUN_PILOT}, headers=admin)
        assert none.json()["items"] == []
        bad = await client.get(PROJECTS, params={"pilot_id": "两江"}, headers=admin)
        assert bad.status_code == 422
        assert bad.json()["errors"][0]["loc"] == ["query", "pilot_id"]


class TestPilotIdRefused:
    async def test_each_bad_pilot_id_is_a_422_with_its_code_and_nothing_is_stored(
        self, client: httpx.AsyncClient, keys: Keys
    ) -> None:
        admin = await keys.admin()
        disqualified = await client.post(
            f"{PILOTS}/{BAOTOU_PILOT}/transitions",
            json={"action": "disqualify", "reason": "未通过评估"},
            headers=admin,
        )
        assert disqualified.status_code == 200
        beibei_office = await keys.region("500109")
        baotou_office = await keys.region("150200")
        cases = [
            (beibei_office, beibei(pilot_id=str(uuid.uuid4())), "unknown_pilot"),
            (beibei_office, beibei(pilot_id=FUTIAN_PILOT), "pilot_not_covering_region"),
            (
                baotou_office,
                {"region_code": "150202", "pilot_id": BAOTOU_PILOT},
                "pilot_disqualified",
            ),
            (
                await keys.region(f"pilot:{LIANGJIANG_PILOT}"),
                {"region_code": "500157", "pilot_id": FUTIAN_PILOT},
                "pilot_out_of_scope",
            ),
        ]
        for headers, body, code in cases:
            response = await client.post(PROJECTS, json=project_payload(**body), headers=headers)
            assert response.status_code == 422, code
            problem = response.json()
            assert problem["code"] == "validation_error"
            assert [(e["loc"], e["code"]) for e in problem["errors"]] == [
                (["body", "pilot_id"], code)
            ]
        assert (await client.get(PROJECTS, headers=admin)).json()["items"] == []

    async def test_a_disqualified_pilot_takes_no_new_members_from_its_full_codes(
        self, client: httpx.AsyncClient, keys: Keys
    ) -> None:
        admin = await keys.admin()
        await client.post(
            f"{PILOTS}/{BAOTOU_PILOT}/transitions",
            json={"action": "disqualify", "reason": "未通过评估"},
            headers=admin,
        )
        project = await create_project(client, await keys.region("150202"), region_code="150202")
        assert project["pilot_id"] is None

    async def test_a_patch_naming_a_pilot_not_covering_the_region_is_refused(
        self, client: httpx.AsyncClient, keys: Keys
    ) -> None:
        admin = await keys.admin()
        beibei_office = await keys.region("500109")
        project = await create_project(client, beibei_office, **beibei())
        refused = await patch(client, admin, beibei_office, project, pilot_id=MIYUN_PILOT)
        assert refused.status_code == 422
        assert refused.json()["errors"][0]["code"] == "pilot_not_covering_region"
        joined = await patch(client, admin, beibei_office, project, pilot_id=LIANGJIANG_PILOT)
        assert joined.status_code == 200
        assert joined.json()["pilot_id"] == LIANGJIANG_PILOT


class TestPilotIdInBatches:
    async def test_batch_items_get_and_are_refused_pilots_as_single_creates(
        self, client: httpx.AsyncClient, keys: Keys
    ) -> None:
        liangjiang = await keys.region(f"pilot:{LIANGJIANG_PILOT}")
        items = [
            project_payload(external_ref="LJ-1", region_code="500157"),
            project_payload(external_ref="LJ-2", region_code="500109"),
            project_payload(external_ref="LJ-3", region_code="500109", pilot_id=FUTIAN_PILOT),
        ]
        response = await client.post(BATCH, json={"items": items}, headers=liangjiang)
        assert response.status_code == 200, response.text
        results = response.json()["results"]
        assert [r["status"] for r in results] == ["created", "created", "error"]
        # Another pilot's project, in a code the key holds only for its own pilot's projects.
        assert [(e["loc"], e["code"]) for e in results[2]["problem"]["errors"]] == [
            (["body", "items", 2, "region_code"], "region_out_of_scope"),
            (["body", "items", 2, "pilot_id"], "pilot_out_of_scope"),
        ]
        for result in results[:2]:
            project = (await client.get(f"{PROJECTS}/{result['id']}", headers=liangjiang)).json()
            assert project["pilot_id"] == LIANGJIANG_PILOT
        # The same items again: nothing changed (the pilot is what the key gave them).
        again = await client.post(BATCH, json={"items": items[:2]}, headers=liangjiang)
        assert [r["status"] for r in again.json()["results"]] == ["unchanged", "unchanged"]

    async def test_a_region_names_a_pilot_in_a_batch_and_an_unknown_one_is_an_item_error(
        self, client: httpx.AsyncClient, keys: Keys
    ) -> None:
        beibei_office = await keys.region("500109")
        items = [
            project_payload(external_ref="BB-1", **beibei(pilot_id=LIANGJIANG_PILOT)),
            project_payload(external_ref="BB-2", **beibei(pilot_id=str(uuid.uuid4()))),
            project_payload(external_ref="BB-3", **beibei()),
        ]
        results = (await client.post(BATCH, json={"items": items}, headers=beibei_office)).json()[
            "results"
        ]
        assert [r["status"] for r in results] == ["created", "error", "created"]
        assert results[1]["problem"]["errors"][0]["code"] == "unknown_pilot"
        pilots = [
            (await client.get(f"{PROJECTS}/{results[i]['id']}", headers=beibei_office)).json()[
                "pilot_id"
            ]
            for i in (0, 2)
        ]
        assert pilots == [LIANGJIANG_PILOT, None]


class TestPilotWithPartialCodesOnly:
    async def test_tianfu_key_holds_only_its_own_projects(
        self, client: httpx.AsyncClient, keys: Keys, app: FastAPI
    ) -> None:
        """天府新区 covers six districts, each in part: its key holds no district whole."""
        tianfu = await keys.region(f"pilot:{TIANFU_PILOT}")
        own = await create_project(client, tianfu, region_code="510116")
        assert own["pilot_id"] == TIANFU_PILOT
        shuangliu = await library_project(
            app, region_code="510116", status=ProjectStatus.draft, pilot_id=None
        )
        listed = (await client.get(PROJECTS, headers=tianfu)).json()["items"]
        assert [p["id"] for p in listed] == [own["id"]]
        assert (await client.get(f"{PROJECTS}/{shuangliu}", headers=tianfu)).status_code == 404
        overview = (await client.get("/api/v1/stats/overview", headers=tianfu)).json()
        assert overview["coverage"] == "library_and_own"
