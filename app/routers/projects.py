"""The project library (入库项目): push, read, list, update, move along the lifecycle."""

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from sqlalchemy.ext.asyncio import AsyncConnection
from starlette.responses import Response

from app import idempotency
from app.auth import PrincipalDep
from app.db import SessionDep
from app.errors import responses
from app.models import Role
from app.openapi import KEY_OPTIONAL, SENDS_ETAG
from app.responses import json_response
from app.routers.if_match import IfMatch
from app.routers.project_params import FiltersDep, RegionDep, SortQuery
from app.routers.public_read import PublicRead, declared_route
from app.routers.query_types import UPDATED_UNTIL_DOC, updated_until_header
from app.schemas.common import DEFAULT_LIMIT, MAX_LIMIT, Page
from app.schemas.project import (
    ProjectCreate,
    ProjectRead,
    ProjectUpdate,
)
from app.schemas.project_transition import TransitionCreate, TransitionRead
from app.schemas.revision import RevisionAction, RevisionRead, RevisionStep
from app.services import projects

router = APIRouter(prefix="/api/v1", tags=["projects"])


# The roles that write a project (its region; the reviewer and the administrator move it along
# its lifecycle): their view of it is the row's, so its version tells when it changed.
_WRITERS = frozenset({Role.region, Role.reviewer, Role.admin})


def _project_response(body: dict[str, Any], status_code: int = 200) -> Response:
    return json_response(body, status_code, {"ETag": projects.etag(body["version"])})


@router.post(
    "/projects",
    status_code=201,
    openapi_extra=SENDS_ETAG,
    response_model=ProjectRead,
    operation_id="create_project",
    summary="Push a project (draft)",
    responses=responses(400, 401, 403, 409, 422),
)
async def create_project(
    request: Request,
    body: ProjectCreate,
    session: SessionDep,
    principal: RegionDep,
    idempotency_key: idempotency.IdempotencyKey = None,
) -> Response:
    """Create a draft project in the region's scope; validated and 两高-screened."""

    async def produce() -> idempotency.Stored:
        project = await projects.create(session, principal, body)
        data = await projects.present(session, principal, project)
        return idempotency.Stored(
            201,
            data,
            {"ETag": projects.etag(project.version), "Location": f"/api/v1/projects/{project.id}"},
        )

    return await idempotency.run(
        request, session, principal, idempotency_key, body.model_dump(mode="json"), produce
    )


@router.get(
    "/projects",
    openapi_extra=KEY_OPTIONAL,
    response_model=Page[ProjectRead],
    operation_id="list_projects",
    summary="List projects",
    responses={200: {"headers": UPDATED_UNTIL_DOC}, **responses(400, 401, 403, 422)},
)
async def list_projects(
    session: SessionDep,
    principal: PrincipalDep,
    filters: FiltersDep,
    sort: SortQuery = "-created_at",
    cursor: Annotated[str | None, Query(description="next_cursor of the previous page.")] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT, description="Page size.")] = DEFAULT_LIMIT,
) -> Response:
    """List the projects the caller may see: filters, sort and cursor pages."""
    page, until = await projects.list_projects(
        session, principal, filters, sort=sort, cursor=cursor, limit=limit
    )
    return json_response(page, headers=updated_until_header(until))


async def public_list_projects(connection: AsyncConnection, args: dict[str, Any]) -> Response:
    """``list_projects`` for the public (app/routers/public_read.py): the same arguments, read
    from the query string at once, on a connection of its own."""
    page, until = await projects.list_public(connection, **args)
    return json_response(page, headers=updated_until_header(until))


@router.get(
    "/projects/{project_id}",
    openapi_extra=KEY_OPTIONAL,
    response_model=ProjectRead,
    operation_id="get_project",
    summary="Get a project",
    responses=responses(401, 404),
)
async def get_project(
    project_id: uuid.UUID, session: SessionDep, principal: PrincipalDep
) -> Response:
    """One project as the caller may see it, with its ETag; `If-None-Match` with the current
    ETag answers 304 with no body. For a key that may write or move the project the ETag is its
    version (send it as `If-Match`); for the public and institutions it is a hash of the answer."""
    body = await projects.get(session, principal, project_id)
    if principal.role in _WRITERS:
        return _project_response(body)
    return json_response(body)


@router.patch(
    "/projects/{project_id}",
    response_model=ProjectRead,
    operation_id="update_project",
    summary="Update a project",
    responses={
        202: {
            "model": RevisionRead,
            "description": "A library project's screening fields were proposed: the revision "
            "opened for them (the ETag is the project's).",
        },
        **responses(401, 403, 404, 409, 412, 422, 428),
    },
)
async def update_project(
    project_id: uuid.UUID,
    body: ProjectUpdate,
    session: SessionDep,
    principal: PrincipalDep,
    if_match: IfMatch = None,
) -> Response:
    """Change the fields sent (If-Match required). In the library, progress fields change at
    once; a change to a screening field opens a revision (202) and the project stays in the
    library with its approved fields until the revision is approved. ``financing_secured`` never
    goes below what financed offers recorded (422 ``financing_below_recorded``)."""
    project, revision = await projects.update(session, principal, project_id, body, if_match)
    if revision is not None:
        answer = RevisionRead.model_validate(revision).model_dump(mode="json")
        return json_response(answer, 202, {"ETag": projects.etag(project.version)})
    return _project_response(await projects.present(session, principal, project))


@router.post(
    "/projects/{project_id}/transitions",
    response_model=ProjectRead,
    operation_id="transition_project",
    summary="Move a project along its lifecycle",
    responses=responses(401, 403, 404, 409, 412, 422, 428),
)
async def transition_project(
    project_id: uuid.UUID,
    body: TransitionCreate,
    session: SessionDep,
    principal: PrincipalDep,
    if_match: IfMatch = None,
) -> Response:
    """Submit, recommend, approve, return, reject, withdraw or exit (If-Match required)."""
    project = await projects.transition(session, principal, project_id, body, if_match)
    return _project_response(await projects.present(session, principal, project))


@router.get(
    "/projects/{project_id}/history",
    response_model=Page[TransitionRead],
    operation_id="list_project_history",
    summary="A project's lifecycle history",
    responses=responses(400, 401, 403, 404),
)
async def list_project_history(
    project_id: uuid.UUID,
    session: SessionDep,
    principal: PrincipalDep,
    cursor: Annotated[str | None, Query(description="next_cursor of the previous page.")] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = DEFAULT_LIMIT,
) -> Page[TransitionRead]:
    """Every transition of the project, oldest first: who, when, from, to, why."""
    steps, next_cursor = await projects.history(
        session, principal, project_id, cursor=cursor, limit=limit
    )
    return Page[TransitionRead](
        items=[TransitionRead.model_validate(s) for s in steps], next_cursor=next_cursor
    )


@router.get(
    "/projects/{project_id}/revisions",
    response_model=Page[RevisionRead],
    operation_id="list_project_revisions",
    summary="A library project's revisions",
    responses=responses(400, 401, 403, 404),
)
async def list_project_revisions(
    project_id: uuid.UUID,
    session: SessionDep,
    principal: PrincipalDep,
    cursor: Annotated[str | None, Query(description="next_cursor of the previous page.")] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = DEFAULT_LIMIT,
) -> Page[RevisionRead]:
    """The revisions (项目变更) of the project, oldest first: the fields proposed and where their
    review is. For the project's region, reviewer and the administrator."""
    rows, next_cursor = await projects.list_revisions(
        session, principal, project_id, cursor=cursor, limit=limit
    )
    return Page[RevisionRead](
        items=[RevisionRead.model_validate(r) for r in rows], next_cursor=next_cursor
    )


@router.post(
    "/projects/{project_id}/revisions/{revision_id}/{action}",
    response_model=RevisionRead,
    operation_id="review_project_revision",
    summary="Recommend, approve, return or reject a revision",
    responses=responses(401, 403, 404, 409, 412, 422),
)
async def review_project_revision(
    project_id: uuid.UUID,
    revision_id: uuid.UUID,
    action: RevisionAction,
    body: RevisionStep,
    session: SessionDep,
    principal: PrincipalDep,
) -> RevisionRead:
    """Review a revision as a submission is reviewed: the province's reviewer recommends (or
    returns or rejects at submitted), the administrator approves, returns or rejects. Approval
    applies the fields, screened again; return and reject leave the approved fields."""
    revision = await projects.revision_step(
        session, principal, project_id, revision_id, action, body
    )
    return RevisionRead.model_validate(revision)


# The public reads served ahead of FastAPI's dependencies (app/routers/public_read.py).
# A flag filter is for reviewers: the declared route answers the public its 401.
PUBLIC_READS = [
    PublicRead(
        declared_route(router, list_projects),
        public_list_projects,
        takes=lambda kwargs: kwargs["filters"].flag is None,
    )
]
