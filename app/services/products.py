"""Financial products (金融产品): the owning institution writes, the public reads active ones."""

import uuid
from decimal import Decimal
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from app.auth import Principal
from app.errors import Conflict, FieldError, Forbidden, RuleViolation, field_error
from app.models import Product, ProductStatus
from app.reference.regions import region_table
from app.repositories import products as repo
from app.schemas.product import CriteriaFields, ProductCreate, ProductUpdate
from app.services.matching.criteria import DEFAULT_WEIGHTS

# status → statuses an edit may move it to (retired is final).
STATUS_MOVES: dict[ProductStatus, frozenset[ProductStatus]] = {
    ProductStatus.draft: frozenset({ProductStatus.active, ProductStatus.retired}),
    ProductStatus.active: frozenset({ProductStatus.paused, ProductStatus.retired}),
    ProductStatus.paused: frozenset({ProductStatus.active, ProductStatus.retired}),
    ProductStatus.retired: frozenset(),
}

_ORDERED_PAIRS = (
    ("amount_min", "amount_max", "amount_range_order"),
    ("tenor_min_months", "tenor_max_months", "tenor_range_order"),
    ("rate_min", "rate_max", "rate_range_order"),
    ("valid_from", "valid_to", "validity_order"),
)


def check_criteria(values: dict[str, Any]) -> None:
    """Rules across fields (ranges ordered, known region codes, weights); 422 listing each."""
    errors: list[FieldError] = []
    for low, high, code in _ORDERED_PAIRS:
        lo, hi = values.get(low), values.get(high)
        if lo is not None and hi is not None and lo > hi:
            errors.append(field_error(["body", low], code, f"{low} must not exceed {high}."))
    table = region_table()
    for i, prefix in enumerate(values.get("region_prefixes") or ()):
        if table.get(prefix.ljust(6, "0")) is None:
            errors.append(
                field_error(
                    ["body", "region_prefixes", i],
                    "unknown_region",
                    f"{prefix} is not the prefix of a GB/T 2260 region.",
                )
            )
    weights = values.get("weights")
    # Weights left out keep their default points, so only the merged set can be all zero.
    if weights is not None and sum({**DEFAULT_WEIGHTS, **weights}.values()) <= 0:
        errors.append(
            field_error(["body", "weights"], "weights_all_zero", "At least one weight must be > 0.")
        )
    quota, used = values.get("quota_total"), values.get("quota_used")
    if quota is not None and used is not None and quota < used:
        errors.append(
            field_error(
                ["body", "quota_total"], "quota_below_used", "quota_total is below quota_used."
            )
        )
    if errors:
        raise RuleViolation(
            "; ".join(e.message for e in errors), code=errors[0].code, errors=errors
        )


def criteria_values(body: CriteriaFields, fields: set[str] | None = None) -> dict[str, Any]:
    """The body's values as model attributes: duplicates removed, defaults for cleared flags."""
    data = body.model_dump(include=fields)
    for key in ("objectives", "categories", "region_prefixes", "construction_statuses"):
        if data.get(key) is not None:
            data[key] = sorted({str(v) for v in data[key]})
    if "requires_verification" in data and data["requires_verification"] is None:
        data["requires_verification"] = False
    if "accepts_two_high_retrofit" in data and data["accepts_two_high_retrofit"] is None:
        data["accepts_two_high_retrofit"] = True
    return data


def _owner_of(principal: Principal, product: Product) -> None:
    if not principal.is_admin and principal.institution_id != product.institution_id:
        raise Forbidden("Only the owning institution may change a product.", code="not_owner")


async def create(session: AsyncSession, principal: Principal, body: ProductCreate) -> Product:
    """Create a product of the caller's institution (draft, or active at once)."""
    if principal.institution_id is None:
        raise Forbidden("Products are created with an institution key.", code="wrong_role")
    values = criteria_values(body)
    values["description"] = values.get("description") or ""
    check_criteria(values)
    product = Product(institution_id=principal.institution_id, quota_used=Decimal("0.00"), **values)
    session.add(product)
    await session.flush()
    return product


_NOT_NULL = ("name", "description")


async def update(
    session: AsyncSession, principal: Principal, product_id: uuid.UUID, body: ProductUpdate
) -> Product:
    """Edit, publish, pause, resume or retire one of the caller's products."""
    product = await repo.get(session, principal, product_id, for_update=True)
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
    return product
