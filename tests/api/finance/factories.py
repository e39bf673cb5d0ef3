"""Builders for finance tests: institutions and products through the API, library projects
straight through the ORM (the project API belongs to another issue)."""

import itertools
import uuid
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import httpx
from fastapi import FastAPI
from sqlalchemy import update
from stdnum.cn import uscc as uscc_code

from app.models import Project, ProjectStatus
from app.models.flags import CATEGORIES, FINANCING_TYPES
from tests.conftest import Keys

_serial = itertools.count(1)


def make_uscc() -> str:
    """A fresh checksum-valid unified social credit code."""
    base = f"9144030{next(_serial):010d}"
    return base + uscc_code.calc_check_digit(base + "0")


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


async def product(
    client: httpx.AsyncClient, headers: dict[str, str], **fields: Any
) -> dict[str, Any]:
    body: dict[str, Any] = {"name": "绿色贷", "type": "green_loan", "status": "active"}
    body.update(fields)
    response = await client.post("/api/v1/products", json=body, headers=headers)
    assert response.status_code == 201, response.text
    return dict(response.json())


def project_values(**overrides: Any) -> dict[str, Any]:
    categories = overrides.pop("categories", ["M2"])
    financing_types = overrides.pop("financing_types", ["loan"])
    values: dict[str, Any] = {
        "source_scope": "440304",
        "name": "福田光伏屋顶",
        "summary": "",
        "region_code": "440304",
        "owner_name": "深圳某能源公司",
        "owner_uscc": "9144030071526726XG",
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
        "screening": [],
    }
    values.update(overrides)
    if values["status"] == ProjectStatus.in_library and "library_code" not in values:
        values["library_code"] = f"CIF-{values['region_code']}-2026-{next(_serial):05d}"
        values["approved_at"] = datetime.now(UTC)
    return values


async def library_project(app: FastAPI, **overrides: Any) -> str:
    """A project in the library (or in the status given), written through the ORM."""
    async with app.state.sessions.begin() as session:
        project = Project(**project_values(**overrides))
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
        project = await session.get(Project, uuid.UUID(project_id))
        assert project is not None
        return project
