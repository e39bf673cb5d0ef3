"""Project–product matching (对接): ranked lists both ways, explanations, previews."""

import uuid
from typing import Annotated

from fastapi import APIRouter, Query
from starlette.responses import Response

from app.auth import PrincipalDep, require_roles
from app.db import SessionDep, reads_only
from app.errors import responses
from app.models import ConstructionStatus, Objective, Role
from app.responses import json_response
from app.schemas.common import DEFAULT_LIMIT, MAX_LIMIT, Page
from app.schemas.matching import MatchRead, PreviewRead, PreviewRequest
from app.schemas.product import CategoryCode
from app.services.matching import service as matching
from app.services.matching.eligibility import ELIGIBILITY_DOC
from app.services.matching.scoring import SCORING_DOC

MATCHING_DOC = f"{ELIGIBILITY_DOC}\n\n{SCORING_DOC}"

router = APIRouter(prefix="/api/v1", tags=["matching"])


@router.get(
    "/products/{product_id}/matches",
    response_model=Page[MatchRead],
    operation_id="list_product_matches",
    summary="A product's eligible library projects, ranked",
    description="List the library projects the product accepts, by score (then id).\n\n"
    + MATCHING_DOC,
    responses=responses(400, 401, 403, 404),
)
async def list_product_matches(
    product_id: uuid.UUID,
    session: SessionDep,
    principal: PrincipalDep,
    region_code: Annotated[
        str | None, Query(pattern=r"^\d{2}(\d{2}(\d{2})?)?$", description="Region prefix.")
    ] = None,
    category: CategoryCode | None = None,
    objective: Objective | None = None,
    construction_status: ConstructionStatus | None = None,
    min_score: Annotated[float | None, Query(ge=0, le=100)] = None,
    explain: Annotated[bool, Query(description="Include each pair's explanation.")] = True,
    cursor: str | None = None,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = DEFAULT_LIMIT,
) -> Response:
    """List the library projects the product accepts, by score (then id); owner or admin."""
    # A measured hot path: the service's page is plain JSON values, encoded once by orjson.
    page = await matching.product_matches(
        session,
        principal,
        product_id,
        filters=matching.ProjectFilters(
            region_code=region_code,
            category=category,
            objective=objective,
            construction_status=construction_status,
            min_score=min_score,
        ),
        cursor=cursor,
        limit=limit,
        with_explanation=explain,
    )
    return json_response(page)


@router.get(
    "/projects/{project_id}/matches",
    response_model=Page[MatchRead],
    operation_id="list_project_matches",
    summary="A project's eligible active products, ranked",
    responses=responses(400, 401, 403, 404),
)
async def list_project_matches(
    project_id: uuid.UUID,
    session: SessionDep,
    principal: PrincipalDep,
    cursor: str | None = None,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = DEFAULT_LIMIT,
) -> Response:
    """List the active products that accept the project: by score, then lower rate, then id."""
    page = await matching.project_matches(
        session, principal, project_id, cursor=cursor, limit=limit
    )
    return json_response(page)


@router.get(
    "/matches/explain",
    response_model=MatchRead,
    operation_id="explain_match",
    summary="Explain one project–product pair",
    description="Say for every criterion whether the pair passes, the values compared and the "
    "points.\n\n" + MATCHING_DOC,
    responses=responses(401, 403, 404),
)
async def explain_match(
    project_id: uuid.UUID, product_id: uuid.UUID, session: SessionDep, principal: PrincipalDep
) -> MatchRead:
    """Say for every criterion whether the pair passes, the values compared and the points."""
    return await matching.explain_pair(session, principal, project_id, product_id)


@router.post(
    "/matching/preview",
    response_model=PreviewRead,
    operation_id="preview_matching",
    summary="Preview unsaved criteria against the library",
    responses=responses(401, 403, 422),
    dependencies=[require_roles(Role.institution, Role.admin)],  # type: ignore[list-item]
)
@reads_only
async def preview_matching(
    body: PreviewRequest, session: SessionDep, principal: PrincipalDep
) -> PreviewRead:
    """Count the library projects that criteria would admit and list the best of them."""
    return await matching.preview(session, principal, body)
