"""Engagement queries: each party sees its own (the institution its offers, the region the offers
on its projects, the reviewer its province's, admins all)."""

import uuid
from collections.abc import Iterable
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import Select, false, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.auth import Principal
from app.models import (
    Engagement,
    EngagementStatus,
    Institution,
    Payment,
    PaymentKind,
    Product,
    Project,
    Role,
)
from app.repositories.pagination import SortKey, next_cursor, paginate
from app.repositories.reach import reach_clause
from app.repositories.sums import CentsSum

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
    if principal.role in (Role.region, Role.reviewer):
        return stmt.where(reach_clause(principal))
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
    return (await session.execute(stmt)).one_or_none()


async def add(session: AsyncSession, engagement: Engagement) -> None:
    session.add(engagement)
    await session.flush()


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


async def count_open_offers(session: AsyncSession, project_id: uuid.UUID) -> int:
    """Offers on the project still waiting for their outcome (not declined, financed or not)."""
    stmt = select(func.count(Engagement.id)).where(
        Engagement.project_id == project_id, Engagement.status.in_(OPEN_STATUSES)
    )
    return int(await session.scalar(stmt) or 0)


async def projects_with_contact(
    session: AsyncSession, institution_id: uuid.UUID, project_ids: Iterable[uuid.UUID]
) -> frozenset[uuid.UUID]:
    """Among ``project_ids``, those whose owner accepted an offer of this institution (and did
    not decline it since): the condition for the institution to see the contact."""
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


# A financed amount raises the project's financing_secured and the product's quota_used with
# conditional UPDATEs: on PostgreSQL a concurrent writer waits for the row lock and re-checks the
# condition on the committed row; SQLite's writers are serialised by BEGIN IMMEDIATE. Amounts
# compare in cents so SQLite's binary floats cannot round a fitting amount out.


async def add_secured(
    session: AsyncSession, project_id: uuid.UUID, amount: Decimal
) -> Decimal | None:
    """Add to the project's financing_secured unless it would exceed the need; the new secured
    amount, or None if it would have. The project's updated_at is the database's stamp."""
    result = await session.execute(
        update(Project)
        .where(
            Project.id == project_id,
            func.round((Project.financing_secured + amount) * 100)
            <= func.round(Project.financing_need * 100),
        )
        .values(
            financing_secured=func.round(Project.financing_secured + amount, 2),
            version=Project.version + 1,
        )
        .returning(Project.financing_secured)
        .execution_options(synchronize_session=False)
    )
    secured: Decimal | None = result.scalar_one_or_none()
    return secured


async def financed_totals(
    session: AsyncSession, project_ids: Iterable[uuid.UUID]
) -> dict[uuid.UUID, Decimal]:
    """What financed offers have recorded on each of these projects (absent: nothing)."""
    ids = list(project_ids)
    if not ids:
        return {}
    rows = await session.execute(
        select(Engagement.project_id, func.sum(Engagement.financed_amount))
        .where(
            Engagement.project_id.in_(ids),
            Engagement.status == EngagementStatus.financed,
        )
        .group_by(Engagement.project_id)
    )
    cent = Decimal("0.01")
    return {
        project_id: Decimal(str(total)).quantize(cent)
        for project_id, total in rows
        if total is not None
    }


async def add_quota_used(
    session: AsyncSession, product_id: uuid.UUID, amount: Decimal, now: datetime
) -> bool:
    """Add to the product's quota_used unless it would exceed its quota; whether it did."""
    result = await session.execute(
        update(Product)
        .where(
            Product.id == product_id,
            or_(
                Product.quota_total.is_(None),
                func.round((Product.quota_used + amount) * 100)
                <= func.round(Product.quota_total * 100),
            ),
        )
        .values(
            quota_used=func.round(Product.quota_used + amount, 2),
            version=Product.version + 1,
            updated_at=now,
        )
        .execution_options(synchronize_session=False)
    )
    return bool(getattr(result, "rowcount", 0) == 1)


# ---- payments under a signed contract ----------------------------------------------------------

PAYMENT_SORT = [SortKey(Payment.created_at, kind=datetime), SortKey(Payment.id, kind=uuid.UUID)]


async def payment_totals(
    session: AsyncSession, engagement_ids: Iterable[uuid.UUID]
) -> dict[uuid.UUID, dict[PaymentKind, Decimal]]:
    """Per engagement, the sum of its payments of each kind (exact: summed in cents)."""
    ids = list(engagement_ids)
    if not ids:
        return {}
    rows = await session.execute(
        select(Payment.engagement_id, Payment.kind, CentsSum(Payment.amount))
        .where(Payment.engagement_id.in_(ids))
        .group_by(Payment.engagement_id, Payment.kind)
    )
    out: dict[uuid.UUID, dict[PaymentKind, Decimal]] = {}
    for engagement_id, kind, cents in rows:
        out.setdefault(engagement_id, {})[PaymentKind(kind)] = Decimal(int(cents)) / 100
    return out


async def add_payment(session: AsyncSession, payment: Payment) -> None:
    session.add(payment)
    await session.flush()


async def payment_page(
    session: AsyncSession, engagement_id: uuid.UUID, *, cursor: str | None, limit: int
) -> tuple[list[Payment], str | None]:
    stmt = select(Payment).where(Payment.engagement_id == engagement_id)
    rows = list(
        (await session.scalars(paginate(stmt, PAYMENT_SORT, cursor, limit, "payments"))).all()
    )
    return rows[:limit], next_cursor(
        rows, PAYMENT_SORT, limit, "payments", lambda p: (p.created_at, p.id)
    )


async def get_payment(
    session: AsyncSession, engagement_id: uuid.UUID, payment_id: uuid.UUID
) -> Payment | None:
    stmt = select(Payment).where(Payment.engagement_id == engagement_id, Payment.id == payment_id)
    return (await session.scalars(stmt)).one_or_none()
