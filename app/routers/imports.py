"""Import jobs: a large import's state and progress, its per-row results, and cancelling it."""

import uuid
from typing import Annotated, Literal

from fastapi import APIRouter, Query, Request
from starlette.responses import StreamingResponse

from app.auth import PrincipalDep
from app.db import SessionDep
from app.errors import responses
from app.schemas.batch import BatchResult
from app.schemas.common import DEFAULT_LIMIT, MAX_LIMIT, Page
from app.schemas.import_job import ImportJobRead
from app.services import import_jobs

router = APIRouter(prefix="/api/v1/imports", tags=["imports"])


@router.get(
    "/{job_id}",
    response_model=ImportJobRead,
    operation_id="get_import",
    summary="Get an import job",
    responses=responses(401, 404),
)
async def get_import(
    job_id: uuid.UUID, session: SessionDep, principal: PrincipalDep
) -> ImportJobRead:
    """Get the job's state and progress (the importing region and administrators)."""
    return ImportJobRead.model_validate(await import_jobs.get(session, principal, job_id))


@router.get(
    "/{job_id}/results",
    response_model=Page[BatchResult],
    operation_id="list_import_results",
    summary="List an import job's per-row results",
    responses={
        200: {
            "description": "One result per row done, in row order; as CSV with ?format=csv.",
            "content": {"text/csv": {"schema": {"type": "string"}}},
        },
        **responses(400, 401, 404),
    },
)
async def list_import_results(
    job_id: uuid.UUID,
    request: Request,
    session: SessionDep,
    principal: PrincipalDep,
    format: Annotated[
        Literal["json", "csv"], Query(description="json (paged) or csv (every row, UTF-8).")
    ] = "json",
    cursor: str | None = None,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = DEFAULT_LIMIT,
) -> Page[BatchResult] | StreamingResponse:
    """The rows done so far with their outcome and spreadsheet row number, in row order."""
    if format == "csv":
        stream = await import_jobs.results_csv(
            session, request.app.state.sessions, principal, job_id
        )
        return StreamingResponse(
            stream,
            media_type="text/csv; charset=utf-8",
            headers={"Content-Disposition": f'attachment; filename="import-{job_id}.csv"'},
        )
    page = await import_jobs.results(session, principal, job_id, cursor=cursor, limit=limit)
    return Page[BatchResult].model_validate(page)


@router.post(
    "/{job_id}/cancel",
    response_model=ImportJobRead,
    operation_id="cancel_import",
    summary="Cancel an import job",
    responses=responses(401, 404, 409),
)
async def cancel_import(
    job_id: uuid.UUID, session: SessionDep, principal: PrincipalDep
) -> ImportJobRead:
    """Cancel a queued job at once; a running one stops before its next chunk (409 if done)."""
    return ImportJobRead.model_validate(await import_jobs.cancel(session, principal, job_id))
