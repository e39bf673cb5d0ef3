"""Product queries, filtered to what the caller may see: active products for everyone, every
status of its own for the owning institution, everything for admins."""

import uuid
from datetime import datetime

from sqlalchemy import Select, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.auth import Principal
from app.models import Product, ProductStatus
from app.repositories.pagination import SortKey, next_cursor, paginate

SORT = [SortKey(Product.created_at, kind=datetime), SortKey(Product.id, kind=uuid.UUID)]


def readable(principal: Principal) -> Select[Product]:
    stmt = select(Product)
    if principal.is_admin:
        return stmt
    if principal.institution_id is not None:
        return stmt.where(
            or_(
                Product.status == ProductStatus.active,
                Product.institution_id == principal.institution_id,
            )
        )
    return stmt.where(Product.status == ProductStatus.active)


async def get(
    session: AsyncSession, principal: Principal, product_id: uuid.UUID, *, for_update: bool = False
) -> Product | None:
    stmt = readable(principal).where(Product.id == product_id)
    if for_update:
        stmt = stmt.with_for_update()
    return await session.scalar(stmt)


async def add(session: AsyncSession, product: Product) -> None:
    session.add(product)
    await session.flush()


async def page(
    session: AsyncSession,
    principal: Principal,
    *,
    type_: str | None,
    status: str | None,
    institution_id: uuid.UUID | None,
    cursor: str | None,
    limit: int,
) -> tuple[list[Product], str | None]:
    stmt = readable(principal)
    if type_:
        stmt = stmt.where(Product.type == type_)
    if status:
        stmt = stmt.where(Product.status == status)
    if institution_id:
        stmt = stmt.where(Product.institution_id == institution_id)
    rows = list((await session.scalars(paginate(stmt, SORT, cursor, limit, "created"))).all())
    return rows[:limit], next_cursor(rows, SORT, limit, "created", lambda r: (r.created_at, r.id))
