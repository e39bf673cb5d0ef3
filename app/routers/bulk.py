"""Bulk exchange of projects: the batch upsert, the spreadsheet import and the export.

Registered before the project routes: ``/projects/{project_id}`` would otherwise take these paths.
"""

import hashlib
from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, File, Query, Request, UploadFile
from starlette.responses import Response, StreamingResponse
from starlette.types import Receive, Scope, Send

from app import idempotency
from app.auth import PrincipalDep
from app.db import SessionDep
from app.errors import responses
from app.openapi import KEY_OPTIONAL
from app.routers.project_params import FiltersDep, RegionDep, SortQuery
from app.routers.query_types import UPDATED_UNTIL_DOC, updated_until_header
from app.schemas.batch import BatchRequest, BatchResponse
from app.schemas.import_job import ImportJobRead
from app.services import batch, batch_import, export, import_jobs

router = APIRouter(prefix="/api/v1", tags=["projects"])


class ClosingStreamingResponse(StreamingResponse):
    """A streaming answer that closes its stream however the answer ends: sent whole, the client
    gone, or dropped by the send timeout. An export's temporary file then goes at once, not
    whenever the garbage collector reaches the abandoned generator."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            close = getattr(self.body_iterator, "aclose", None)
            if close is not None:
                await close()


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
    responses={
        202: {
            "model": ImportJobRead,
            "description": "More than 1,000 rows: the import runs as a job, at its Location.",
            "headers": {"Location": {"schema": {"type": "string"}, "description": "The job."}},
        },
        **responses(400, 401, 403, 409, 413, 422),
    },
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
    """Upsert every row of the file as a batch item would be; results carry the row numbers.

    A file of at most 1,000 rows is imported at once (200, per-row results). A larger one is
    checked, stored and imported as a job (202, Location: /api/v1/imports/{id}): follow its
    progress there, and its results at /api/v1/imports/{id}/results."""
    batch_import.ensure_file_size(file.size)
    data = await file.read()
    fingerprint = {"file_sha256": hashlib.sha256(data).hexdigest(), "filename": file.filename}

    # Read before the transaction's first write (the Idempotency-Key's claim): a large workbook
    # is seconds of parsing.
    scanned = await batch_import.scan(data, file.filename, file.content_type)
    # A job's file is stored in short transactions of its own: SQLite's write lock is then held
    # only to create the job.
    staged = await batch_import.stage(session, scanned)
    submitted = False

    async def produce() -> idempotency.Stored:
        nonlocal submitted
        outcome = await batch_import.run_import(session, principal, scanned, staged)
        if outcome.job is None:
            return idempotency.Stored(200, outcome.answer)
        submitted = True
        job = ImportJobRead.model_validate(outcome.answer).model_dump(mode="json")
        return idempotency.Stored(202, job, {"Location": import_jobs.location(outcome.job.id)})

    answer = await idempotency.run(
        request, session, principal, idempotency_key, fingerprint, produce
    )
    if staged is not None and not submitted:  # a replay: the first request's job answers
        await import_jobs.discard(session, staged)
    return answer


@router.get(
    "/projects/export",
    openapi_extra=KEY_OPTIONAL,
    operation_id="export_projects",
    summary="Export projects as CSV or XLSX",
    response_class=ClosingStreamingResponse,
    responses={
        200: {
            "description": "The projects the caller may see, one per row, header in row 1.",
            "headers": UPDATED_UNTIL_DOC,
            "content": {
                "text/csv": {"schema": {"type": "string"}},
                export.XLSX_MEDIA_TYPE: {"schema": {"type": "string", "format": "binary"}},
            },
        },
        **responses(400, 401, 403, 422),
    },
)
async def export_projects(
    request: Request,
    session: SessionDep,
    principal: PrincipalDep,
    filters: FiltersDep,
    format: Annotated[export.Format, Query(description="csv (UTF-8 with BOM) or xlsx.")] = "csv",
    header: Annotated[
        export.HeaderStyle,
        Query(
            description=(
                "Row 1: field names, or their Chinese or English names (the import reads all "
                "three). Label columns next to coded ones (status_label, category_labels, …) are "
                "in English with header=en, in Chinese otherwise."
            )
        ),
    ] = "field",
    sort: SortQuery = "-created_at",
) -> ClosingStreamingResponse:
    """Stream every project the caller may see, as the list shows it, with the list's filters."""
    stamp = datetime.now(UTC).strftime("%Y%m%d")
    media = export.CSV_MEDIA_TYPE if format == "csv" else export.XLSX_MEDIA_TYPE
    chunks, until = await export.stream(
        session,
        request.app.state.sessions,
        principal,
        filters,
        format=format,
        sort=sort,
        header=header,
    )
    return ClosingStreamingResponse(
        chunks,
        media_type=media,
        headers={
            "Content-Disposition": f'attachment; filename="climatelib-projects-{stamp}.{format}"',
            **updated_until_header(until),
        },
    )
