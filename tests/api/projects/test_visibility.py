"""Every project endpoint for every actor: who sees what, who may change what.

Projects in every status in Shenzhen Futian (440304, province 44), and a draft and a library
project in Hangzhou (330102). Each actor calls every endpoint on every project; the expected
answer comes from the documented visibility and lifecycle rules, written out independently of
the service's code below.
Writes are sent with a stale If-Match: an allowed write then answers 412 and changes nothing,
so the matrix stays read-only while still proving that authorisation let the call through.
"""

from dataclasses import dataclass
from typing import Any

import httpx
from fastapi import FastAPI

from tests.conftest import Keys
from tests.factories import PROJECTS as BASE
from tests.factories import STEPS, institution_headers, project_in

STATUSES = list(STEPS)
ACTIONS = ["submit", "recommend", "approve", "return", "reject", "withdraw", "exit"]
SOURCES = {
    "submit": {"draft", "returned"},
    "recommend": {"submitted"},
    "approve": {"recommended"},
    "return": {"submitted", "recommended"},
    "reject": {"submitted", "recommended"},
    "withdraw": {"draft", "returned"},
    "exit": {"in_library"},
}
EDITABLE = {"draft", "returned", "in_library"}


@dataclass(frozen=True)
class Actor:
    name: str
    role: str | None
    prefix: str | None  # the region prefix the key covers (province for reviewers)


ACTORS = [
    Actor("admin", "admin", None),
    Actor("reviewer_in", "reviewer", "44"),
    Actor("reviewer_out", "reviewer", "33"),
    Actor("region_in", "region", "440304"),
    Actor("region_out", "region", "3301"),
    Actor("institution", "institution", None),
    Actor("anonymous", None, None),
]


def in_scope(actor: Actor, region_code: str) -> bool:
    return actor.prefix is not None and region_code.startswith(actor.prefix)


def visible(actor: Actor, project: dict[str, Any]) -> bool:
    status, code = project["status"], project["region_code"]
    if actor.role == "admin" or status in ("in_library", "exited"):
        return True  # exited projects stay public records with their final status
    if actor.role == "region":
        return in_scope(actor, code)
    if actor.role == "reviewer":
        # The matrix's withdrawn project was withdrawn as a draft: never submitted, never seen.
        return in_scope(actor, code) and status not in ("draft", "withdrawn")
    return False


def full(actor: Actor, project: dict[str, Any]) -> bool:
    if actor.role == "admin":
        return True
    if actor.role in ("region", "reviewer"):
        return visible(actor, project) and in_scope(actor, project["region_code"])
    return False


def may(actor: Actor, action: str, project: dict[str, Any]) -> bool:
    status, code = project["status"], project["region_code"]
    if action in ("submit", "withdraw"):
        return actor.role == "region" and in_scope(actor, code)
    if action == "recommend":
        return actor.role == "reviewer" and in_scope(actor, code)
    if action == "approve":
        return actor.role == "admin"
    if action in ("return", "reject"):
        return actor.role == "admin" or (
            actor.role == "reviewer" and in_scope(actor, code) and status == "submitted"
        )
    return actor.role == "admin" or (actor.role == "region" and in_scope(actor, code))


def denied(actor: Actor) -> int:
    return 401 if actor.role is None else 403


class TestEveryEndpointForEveryActor:
    async def test_visibility_matrix(
        self, client: httpx.AsyncClient, keys: Keys, app: FastAPI
    ) -> None:
        futian = await keys.region("440304")
        hangzhou = await keys.region("330100")
        projects = [await project_in(client, keys, s, futian) for s in STATUSES]
        for status in ("draft", "in_library"):
            projects.append(await project_in(client, keys, status, hangzhou, region_code="330102"))

        headers: dict[str, dict[str, str]] = {
            "admin": await keys.admin(),
            "reviewer_in": await keys.reviewer("44"),
            "reviewer_out": await keys.reviewer("33"),
            "region_in": await keys.region("440304"),
            "region_out": await keys.region("330100"),
            "institution": await institution_headers(client, keys),
            "anonymous": {},
        }
        checks = 0
        for actor in ACTORS:
            auth = headers[actor.name]

            # GET /projects: exactly the visible projects, contact only in full view.
            listed = await client.get(BASE, params={"limit": 200}, headers=auth)
            assert listed.status_code == 200
            items = {p["id"]: p for p in listed.json()["items"]}
            expected_ids = {p["id"] for p in projects if visible(actor, p)}
            assert set(items) == expected_ids, actor.name
            checks += 1
            for p in projects:
                if p["id"] in items:
                    has_contact = items[p["id"]]["contact"] is not None
                    assert has_contact == full(actor, p), (actor.name, p["status"])
                    checks += 1

            # GET /audit: the administrator everything, a region or reviewer the events of the
            # projects in its scope (every status), nobody else. GET /audit/head: any key.
            trail = await client.get("/api/v1/audit", params={"limit": 200}, headers=auth)
            if actor.role is None:
                assert trail.status_code == 401, actor.name
            elif actor.role == "institution":
                assert trail.status_code == 403, actor.name
            else:
                assert trail.status_code == 200, actor.name
                objects = {e["object_id"] for e in trail.json()["items"]}
                if actor.role == "admin":
                    assert objects >= {p["id"] for p in projects}
                else:
                    expected_objects = {
                        p["id"] for p in projects if in_scope(actor, p["region_code"])
                    }
                    assert objects == expected_objects, actor.name
            checks += 1
            head = await client.get("/api/v1/audit/head", headers=auth)
            assert head.status_code == (401 if actor.role is None else 200), actor.name
            checks += 1

            for p in projects:
                url = f"{BASE}/{p['id']}"
                where = (actor.name, p["status"], p["region_code"])
                is_visible = visible(actor, p)

                # GET /projects/{id}
                got = await client.get(url, headers=auth)
                if is_visible:
                    assert got.status_code == 200, where
                    assert (got.json()["contact"] is not None) == full(actor, p), where
                    assert got.json()["contact"] is None or got.json()["contact"]["name"]
                else:
                    assert got.status_code == 404, where
                    assert got.json()["code"] == "project_not_found"
                checks += 1

                # GET /projects/{id}/history
                history = await client.get(f"{url}/history", headers=auth)
                if actor.role is None:
                    # History is never the public's: 401 for any project, seen or not.
                    assert history.status_code == 401, where
                elif not is_visible:
                    assert history.status_code == 404, where
                elif full(actor, p):
                    assert history.status_code == 200, where
                    assert history.json()["items"][0]["action"] == "create"
                    assert history.json()["items"][-1]["to_status"] == p["status"]
                else:
                    assert history.status_code == denied(actor), where
                checks += 1

                # PATCH /projects/{id} (stale If-Match: allowed → 412, nothing changes)
                patched = await client.patch(
                    url,
                    json={"construction_status": "under_construction"},
                    headers={**auth, "If-Match": '"999"'},
                )
                if not is_visible:
                    expected = 404
                elif actor.role == "region" and in_scope(actor, p["region_code"]):
                    expected = 412
                else:
                    expected = denied(actor)
                assert patched.status_code == expected, (*where, patched.text)
                checks += 1

                # POST /projects/{id}/transitions, every action
                for action in ACTIONS:
                    moved = await client.post(
                        f"{url}/transitions",
                        json={
                            "action": action,
                            "reason": "Matrix check.",
                            **({"reason_code": "completed"} if action == "exit" else {}),
                        },
                        headers={**auth, "If-Match": '"999"'},
                    )
                    if not is_visible:
                        expected = 404
                    elif actor.role is None:  # no transition is the public's: 401 before 409
                        expected = 401
                    elif p["status"] not in SOURCES[action]:
                        expected = 409
                    elif may(actor, action, p):
                        expected = 412
                    else:
                        expected = denied(actor)
                    assert moved.status_code == expected, (*where, action, moved.text)
                    if expected == 409:
                        assert moved.json()["code"] == "invalid_transition"
                        allowed = moved.json()["allowed_actions"]
                        assert set(allowed) == {a for a in ACTIONS if p["status"] in SOURCES[a]}
                    checks += 1

        # Nothing above changed anything.
        admin = headers["admin"]
        for p in projects:
            now = (await client.get(f"{BASE}/{p['id']}", headers=admin)).json()
            assert now["version"] == p["version"] and now["status"] == p["status"]
        assert checks == CHECKS, checks


# 7 actors x (1 list + audit + audit head + 10 projects x (get, history, patch, 7 actions)) + one
# contact check per listed item: admin 10, reviewer_in 7, reviewer_out 3, region_in 9,
# region_out 4, institution 3, anonymous 3 (the public sees the two library projects and the
# exited one).
LISTED_ITEMS = 10 + 7 + 3 + 9 + 4 + 3 + 3
CHECKS = 7 * (1 + 2 + 10 * 10) + LISTED_ITEMS
