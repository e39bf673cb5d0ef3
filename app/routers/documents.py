"""Project documents: upload, list, download."""

import uuid
from collections.abc import Callable, Coroutine
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, File, Form, Query, Request, UploadFile
from fastapi.routing import APIRoute
from starlette.exceptions import HTTPException
from starlette.responses import Response, StreamingResponse
from starlette.types import Message

from app import idempotency, uploads
from app.auth import PrincipalDep
from app.db import SessionDep
from app.errors import problem_response, responses
from app.limits import MULTIPART_ENVELOPE_BYTES
from app.models import DocumentType, DocumentVisibility
from app.openapi import KEY_OPTIONAL
from app.schemas.common import DEFAULT_LIMIT, MAX_LIMIT, Page
from app.schemas.document import DocumentRead
from app.services import documents


class _UploadTooLarge(HTTPException):
    """Raised from ``receive`` when an upload passes the document cap while it streams in."""

    def __init__(self) -> None:
        super().__init__(413)


def _too_large(request: Request, max_bytes: int) -> Response:
    error = documents.file_too_large(max_bytes)
    # The rest of the body is never read: close the connection rather than drain it.
    return problem_response(
        413,
        error.code,
        error.title,
        error.detail,
        headers={"Connection": "close"},
        request=request,
        limit_bytes=max_bytes,
    )


class CappedUploadRoute(APIRoute):
    """A route whose multipart body is cut as soon as it passes the document cap (plus room for
    the multipart framing): a declared Content-Length over it is refused before a byte is read,
    a streamed body at the first chunk past it. The file's exact size is checked again after.
    The form is parsed by ``app.uploads``, which hashes the file as it streams in."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def capped(request: Request) -> Response:
            max_bytes: int = request.app.state.settings.document_max_bytes
            limit = max_bytes + MULTIPART_ENVELOPE_BYTES
            length = request.headers.get("content-length", "")
            if length.isdigit() and int(length) > limit:
                return _too_large(request, max_bytes)
            receive, received = request.receive, 0

            async def counting_receive() -> Message:
                nonlocal received
                message = await receive()
                if message["type"] == "http.request":
                    received += len(message.get("body", b""))
                    if received > limit:
                        raise _UploadTooLarge
                return message

            request._receive = counting_receive
            try:
                await uploads.parse_form(request)
                return await handler(request)
            except _UploadTooLarge:
                return _too_large(request, max_bytes)

        return capped


router = APIRouter(prefix="/api/v1", tags=["documents"])
upload_router = APIRouter(prefix="/api/v1", tags=["documents"], route_class=CappedUploadRoute)


@upload_router.post(
    "/projects/{project_id}/documents",
    status_code=201,
    response_model=DocumentRead,
    operation_id="upload_project_document",
    summary="Attach a document to a project",
    responses=responses(401, 403, 404, 409, 413, 415, 422),
)
async def upload_project_document(
    project_id: uuid.UUID,
    request: Request,
    file: Annotated[
        UploadFile,
        File(description="PDF, PNG, JPEG, XLSX, DOCX, plain text or CSV, checked by content."),
    ],
    type: Annotated[DocumentType, Form(description="What the document is.")],
    visibility: Annotated[
        DocumentVisibility, Form(description="public or restricted.")
    ] = DocumentVisibility.restricted,
    *,
    session: SessionDep,
    principal: PrincipalDep,
    idempotency_key: idempotency.IdempotencyKey = None,
) -> Response:
    """Attach a document to a project (its region or the administrator); kept with its SHA-256.

    With an `Idempotency-Key`, a retry with the same file (by content), file name, part
    Content-Type, `type` and `visibility` answers the first upload's document again, storing
    nothing more; the same key with another file or field answers 422."""
    state = request.app.state
    incoming = documents.Upload(
        file.file, file.filename, file.content_type, file.size or 0, uploads.sha256_of(file)
    )
    fingerprint = documents.fingerprint(incoming, type=type, visibility=visibility)

    # Checked and stored before the transaction's first write (the Idempotency-Key's claim).
    staged = await documents.stage(
        session,
        state.document_store,
        principal,
        project_id,
        incoming,
        type=type,
        visibility=visibility,
        max_bytes=state.settings.document_max_bytes,
    )
    recorded = False

    async def produce() -> idempotency.Stored:
        nonlocal recorded
        document = await documents.record(session, principal, staged)
        recorded = True
        body = document.model_dump(mode="json", by_alias=True)
        return idempotency.Stored(201, body, {"Location": document.content_url})

    answer = await idempotency.run(
        request, session, principal, idempotency_key, fingerprint, produce
    )
    if not recorded:  # a replay: the first upload's document answers, this file is not kept
        await documents.discard(state.document_store, staged)
    return answer


@router.get(
    "/projects/{project_id}/documents",
    response_model=Page[DocumentRead],
    openapi_extra=KEY_OPTIONAL,
    operation_id="list_project_documents",
    summary="List a project's documents",
    responses=responses(400, 401, 404),
)
async def list_project_documents(
    project_id: uuid.UUID,
    session: SessionDep,
    principal: PrincipalDep,
    cursor: str | None = None,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = DEFAULT_LIMIT,
) -> Page[DocumentRead]:
    """The project's documents the caller may see: public ones for whoever reads the project."""
    items, after = await documents.list_documents(
        session, principal, project_id, cursor=cursor, limit=limit
    )
    return Page[DocumentRead](items=items, next_cursor=after)


@router.get(
    "/documents/{document_id}/content",
    openapi_extra=KEY_OPTIONAL,
    operation_id="download_document",
    summary="Download a document",
    response_class=StreamingResponse,
    responses={
        200: {
            "description": "The document's bytes, with its media type.",
            "content": {
                "application/octet-stream": {"schema": {"type": "string", "format": "binary"}}
            },
        },
        **responses(401, 404),
    },
)
async def download_document(
    document_id: uuid.UUID, request: Request, session: SessionDep, principal: PrincipalDep
) -> StreamingResponse:
    """The document's content, if the caller may see the document."""
    found = await documents.content(
        session, request.app.state.document_store, principal, document_id
    )
    doc = found.document
    restricted = doc.visibility is DocumentVisibility.restricted
    return StreamingResponse(
        found.chunks,
        media_type=doc.media_type,
        headers={
            "Content-Length": str(doc.size_bytes),
            "Content-Disposition": f"attachment; filename*=UTF-8''{quote(doc.filename)}",
            "ETag": f'"{doc.sha256}"',
            "Cache-Control": "private, no-store" if restricted else "public, max-age=300",
        },
    )
