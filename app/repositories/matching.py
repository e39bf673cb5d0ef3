"""Queries behind the matcher: change counters, library columns, active products, visibility."""

import uuid
from collections.abc import Sequence
from typing import Any, NamedTuple

from sqlalchemy import BigInteger, cast, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.models import MatchingChange, MatchingState, Product, ProductStatus, Project, ProjectStatus


class ProjectRow(NamedTuple):
    """A library project's matching columns, as loaded from the database."""

    id: uuid.UUID
    region_code: str
    objective: str
    categories_mask: int
    financing_types_mask: int
    construction_status: str
    remaining_cents: int
    tenor_months: int | None
    emission_reduction_tco2e: float | None
    carbon_sink_tco2e: float | None
    third_party_verified: bool
    is_two_high_retrofit: bool


async def generations(session: AsyncSession) -> dict[str, int]:
    """The change counters the triggers keep (one row per watched table)."""
    rows = await session.execute(select(MatchingState.name, MatchingState.generation))
    return {name: int(gen) for name, gen in rows.all()}


async def changed_projects(session: AsyncSession, after: int, upto: int) -> list[uuid.UUID]:
    """Projects written at generations in (after, upto], as the triggers logged them."""
    stmt = (
        select(MatchingChange.project_id)
        .where(MatchingChange.generation > after, MatchingChange.generation <= upto)
        .distinct()
    )
    return list((await session.scalars(stmt)).all())


async def library_rows(
    session: AsyncSession, ids: Sequence[uuid.UUID] | None = None
) -> list[ProjectRow]:
    """The matching columns of library projects (all, or those of ``ids``), money in cents."""
    if ids is not None:
        out: list[ProjectRow] = []
        for start in range(0, len(ids), 1000):
            out += await _library_rows(session, ids[start : start + 1000])
        return out
    return await _library_rows(session, None)


async def _library_rows(session: AsyncSession, ids: Sequence[uuid.UUID] | None) -> list[ProjectRow]:
    remaining_cents = cast(
        func.round((Project.financing_need - Project.financing_secured) * 100), BigInteger
    )
    stmt = select(
        Project.id,
        Project.region_code,
        Project.objective,
        Project.categories_mask,
        Project.financing_types_mask,
        Project.construction_status,
        remaining_cents,
        Project.tenor_months,
        Project.annual_emission_reduction_tco2e,
        Project.annual_carbon_sink_tco2e,
        Project.third_party_verified,
        Project.is_two_high_retrofit,
    ).where(Project.status == ProjectStatus.in_library)
    if ids is not None:
        stmt = stmt.where(Project.id.in_(list(ids)))
    else:
        # The full load is the one big read: the drivers' own rows are several times faster
        # than rows processed by SQLAlchemy (PostgreSQL: 0.3 s instead of 0.9 s for 100,000).
        connection = await session.connection()
        raw = await connection.get_raw_connection()
        sql = str(stmt.compile(connection.engine, compile_kwargs={"literal_binds": True}))
        driver: Any = raw.driver_connection
        if connection.dialect.name == "postgresql":
            return [ProjectRow._make(record) for record in await driver.fetch(sql)]
        async with driver.execute(sql) as cursor:
            # SQLite keeps UUIDs as 32 hex characters and booleans as 0/1
            return [
                ProjectRow._make((uuid.UUID(hex=r[0]), *r[1:10], bool(r[10]), bool(r[11])))
                for r in await cursor.fetchall()
            ]
    result = await session.execute(stmt)
    return [ProjectRow._make(row) for row in result.all()]


async def active_products(session: AsyncSession) -> Sequence[Product]:
    stmt = select(Product).where(Product.status == ProductStatus.active).order_by(Product.id)
    return (await session.scalars(stmt)).all()


async def project_cards(session: AsyncSession, ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, Any]:
    """What a match list shows of each project (public fields only)."""
    if not ids:
        return {}
    stmt = select(
        Project.id,
        Project.name,
        Project.library_code,
        Project.region_code,
        Project.objective,
        Project.categories_mask,
        Project.construction_status,
        Project.financing_need,
        Project.financing_secured,
        Project.tenor_months,
    ).where(Project.id.in_(list(ids)))
    return {row.id: row for row in (await session.execute(stmt)).all()}


async def project_row(
    session: AsyncSession, project_id: uuid.UUID
) -> tuple[Project, ProjectRow] | None:
    """Any project (in the library or not) with its matching columns, or None."""
    project = await session.get(Project, project_id)
    if project is None:
        return None
    remaining = project.financing_need - project.financing_secured
    row = ProjectRow(
        id=project.id,
        region_code=project.region_code,
        objective=project.objective,
        categories_mask=project.categories_mask,
        financing_types_mask=project.financing_types_mask,
        construction_status=project.construction_status,
        remaining_cents=int((remaining * 100).to_integral_value()),
        tenor_months=project.tenor_months,
        emission_reduction_tco2e=project.annual_emission_reduction_tco2e,
        carbon_sink_tco2e=project.annual_carbon_sink_tco2e,
        third_party_verified=project.third_party_verified,
        is_two_high_retrofit=project.is_two_high_retrofit,
    )
    return project, row
