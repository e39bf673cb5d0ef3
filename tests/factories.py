"""What the tests build: codes, projects, institutions and products, and `climatelib` runs.

A project is built through the API (`create_project`, `project_in`, `in_library`) wherever the
test allows; `library_project` stores a row straight through the ORM for what the API cannot
make: an approval back-dated to a given month, a status without its history, or the many rows of
a property test.
"""

import itertools
import os
import subprocess
import sys
import uuid
from collections.abc import Mapping
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
from fastapi import FastAPI
from sqlalchemy import update
from stdnum.cn import uscc as uscc_code

from app.models import Project, ProjectStatus
from app.models.flags import CATEGORIES, FINANCING_TYPES
from app.services import pilot_membership
from app.services.screening import screen
from tests.conftest import Keys

_serial = itertools.count(1)

USCC = "9144030071526726XG"  # a real-looking, checksum-valid owner code

# First-batch pilots, loaded by a migration (their ids are stable).
FUTIAN_PILOT = "14d3bc32-b20a-5c9e-8f8f-8b51a839339c"  # 广东省深圳市福田区, 440304
MIYUN_PILOT = "78711a5c-b237-5278-b4c3-3dd2c4b0fc64"  # 北京市密云区, 110118
LIANGJIANG_PILOT = "9307a0f5-5a51-51ef-9af5-085cf758ba38"  # 重庆市两江新区
TIANFU_PILOT = "af20f935-7144-5f74-80e6-cba496dc5014"  # 四川省天府新区


def make_uscc() -> str:
    """A checksum-valid unified social credit code that no other call of this run returns."""
    base = f"9144030{next(_serial):010d}"
    return base + uscc_code.calc_check_digit(base)


# --- projects through the API -------------------------------------------------------------------

PROJECTS = "/api/v1/projects"


def project_payload(**overrides: Any) -> dict[str, Any]:
    """A valid mitigation project in Shenzhen Futian (440304), as a region would send it."""
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


async def create_project(
    client: httpx.AsyncClient, headers: dict[str, str], **overrides: Any
) -> dict[str, Any]:
    response = await client.post(PROJECTS, json=project_payload(**overrides), headers=headers)
    assert response.status_code == 201, response.text
    data: dict[str, Any] = response.json()
    return data


async def move_project(
    client: httpx.AsyncClient,
    headers: dict[str, str],
    project: dict[str, Any],
    action: str,
    reason: str | None = None,
    expect: int = 200,
    reason_code: str | None = None,
) -> dict[str, Any]:
    """Apply a transition with the project's current ETag; returns the new project.

    ``exit`` goes with ``reason_code`` (``completed`` unless given)."""
    current = await client.get(f"{PROJECTS}/{project['id']}", headers=headers)
    etag = current.headers.get("etag") or f'"{project["version"]}"'
    body: dict[str, Any] = {"action": action}
    if reason is not None:
        body["reason"] = reason
    if action == "exit":
        body["reason_code"] = reason_code or "completed"
    response = await client.post(
        f"{PROJECTS}/{project['id']}/transitions",
        json=body,
        headers={**headers, "If-Match": etag},
    )
    assert response.status_code == expect, response.text
    data: dict[str, Any] = response.json()
    return data


# Who takes each step from draft to a status: the region, its province's reviewer, the admin.
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
    """A project created by ``region`` and brought into ``status`` by the actors who may."""
    project = await create_project(client, region, **overrides)
    actors = {
        "region": region,
        "reviewer": await keys.reviewer(project["region_code"][:2]),
        "admin": await keys.admin(),
    }
    for actor, action in STEPS[status]:
        reason = "Because." if action in ("return", "reject") else None
        project = await move_project(client, actors[actor], project, action, reason)
    assert project["status"] == status
    return project


async def in_library(
    client: httpx.AsyncClient, keys: Keys, region: dict[str, str], **overrides: Any
) -> dict[str, Any]:
    """A project taken all the way into the library."""
    return await project_in(client, keys, "in_library", region, **overrides)


# --- project rows straight through the ORM ------------------------------------------------------

_MONEY = ("total_investment", "financing_need", "financing_secured")


def project_row(**overrides: Any) -> dict[str, Any]:
    """A project's column values: a Futian solar project in the library unless overridden.

    ``categories`` and ``financing_types`` are lists of codes; money may be a decimal string.
    """
    categories = overrides.pop("categories", ["M2"])
    financing_types = overrides.pop("financing_types", ["loan"])
    region_code = overrides.get("region_code", "440304")
    values: dict[str, Any] = {
        "source_scope": region_code,
        "name": "福田光伏屋顶",
        "summary": "",
        "region_code": region_code,
        "owner_name": "深圳某能源公司",
        "owner_uscc": USCC,
        "objective": "mitigation",
        "categories_mask": CATEGORIES.mask(categories),
        "industry_code": "D4416",
        "nature": "new_build",
        "construction_status": "approved",
        "total_investment": Decimal("20000000.00"),
        "financing_need": Decimal("10000000.00"),
        "financing_secured": Decimal("0.00"),
        "financing_types_mask": FINANCING_TYPES.mask(financing_types),
        "tenor_months": 60,
        "annual_emission_reduction_tco2e": 1000.0,
        "third_party_verified": False,
        "disclosure_commitment": True,
        "contact_name": "李工",
        "contact_phone": "13800000000",
        "contact_email": "li@example.cn",
        "status": ProjectStatus.in_library,
    }
    values.update(overrides)
    if "screening" not in values:
        # Stored as a write stores it: the service's own screening of these fields.
        result = screen(
            values["industry_code"],
            values["nature"],
            categories,
            values.get("fuel"),
            bool(values.get("capacity_replacement")),
        )
        values["screening"] = result.as_json()
        values.setdefault("is_two_high", result.is_two_high)
        values.setdefault("two_high_outcome", result.outcome.value)
    for name in _MONEY:
        values[name] = Decimal(values[name])
    if values["status"] == ProjectStatus.in_library and "library_code" not in values:
        values["library_code"] = f"CIF-{values['region_code']}-2026-{next(_serial):05d}"
        values.setdefault("approved_at", datetime.now(UTC))
    return values


async def library_project(app: FastAPI, **overrides: Any) -> str:
    """A project row (in the library unless ``status`` says otherwise); returns its id.

    Without ``pilot_id`` it belongs to the pilot whose full code holds it, as a write through
    the API (and migration 0012) would have it."""
    async with app.state.sessions.begin() as session:
        row = project_row(**overrides)
        if "pilot_id" not in row:
            full = await pilot_membership.full_codes(session)
            row["pilot_id"] = full.holder(row["region_code"], datetime.now(UTC).date())
        project = Project(**row)
        session.add(project)
        await session.flush()
        return str(project.id)


async def set_project(app: FastAPI, project_id: str, **values: Any) -> None:
    async with app.state.sessions.begin() as session:
        await session.execute(
            update(Project).where(Project.id == uuid.UUID(project_id)).values(**values)
        )


async def get_project(app: FastAPI, project_id: str) -> Project:
    async with app.state.sessions() as session:
        project: Project | None = await session.get(Project, uuid.UUID(project_id))
        assert project is not None
        return project


# --- institutions and products ------------------------------------------------------------------


async def institution(
    client: httpx.AsyncClient, keys: Keys, *, name: str = "绿色银行", type: str = "bank"
) -> tuple[str, dict[str, str]]:
    """Register an institution as admin; return its id and an institution key's headers."""
    admin = await keys.admin()
    response = await client.post(
        "/api/v1/institutions",
        json={"name": name, "uscc": make_uscc(), "type": type},
        headers=admin,
    )
    assert response.status_code == 201, response.text
    institution_id = response.json()["id"]
    return institution_id, await keys.institution(institution_id)


async def institution_headers(client: httpx.AsyncClient, keys: Keys) -> dict[str, str]:
    """The key headers of a freshly registered bank."""
    return (await institution(client, keys))[1]


async def product(
    client: httpx.AsyncClient, headers: dict[str, str], **fields: Any
) -> dict[str, Any]:
    """A product published by the institution of ``headers`` (active green loan by default)."""
    body: dict[str, Any] = {"name": "绿色贷", "type": "green_loan", "status": "active"}
    body.update(fields)
    response = await client.post("/api/v1/products", json=body, headers=headers)
    assert response.status_code == 201, response.text
    return dict(response.json())


async def offer(
    client: httpx.AsyncClient, keys: Keys, project_id: str
) -> tuple[dict[str, str], dict[str, Any]]:
    """A new bank's offer of a new green loan on ``project_id``: its headers and the offer."""
    _, bank = await institution(client, keys, name=f"银行 {uuid.uuid4().hex[:6]}")
    loan = await product(client, bank)
    response = await client.post(
        "/api/v1/engagements",
        json={
            "project_id": project_id,
            "product_id": loan["id"],
            "amount": "1000000.00",
            "annual_rate": "3.2",
            "tenor_months": 36,
        },
        headers=bank,
    )
    assert response.status_code == 201, response.text
    return bank, dict(response.json())


# --- the command line ---------------------------------------------------------------------------


def run_cli(
    *args: str,
    database_url: str,
    cwd: Path | None = None,
    env: Mapping[str, str] | None = None,
    timeout: float = 300,
) -> subprocess.CompletedProcess[str]:
    """`climatelib ARGS` in a fresh interpreter on ``database_url``, its output captured."""
    return subprocess.run(  # noqa: S603
        [sys.executable, "-m", "app.cli", *args],
        env={**os.environ, **(env or {}), "CLIMATELIB_DATABASE_URL": database_url},
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
        cwd=cwd,
    )
