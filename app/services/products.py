"""Financial products (金融产品): the owning institution writes, the public reads active ones."""

import uuid
from decimal import Decimal

from sqlalchemy.ext.asyncio import AsyncSession

from app.auth import Principal
from app.errors import Conflict, Forbidden, NotFound, RuleViolation, field_error
from app.models import Product, ProductStatus
from app.repositories import products as repo
from app.schemas.common import Page
from app.schemas.product import ProductCreate, ProductRead, ProductUpdate
from app.services import audit, webhooks
from app.services.product_criteria import check_criteria, criteria_values

# status → statuses an edit may move it to (retired is final).
STATUS_MOVES: dict[ProductStatus, frozenset[ProductStatus]] = {
    ProductStatus.draft: frozenset({ProductStatus.active, ProductStatus.retired}),
    ProductStatus.active: frozenset({ProductStatus.paused, ProductStatus.retired}),
    ProductStatus.paused: frozenset({ProductStatus.active, ProductStatus.retired}),
    ProductStatus.retired: frozenset(),
}


async def load(
    session: AsyncSession, principal: Principal, product_id: uuid.UUID, *, for_update: bool = False
) -> Product:
    """One product as the caller may see it (the row, for the services that work with it)."""
    product = await repo.get(session, principal, product_id, for_update=for_update)
    if product is None:
        raise NotFound("No product with that id.", code="product_not_found")
    return product


async def get(session: AsyncSession, principal: Principal, product_id: uuid.UUID) -> ProductRead:
    """One product as the caller may see it."""
    return ProductRead.model_validate(await load(session, principal, product_id))


async def page(
    session: AsyncSession,
    principal: Principal,
    *,
    type_: str | None,
    status: str | None,
    institution_id: uuid.UUID | None,
    cursor: str | None,
    limit: int,
) -> Page[ProductRead]:
    """A page of the products the caller may see, oldest first."""
    rows, next_cursor = await repo.page(
        session,
        principal,
        type_=type_,
        status=status,
        institution_id=institution_id,
        cursor=cursor,
        limit=limit,
    )
    return Page[ProductRead](
        items=[ProductRead.model_validate(r) for r in rows], next_cursor=next_cursor
    )


def _owner_of(principal: Principal, product: Product) -> None:
    if not principal.is_admin and principal.institution_id != product.institution_id:
        raise Forbidden("Only the owning institution may change a product.", code="not_owner")


async def create(session: AsyncSession, principal: Principal, body: ProductCreate) -> ProductRead:
    """Create a product of the caller's institution (draft, or active at once)."""
    if principal.institution_id is None:
        raise Forbidden("Products are created with an institution key.", code="wrong_role")
    values = criteria_values(body)
    values["description"] = values.get("description") or ""
    check_criteria(values)
    product = Product(institution_id=principal.institution_id, quota_used=Decimal("0.00"), **values)
    await repo.add(session, product)
    created = audit.changes({}, values, values)
    step = audit.event(principal, "create", "product", product.id, changes=created)
    await audit.record(session, step)
    await webhooks.emit(session, step)
    return ProductRead.model_validate(product)


_NOT_NULL = ("name", "description")


async def update(
    session: AsyncSession, principal: Principal, product_id: uuid.UUID, body: ProductUpdate
) -> ProductRead:
    """Edit, publish, pause, resume or retire one of the caller's products."""
    product = await load(session, principal, product_id, for_update=True)
    _owner_of(principal, product)
    if ProductStatus(product.status) is ProductStatus.retired:
        raise Conflict("A retired product can no longer change.", code="product_retired")
    changes = criteria_values(body, set(body.model_fields_set))
    for key in _NOT_NULL:
        if key in changes and changes[key] is None:
            raise RuleViolation(
                f"{key} cannot be null.",
                code="required",
                errors=[field_error(["body", key], "required", f"{key} cannot be null.")],
            )
    target = changes.pop("status", None)
    from_status = product.status
    before = {key: getattr(product, key) for key in changes}
    if target is not None and target != product.status:
        current = ProductStatus(product.status)
        if ProductStatus(target) not in STATUS_MOVES[current]:
            allowed = sorted(s.value for s in STATUS_MOVES[current])
            raise Conflict(
                f"A {current.value} product cannot become {target}.",
                code="invalid_status_change",
                allowed_actions=allowed,
            )
        product.status = ProductStatus(target)
    merged = {
        key: getattr(product, key)
        for key in (
            "amount_min",
            "amount_max",
            "tenor_min_months",
            "tenor_max_months",
            "rate_min",
            "rate_max",
            "valid_from",
            "valid_to",
            "quota_total",
            "quota_used",
        )
    }
    merged.update(changes)
    check_criteria(merged)
    for key, value in changes.items():
        setattr(product, key, value)
    await session.flush()
    step = audit.event(
        principal,
        "update",
        "product",
        product.id,
        changes=audit.changes(before, changes, changes),
        from_status=from_status,
        to_status=product.status,
    )
    await audit.record(session, step)
    await webhooks.emit(session, step)
    return ProductRead.model_validate(product)
