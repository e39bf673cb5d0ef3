"""The project library (入库项目): push, read, list, update, move along the lifecycle."""

import hashlib
import uuid
from datetime import UTC, datetime
from decimal import Decimal
from typing import Annotated, Any, Literal

import orjson
from fastapi import APIRouter, Depends, File, Header, Query, Request, UploadFile
from starlette.responses import Response, StreamingResponse

from app import idempotency
from app.auth import Principal, PrincipalDep, require_roles
from app.db import SessionDep
from app.errors import responses
from app.models import Role
from app.models.flags import CATEGORIES, FINANCING_TYPES
from app.models.project import ConstructionStatus, Objective, ProjectStatus
from app.repositories.projects import ProjectFilters
from app.schemas.batch import BatchRequest, BatchResponse
from app.schemas.common import DEFAULT_LIMIT, MAX_LIMIT, Page, json_default
from app.schemas.project import (
    MONEY_MAX,
    Category,
    FinancingType,
    ProjectCreate,
    ProjectRead,
    ProjectUpdate,
    TransitionCreate,
    TransitionRead,
)
from app.services import batch, export, projects

router = APIRouter(prefix="/api/v1", tags=["projects"])

RegionDep = Annotated[Principal, require_roles(Role.region)]
IfMatch = Annotated[
    str | None,
    Header(
        alias="If-Match",
        description='The ETag of the project this write is based on, e.g. "3" (required).',
    ),
]
SortName = Literal[
    "created_at",
    "-created_at",
    "updated_at",
    "-updated_at",
    "financing_need",
    "-financing_need",
    "name",
    "-name",
]


def _json(body: Any, status_code: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(
        orjson.dumps(body, default=json_default),
        status_code=status_code,
        media_type="application/json",
        headers=headers,
    )


def _project_response(body: dict[str, Any], status_code: int = 200) -> Response:
    return _json(body, status_code, {"ETag": projects.etag(body["version"])})


@router.post(
    "/projects",
    status_code=201,
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


def project_filters(
    status: Annotated[
        list[ProjectStatus] | None, Query(description="Any of these statuses.")
    ] = None,
    objective: Annotated[
        list[Objective] | None, Query(description="Any of these objectives.")
    ] = None,
    category: Annotated[
        list[Category] | None, Query(description="Has any of these categories.")
    ] = None,
    region_code: Annotated[
        str | None,
        Query(pattern=r"^\d{1,6}$", description="Region code prefix: 44, 4403, 440304."),
    ] = None,
    industry_code: Annotated[
        str | None,
        Query(pattern=r"^[A-T]\d{0,4}$", description="GB/T 4754 code or prefix: D, D44, D4415."),
    ] = None,
    construction_status: Annotated[
        list[ConstructionStatus] | None, Query(description="Any of these construction statuses.")
    ] = None,
    financing_type: Annotated[
        list[FinancingType] | None, Query(description="Wants any of these financing types.")
    ] = None,
    need_min: Annotated[
        Decimal | None,
        Query(
            ge=0, le=MONEY_MAX, allow_inf_nan=False, description="financing_need at least (CNY)."
        ),
    ] = None,
    need_max: Annotated[
        Decimal | None,
        Query(ge=0, le=MONEY_MAX, allow_inf_nan=False, description="financing_need at most (CNY)."),
    ] = None,
    two_high: Annotated[bool | None, Query(description="In a 两高 industry, or not.")] = None,
    two_high_retrofit: Annotated[
        bool | None, Query(description="Flagged as a 两高 retrofit, or not.")
    ] = None,
    q: Annotated[
        str | None, Query(min_length=1, max_length=200, description="Text in name or summary.")
    ] = None,
    updated_since: Annotated[
        datetime | None, Query(description="Changed at or after this instant (ISO 8601).")
    ] = None,
) -> ProjectFilters:
    """The list's filters (query parameters), shared by the list and the export."""
    if updated_since is not None and updated_since.tzinfo is None:
        updated_since = updated_since.replace(tzinfo=UTC)
    return ProjectFilters(
        status=status,
        objective=[o.value for o in objective] if objective else None,
        categories_mask=CATEGORIES.mask(c.value for c in category or ()),
        region_code=region_code,
        industry_code=industry_code,
        construction_status=[c.value for c in construction_status] if construction_status else None,
        financing_types_mask=FINANCING_TYPES.mask(t.value for t in financing_type or ()),
        need_min=need_min,
        need_max=need_max,
        two_high=two_high,
        two_high_retrofit=two_high_retrofit,
        q=q,
        updated_since=updated_since,
    )


FiltersDep = Annotated[ProjectFilters, Depends(project_filters)]
SortQuery = Annotated[SortName, Query(description="Order; '-' for descending. Ties break on id.")]


@router.get(
    "/projects",
    response_model=Page[ProjectRead],
    operation_id="list_projects",
    summary="List projects",
    responses=responses(400, 401, 422),
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
    page = await projects.list_projects(
        session, principal, filters, sort=sort, cursor=cursor, limit=limit
    )
    return _json(page)


# ---- bulk: registered before /projects/{project_id}, which would otherwise take these paths -----


@router.post(
    "/projects/batch",
    response_model=BatchResponse,
    operation_id="upsert_projects_batch",
    summary="Create or update up to 1,000 projects by external_ref",
    responses=responses(400, 401, 403, 409, 422),
)
async def upsert_projects_batch(
    request: Request,
    body: BatchRequest,
    session: SessionDep,
    principal: RegionDep,
    idempotency_key: idempotency.IdempotencyKey = None,
) -> Response:
    """Upsert each item by the region's external_ref; per-item results, in item order."""
    items = body.raw_items()

    async def produce() -> idempotency.Stored:
        return idempotency.Stored(200, await batch.run_batch(session, principal, items))

    return await idempotency.run(
        request, session, principal, idempotency_key, {"items": items}, produce
    )


@router.post(
    "/projects/import",
    response_model=BatchResponse,
    operation_id="import_projects",
    summary="Import a CSV or XLSX file of projects",
    responses=responses(400, 401, 403, 409, 413, 422),
)
async def import_projects(
    request: Request,
    file: Annotated[
        UploadFile,
        File(description="CSV (UTF-8 or GB18030) or XLSX; the export's columns, row 1 headers."),
    ],
    session: SessionDep,
    principal: RegionDep,
    idempotency_key: idempotency.IdempotencyKey = None,
) -> Response:
    """Upsert every row of the file as a batch item would be; results carry the row numbers."""
    if file.size is not None and file.size > batch.MAX_IMPORT_BYTES:
        raise batch.PayloadTooLarge(
            f"A file is at most {batch.MAX_IMPORT_BYTES // (1024 * 1024)} MB.",
            code="file_too_large",
        )
    data = await file.read()
    fingerprint = {"file_sha256": hashlib.sha256(data).hexdigest(), "filename": file.filename}

    async def produce() -> idempotency.Stored:
        answer = await batch.run_import(session, principal, data, file.filename, file.content_type)
        return idempotency.Stored(200, answer)

    return await idempotency.run(request, session, principal, idempotency_key, fingerprint, produce)


@router.get(
    "/projects/export",
    operation_id="export_projects",
    summary="Export projects as CSV or XLSX",
    response_class=StreamingResponse,
    responses={
        200: {
            "description": "The projects the caller may see, one per row, header in row 1.",
            "content": {
                "text/csv": {"schema": {"type": "string"}},
                export.XLSX_MEDIA_TYPE: {"schema": {"type": "string", "format": "binary"}},
            },
        },
        **responses(400, 401, 422),
    },
)
async def export_projects(
    request: Request,
    principal: PrincipalDep,
    filters: FiltersDep,
    format: Annotated[export.Format, Query(description="csv (UTF-8 with BOM) or xlsx.")] = "csv",
    header: Annotated[
        export.HeaderStyle,
        Query(description="Row 1: field names, or their Chinese names; the import reads both."),
    ] = "field",
    sort: SortQuery = "-created_at",
) -> StreamingResponse:
    """Stream every project the caller may see, as the list shows it, with the list's filters."""
    stamp = datetime.now(UTC).strftime("%Y%m%d")
    media = export.CSV_MEDIA_TYPE if format == "csv" else export.XLSX_MEDIA_TYPE
    return StreamingResponse(
        export.stream(
            request.app.state.sessions, principal, filters, format=format, sort=sort, header=header
        ),
        media_type=media,
        headers={
            "Content-Disposition": f'attachment; filename="climatelib-projects-{stamp}.{format}"'
        },
    )


@router.get(
    "/projects/{project_id}",
    response_model=ProjectRead,
    operation_id="get_project",
    summary="Get a project",
    responses=responses(401, 404),
)
async def get_project(
    project_id: uuid.UUID, session: SessionDep, principal: PrincipalDep
) -> Response:
    """One project as the caller may see it, with its ETag."""
    return _project_response(await projects.get(session, principal, project_id))


@router.patch(
    "/projects/{project_id}",
    response_model=ProjectRead,
    operation_id="update_project",
    summary="Update a project",
    responses=responses(401, 403, 404, 409, 412, 422, 428),
)
async def update_project(
    project_id: uuid.UUID,
    body: ProjectUpdate,
    session: SessionDep,
    principal: PrincipalDep,
    if_match: IfMatch = None,
) -> Response:
    """Change the fields sent (If-Match required); in the library, screening changes re-submit."""
    project = await projects.update(session, principal, project_id, body, if_match)
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
