"""Financial institutions (金融机构): administrators register them, anyone reads them; an
administrator or the institution itself changes them (who may change what:
app/services/institutions.py)."""

import uuid
from typing import Annotated

from fastapi import APIRouter, Query, Response

from app import idempotency
from app.auth import AdminDep, PrincipalDep, require_roles
from app.db import SessionDep
from app.errors import responses
from app.models import InstitutionType, Role
from app.routers.if_match import IfMatch
from app.schemas.common import DEFAULT_LIMIT, MAX_LIMIT, Page
from app.schemas.institution import InstitutionCreate, InstitutionRead, InstitutionUpdate
from app.services import institutions

router = APIRouter(prefix="/api/v1", tags=["institutions"])


def _with_etag(answer: InstitutionRead, response: Response) -> InstitutionRead:
    response.headers["ETag"] = institutions.etag(answer)
    return answer


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
async def get_institution(
    institution_id: uuid.UUID, session: SessionDep, response: Response
) -> InstitutionRead:
    """Get one institution with its ETag; `If-None-Match` with the current ETag answers 304
    with no body."""
    return _with_etag(await institutions.get(session, institution_id), response)


@router.patch(
    "/institutions/{institution_id}",
    response_model=InstitutionRead,
    operation_id="update_institution",
    summary="Change an institution (its open-data consent, or the register's fields)",
    responses=responses(401, 403, 404, 412, 422, 428),
    dependencies=[require_roles(Role.admin, Role.institution)],  # type: ignore[list-item]
)
async def update_institution(
    institution_id: uuid.UUID,
    body: InstitutionUpdate,
    session: SessionDep,
    principal: PrincipalDep,
    response: Response,
    if_match: IfMatch = None,
) -> InstitutionRead:
    """Change the fields sent (If-Match required). An administrator changes the name, type and
    open-data consent; the institution's own key gives or withdraws its consent, nothing else
    (403). The USCC never changes (422). The IATI export reflects a consent change at once."""
    answer = await institutions.update(session, principal, institution_id, body, if_match)
    return _with_etag(answer, response)
