"""Financial products (金融产品): the owning institution writes, the public reads active ones."""

import uuid
from typing import Annotated

from fastapi import APIRouter, Query

from app import idempotency
from app.auth import PrincipalDep, require_roles
from app.db import SessionDep
from app.errors import responses
from app.models import ProductStatus, ProductType, Role
from app.openapi import KEY_OPTIONAL
from app.schemas.common import DEFAULT_LIMIT, MAX_LIMIT, Page
from app.schemas.product import ProductCreate, ProductRead, ProductUpdate
from app.services import products

router = APIRouter(prefix="/api/v1", tags=["products"])

_institution = require_roles(Role.institution)


@router.post(
    "/products",
    status_code=201,
    response_model=ProductRead,
    operation_id="create_product",
    summary="Create a product",
    responses=responses(401, 403, 422),
    dependencies=[_institution],  # type: ignore[list-item]
)
async def create_product(
    body: ProductCreate,
    session: SessionDep,
    principal: PrincipalDep,
    once: idempotency.CreateOnceDep,
) -> ProductRead:
    """Create a product of the caller's institution with its own criteria."""
    return await once(
        body, ProductRead, lambda: products.create(session, principal, body), "/api/v1/products"
    )


@router.get(
    "/products",
    openapi_extra=KEY_OPTIONAL,
    response_model=Page[ProductRead],
    operation_id="list_products",
    summary="List products",
    responses=responses(400, 401),
)
async def list_products(
    session: SessionDep,
    principal: PrincipalDep,
    type: ProductType | None = None,
    status: ProductStatus | None = None,
    institution_id: uuid.UUID | None = None,
    cursor: str | None = None,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = DEFAULT_LIMIT,
) -> Page[ProductRead]:
    """List active products (an institution also sees its own drafts, paused and retired)."""
    return await products.page(
        session,
        principal,
        type_=type,
        status=status,
        institution_id=institution_id,
        cursor=cursor,
        limit=limit,
    )


@router.get(
    "/products/{product_id}",
    openapi_extra=KEY_OPTIONAL,
    response_model=ProductRead,
    operation_id="get_product",
    summary="Get a product",
    responses=responses(401, 404),
)
async def get_product(
    product_id: uuid.UUID, session: SessionDep, principal: PrincipalDep
) -> ProductRead:
    """Get one product as the caller may see it."""
    return await products.get(session, principal, product_id)


@router.patch(
    "/products/{product_id}",
    response_model=ProductRead,
    operation_id="update_product",
    summary="Edit, publish, pause or retire a product",
    responses=responses(401, 403, 404, 409, 422),
    dependencies=[_institution],  # type: ignore[list-item]
)
async def update_product(
    product_id: uuid.UUID, body: ProductUpdate, session: SessionDep, principal: PrincipalDep
) -> ProductRead:
    """Change a product's fields or status (draft → active ↔ paused → retired)."""
    return await products.update(session, principal, product_id, body)
