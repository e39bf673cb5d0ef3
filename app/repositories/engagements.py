"""Engagement queries: each party sees its own (the institution its offers, the region the offers
on its projects, the reviewer its province's, admins all)."""

import uuid
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from sqlalchemy import Select, false, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.auth import Principal
from app.errors import NotFound
from app.models import Engagement, EngagementStatus, Institution, Product, Project, Role
from app.repositories.pagination import SortKey, next_cursor, paginate

SORT = [SortKey(Engagement.created_at, kind=datetime), SortKey(Engagement.id, kind=uuid.UUID)]

# Once accepted and not declined since, the institution may see the project's contact.
CONTACT_STATUSES = (
    EngagementStatus.accepted,
    EngagementStatus.contacted,
    EngagementStatus.due_diligence,
    EngagementStatus.financed,
    EngagementStatus.not_financed,
)
OPEN_STATUSES = (
    EngagementStatus.offered,
    EngagementStatus.accepted,
    EngagementStatus.contacted,
    EngagementStatus.due_diligence,
)


def readable(principal: Principal) -> Select[Engagement, Project, str, str]:
    """Engagements with their project, product and institution, as the caller may see them."""
    stmt = (
        select(Engagement, Project, Product.name, Institution.name)
        .join(Project, Project.id == Engagement.project_id)
        .join(Product, Product.id == Engagement.product_id)
        .join(Institution, Institution.id == Engagement.institution_id)
    )
    if principal.is_admin:
        return stmt
    if principal.role is Role.institution and principal.institution_id is not None:
        return stmt.where(Engagement.institution_id == principal.institution_id)
    if principal.role in (Role.region, Role.reviewer) and principal.region_prefixes:
        return stmt.where(
            or_(*(Project.region_code.startswith(p) for p in principal.region_prefixes))
        )
    return stmt.where(false())


async def get(
    session: AsyncSession,
    principal: Principal,
    engagement_id: uuid.UUID,
    *,
    for_update: bool = False,
) -> Any:
    stmt = readable(principal).where(Engagement.id == engagement_id)
    if for_update:
        stmt = stmt.with_for_update(of=Engagement)
    row = (await session.execute(stmt)).one_or_none()
    if row is None:
        raise NotFound("No engagement with that id.", code="engagement_not_found")
    return row


async def page(
    session: AsyncSession,
    principal: Principal,
    *,
    project_id: uuid.UUID | None,
    product_id: uuid.UUID | None,
    status: str | None,
    cursor: str | None,
    limit: int,
) -> tuple[list[Any], str | None]:
    stmt: Any = readable(principal)
    if project_id:
        stmt = stmt.where(Engagement.project_id == project_id)
    if product_id:
        stmt = stmt.where(Engagement.product_id == product_id)
    if status:
        stmt = stmt.where(Engagement.status == status)
    rows = list((await session.execute(paginate(stmt, SORT, cursor, limit, "created"))).all())
    return rows[:limit], next_cursor(
        rows, SORT, limit, "created", lambda r: (r[0].created_at, r[0].id)
    )


async def open_offer_exists(
    session: AsyncSession, project_id: uuid.UUID, product_id: uuid.UUID
) -> bool:
    stmt = select(Engagement.id).where(
        Engagement.project_id == project_id,
        Engagement.product_id == product_id,
        Engagement.status.in_(OPEN_STATUSES),
    )
    return (await session.scalar(stmt.limit(1))) is not None


async def projects_with_contact(
    session: AsyncSession, institution_id: uuid.UUID, project_ids: Iterable[uuid.UUID]
) -> frozenset[uuid.UUID]:
    """Among ``project_ids``, those whose owner accepted an offer of this institution (and did
    not decline it since): the condition for the institution to see the contact (DESIGN §1)."""
    ids = list(project_ids)
    if not ids:
        return frozenset()
    rows = await session.scalars(
        select(Engagement.project_id)
        .where(
            Engagement.institution_id == institution_id,
            Engagement.project_id.in_(ids),
            Engagement.status.in_(CONTACT_STATUSES),
        )
        .distinct()
    )
    return frozenset(rows)
