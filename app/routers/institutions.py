"""Financial institutions (金融机构): administrators register them, anyone reads them."""

import uuid
from typing import Annotated

from fastapi import APIRouter, Query

from app import idempotency
from app.auth import AdminDep
from app.db import SessionDep
from app.errors import responses
from app.models import InstitutionType
from app.schemas.common import DEFAULT_LIMIT, MAX_LIMIT, Page
from app.schemas.institution import InstitutionCreate, InstitutionRead
from app.services import institutions

router = APIRouter(prefix="/api/v1", tags=["institutions"])


@router.post(
    "/institutions",
    status_code=201,
    response_model=InstitutionRead,
    operation_id="create_institution",
    summary="Register an institution",
    responses=responses(401, 403, 409, 422),
)
async def create_institution(
    body: InstitutionCreate,
    session: SessionDep,
    admin: AdminDep,
    once: idempotency.CreateOnceDep,
) -> InstitutionRead:
    """Register a financial institution; its USCC must be valid and new."""
    return await once(
        body,
        InstitutionRead,
        lambda: institutions.create(session, admin, body),
        "/api/v1/institutions",
    )


@router.get(
    "/institutions",
    response_model=Page[InstitutionRead],
    operation_id="list_institutions",
    summary="List institutions",
    responses=responses(400),
)
async def list_institutions(
    session: SessionDep,
    type: InstitutionType | None = None,
    q: Annotated[str | None, Query(max_length=100, description="Text in the name.")] = None,
    cursor: str | None = None,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = DEFAULT_LIMIT,
) -> Page[InstitutionRead]:
    """List registered institutions, oldest first."""
    return await institutions.page(session, type_=type, q=q, cursor=cursor, limit=limit)


@router.get(
    "/institutions/{institution_id}",
    response_model=InstitutionRead,
    operation_id="get_institution",
    summary="Get an institution",
    responses=responses(404),
)
async def get_institution(institution_id: uuid.UUID, session: SessionDep) -> InstitutionRead:
    """Get one institution."""
    return await institutions.get(session, institution_id)
