"""Projects inserted straight through the ORM, for the figures and visibility tests of pilots and
statistics (the project API is built elsewhere; these rows are what it would store)."""

import uuid
from datetime import datetime
from decimal import Decimal

from fastapi import FastAPI

from app.models.flags import CATEGORIES
from app.models.project import ConstructionStatus, Nature, Objective, Project, ProjectStatus

FUTIAN_PILOT = "14d3bc32-b20a-5c9e-8f8f-8b51a839339c"  # 广东省深圳市福田区, 440304
MIYUN_PILOT = "78711a5c-b237-5278-b4c3-3dd2c4b0fc64"  # 北京市密云区, 110118
LIANGJIANG_PILOT = "9307a0f5-5a51-51ef-9af5-085cf758ba38"  # 重庆市两江新区
TIANFU_PILOT = "af20f935-7144-5f74-80e6-cba496dc5014"  # 四川省天府新区


async def add_project(
    app: FastAPI,
    *,
    region_code: str,
    status: ProjectStatus = ProjectStatus.draft,
    name: str | None = None,
    objective: Objective = Objective.mitigation,
    categories: tuple[str, ...] = ("M2",),
    total_investment: str = "1000000.00",
    financing_need: str = "600000.00",
    financing_secured: str = "100000.00",
    emission_reduction: float | None = 1000.0,
    carbon_sink: float | None = None,
    approved_at: datetime | None = None,
) -> uuid.UUID:
    """Insert one project and return its id."""
    project_id = uuid.uuid4()
    async with app.state.sessions.begin() as session:
        session.add(
            Project(
                id=project_id,
                external_ref=f"ext-{project_id.hex[:12]}",
                source_scope=region_code,
                name=name or f"Project {project_id.hex[:6]}",
                summary="",
                region_code=region_code,
                owner_name="某某新能源有限公司",
                owner_uscc="91350100M000100Y43",
                owner_type="private",
                objective=objective,
                categories_mask=CATEGORIES.mask(categories),
                industry_code="D4415",
                nature=Nature.new_build,
                construction_status=ConstructionStatus.planning,
                total_investment=Decimal(total_investment),
                financing_need=Decimal(financing_need),
                financing_secured=Decimal(financing_secured),
                financing_types_mask=0,
                annual_emission_reduction_tco2e=emission_reduction,
                annual_carbon_sink_tco2e=carbon_sink,
                third_party_verified=False,
                disclosure_commitment=True,
                contact_name="张三",
                contact_phone="13800000000",
                contact_email="zhang@example.com",
                status=status,
                screening=[],
                approved_at=approved_at,
            )
        )
    return project_id
