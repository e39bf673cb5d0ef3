"""Project payloads and shortcuts shared by the project tests."""

import uuid
from typing import Any

import httpx
from fastapi import FastAPI

from app.models import Institution, InstitutionType
from tests.conftest import Keys

BASE = "/api/v1/projects"
USCC = "9144030071526726XG"


def payload(**overrides: Any) -> dict[str, Any]:
    """A valid mitigation project in Shenzhen Futian (440304)."""
    body: dict[str, Any] = {
        "external_ref": None,
        "name": "Futian rooftop solar",
        "summary": "Distributed photovoltaics on public buildings.",
        "region_code": "440304",
        "owner": {"name": "Futian Energy Co.", "uscc": USCC, "type": "state_owned"},
        "objective": "mitigation",
        "categories": ["M2"],
        "industry_code": "D4416",
        "nature": "new_build",
        "construction_status": "planning",
        "start_date": "2027-01-01",
        "end_date": "2028-06-30",
        "total_investment": "25000000.00",
        "financing_need": "12500000.00",
        "financing_secured": "0.00",
        "financing_types": ["loan", "leasing"],
        "tenor_months": 120,
        "annual_emission_reduction_tco2e": 8200.5,
        "contact": {"name": "Li Ming", "phone": "+86 755 0000 0000", "email": "li@example.cn"},
    }
    body.update(overrides)
    return body


async def create(
    client: httpx.AsyncClient, headers: dict[str, str], **overrides: Any
) -> dict[str, Any]:
    response = await client.post(BASE, json=payload(**overrides), headers=headers)
    assert response.status_code == 201, response.text
    data: dict[str, Any] = response.json()
    return data


async def move(
    client: httpx.AsyncClient,
    headers: dict[str, str],
    project: dict[str, Any],
    action: str,
    reason: str | None = None,
    expect: int = 200,
) -> dict[str, Any]:
    """Apply a transition with the project's current ETag; returns the new project."""
    current = await client.get(f"{BASE}/{project['id']}", headers=headers)
    etag = current.headers.get("etag") or f'"{project["version"]}"'
    body: dict[str, Any] = {"action": action}
    if reason is not None:
        body["reason"] = reason
    response = await client.post(
        f"{BASE}/{project['id']}/transitions", json=body, headers={**headers, "If-Match": etag}
    )
    assert response.status_code == expect, response.text
    data: dict[str, Any] = response.json()
    return data


async def in_library(
    client: httpx.AsyncClient, keys: Keys, region: dict[str, str], **overrides: Any
) -> dict[str, Any]:
    """A project taken all the way into the library."""
    project = await create(client, region, **overrides)
    province = project["region_code"][:2]
    reviewer = await keys.reviewer(province)
    admin = await keys.admin()
    await move(client, region, project, "submit")
    await move(client, reviewer, project, "recommend")
    return await move(client, admin, project, "approve")


async def institution_key(app: FastAPI, keys: Keys) -> tuple[dict[str, str], uuid.UUID]:
    """A freshly registered bank's key headers and its institution id."""
    async with app.state.sessions.begin() as session:
        bank = Institution(
            name=f"Bank {uuid.uuid4().hex[:6]}", uscc=_fresh_uscc(), type=InstitutionType.bank
        )
        session.add(bank)
        await session.flush()
        bank_id = bank.id
    return await keys.institution(str(bank_id)), bank_id


async def institution_headers(app: FastAPI, keys: Keys) -> dict[str, str]:
    """A key of a freshly registered bank."""
    return (await institution_key(app, keys))[0]


def _fresh_uscc() -> str:
    """A checksum-valid USCC no other test institution uses."""
    charset = "0123456789ABCDEFGHJKLMNPQRTUWXY"
    body = "91440300" + "".join(charset[b % 31] for b in uuid.uuid4().bytes[:9])
    weights = [pow(3, i, 31) for i in range(17)]
    total = sum(charset.index(c) * w for c, w in zip(body, weights, strict=True))
    return body + charset[(31 - total % 31) % 31]


STEPS: dict[str, list[tuple[str, str]]] = {
    "draft": [],
    "submitted": [("region", "submit")],
    "recommended": [("region", "submit"), ("reviewer", "recommend")],
    "in_library": [("region", "submit"), ("reviewer", "recommend"), ("admin", "approve")],
    "returned": [("region", "submit"), ("reviewer", "return")],
    "rejected": [("region", "submit"), ("reviewer", "reject")],
    "withdrawn": [("region", "withdraw")],
    "exited": [
        ("region", "submit"),
        ("reviewer", "recommend"),
        ("admin", "approve"),
        ("admin", "exit"),
    ],
}


async def project_in(
    client: httpx.AsyncClient,
    keys: Keys,
    status: str,
    region: dict[str, str],
    **overrides: Any,
) -> dict[str, Any]:
    """A project brought into ``status`` by the actors DESIGN §4 names."""
    project = await create(client, region, **overrides)
    actors = {
        "region": region,
        "reviewer": await keys.reviewer(project["region_code"][:2]),
        "admin": await keys.admin(),
    }
    for actor, action in STEPS[status]:
        reason = "Because." if action in ("return", "reject") else None
        project = await move(client, actors[actor], project, action, reason)
    assert project["status"] == status
    return project
