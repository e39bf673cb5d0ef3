"""Project documents (项目文件): upload, list and download, each as the caller may.

Who may upload: the project's region and the administrator. What a file may be: PDF, PNG, JPEG,
XLSX, DOCX, plain text or CSV, recognised by its content (the first bytes, and for XLSX and DOCX
the parts of the zip), never by its name alone; the name's extension and the part's
Content-Type, where they name a type, must agree with the content (415 otherwise). The size is
capped while the upload streams in (the router) and checked again here. Nothing is stored
before every check has passed; the bytes then go to the document store (app/storage.py), before
the request's transaction writes anything (``stage``), and the row, with the content's SHA-256,
to the database, with an event in the project's history (``record``).
"""

import codecs
import logging
import uuid
import zipfile
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import PurePosixPath
from typing import IO

import anyio
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.auth import Principal
from app.db import Undo, read_apart, undo_unless_committed
from app.errors import (
    Forbidden,
    NotFound,
    PayloadTooLarge,
    RuleViolation,
    Unauthorized,
    UnsupportedMediaType,
    field_error,
)
from app.ids import new_id
from app.models import Document, DocumentType, DocumentVisibility, Project, Role
from app.models.base import utcnow
from app.repositories import documents as repo
from app.repositories import projects as projects_repo
from app.schemas.document import DocumentRead
from app.services import audit
from app.storage import DocumentStore

log = logging.getLogger("climatelib.documents")

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"


@dataclass(frozen=True)
class FileKind:
    name: str
    media_type: str
    extensions: tuple[str, ...]


KINDS: tuple[FileKind, ...] = (
    FileKind("pdf", "application/pdf", (".pdf",)),
    FileKind("png", "image/png", (".png",)),
    FileKind("jpeg", "image/jpeg", (".jpg", ".jpeg")),
    FileKind("xlsx", XLSX, (".xlsx",)),
    FileKind("docx", DOCX, (".docx",)),
    FileKind("text", "text/plain", (".txt",)),
    FileKind("csv", "text/csv", (".csv",)),
)
_BY_EXTENSION = {ext: kind for kind in KINDS for ext in kind.extensions}
_BY_MEDIA_TYPE = {kind.media_type: kind for kind in KINDS} | {
    "image/jpg": KINDS[2],
    "application/csv": KINDS[6],
}
# Content-Types that name no type: the extension and the content decide.
_UNNAMED = frozenset({"", "application/octet-stream", "binary/octet-stream"})
ACCEPTED = ", ".join(kind.name.upper() for kind in KINDS[:5]) + ", plain text or CSV"


def content_kinds(source: IO[bytes]) -> frozenset[str]:
    """What the bytes are, by their content: the kinds they may be read as (text may be CSV)."""
    source.seek(0)
    head = source.read(8)
    if head.startswith(b"%PDF-"):
        return frozenset({"pdf"})
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return frozenset({"png"})
    if head.startswith(b"\xff\xd8\xff"):
        return frozenset({"jpeg"})
    if head.startswith(b"PK\x03\x04"):
        return _office_kind(source)
    return frozenset({"text", "csv"}) if _is_text(source) else frozenset()


def _office_kind(source: IO[bytes]) -> frozenset[str]:
    source.seek(0)
    try:
        with zipfile.ZipFile(source) as archive:
            names = set(archive.namelist())
    except (zipfile.BadZipFile, OSError, ValueError):
        return frozenset()
    if "[Content_Types].xml" not in names:
        return frozenset()
    if "xl/workbook.xml" in names:
        return frozenset({"xlsx"})
    if "word/document.xml" in names:
        return frozenset({"docx"})
    return frozenset()


# Text is read in pieces of this size: memory stays bounded whatever the upload's size.
TEXT_CHUNK = 64 * 1024
# C0 control characters but tab, line feed, form feed and carriage return. In UTF-8 and in
# GB18030 every byte of a multi-byte character is 0x30 or above, so a byte below 0x20 is always
# a character of its own: a control character under either decoding.
_CONTROL = bytes(b for b in range(32) if chr(b) not in "\t\r\n\f")


def _is_text(source: IO[bytes]) -> bool:
    """UTF-8 (with or without a BOM) or GB18030 text without control characters but tab and
    line ends, throughout: the stored type says the whole file is text, so a file that turns
    binary past its start is not. Read in ``TEXT_CHUNK`` pieces, each decoded incrementally (a
    character split between two pieces is carried to the next); GB18030 is tried only when the
    file is not UTF-8."""
    source.seek(0)
    if not source.read(1):
        return False
    for encoding in ("utf-8-sig", "gb18030"):
        source.seek(0)
        decoder = codecs.getincrementaldecoder(encoding)()
        try:
            while chunk := source.read(TEXT_CHUNK):
                if chunk != chunk.translate(None, _CONTROL):
                    return False  # a control character whichever the encoding
                decoder.decode(chunk)
            decoder.decode(b"", final=True)
        except UnicodeDecodeError:
            continue
        return True
    return False


def declared_kind(filename: str | None, content_type: str | None) -> FileKind:
    """The type the upload names, by its extension and its Content-Type (415 when they name an
    unsupported type, disagree, or name none)."""
    named: list[FileKind] = []
    extension = PurePosixPath(filename or "").suffix.lower()
    if extension:
        by_extension = _BY_EXTENSION.get(extension)
        if by_extension is None:
            raise UnsupportedMediaType(
                f"A {extension} file is not taken: a document is {ACCEPTED}.",
                code="unsupported_media_type",
            )
        named.append(by_extension)
    media_type = (content_type or "").split(";")[0].strip().lower()
    if media_type not in _UNNAMED:
        by_media_type = _BY_MEDIA_TYPE.get(media_type)
        if by_media_type is None:
            raise UnsupportedMediaType(
                f"{media_type} is not taken: a document is {ACCEPTED}.",
                code="unsupported_media_type",
            )
        # text/plain is what many clients send for any text: the extension says which text.
        if not (named and by_media_type.name == "text" and named[0].name == "csv"):
            named.append(by_media_type)
    if not named:
        raise UnsupportedMediaType(
            "Name the file's type by its extension or the part's Content-Type.",
            code="unsupported_media_type",
        )
    if len({kind.name for kind in named}) > 1:
        raise UnsupportedMediaType(
            f"The name says {named[0].name}, the Content-Type {named[1].name}.",
            code="content_type_mismatch",
        )
    return named[0]


@dataclass(frozen=True)
class Upload:
    """A file as the router received it (spooled, read from its start), with the SHA-256 of its
    bytes, taken as they streamed in (app/uploads.py)."""

    file: IO[bytes]
    filename: str | None
    content_type: str | None
    size: int
    sha256: str


def fingerprint(
    incoming: Upload, *, type: DocumentType, visibility: DocumentVisibility
) -> dict[str, str | None]:
    """What makes two uploads the same request for an ``Idempotency-Key``: the file's content
    (its digest, not the multipart body, whose boundary changes from try to try), its name, the
    part's Content-Type (with the name it decides the type kept) and the form's fields."""
    return {
        "file_sha256": incoming.sha256,
        "filename": incoming.filename,
        "content_type": incoming.content_type,
        "type": type.value,
        "visibility": visibility.value,
    }


def file_too_large(max_bytes: int) -> PayloadTooLarge:
    return PayloadTooLarge(
        f"A document is at most {max_bytes} bytes.", code="file_too_large", limit_bytes=max_bytes
    )


def content_url(document_id: uuid.UUID) -> str:
    return f"/api/v1/documents/{document_id}/content"


def present(document: Document) -> DocumentRead:
    return DocumentRead(
        id=document.id,
        project_id=document.project_id,
        type=document.type,
        visibility=document.visibility,
        filename=document.filename,
        media_type=document.media_type,
        size_bytes=document.size_bytes,
        sha256=document.sha256,
        created_at=document.created_at,
        content_url=content_url(document.id),
    )


async def _project(session: AsyncSession, principal: Principal, project_id: uuid.UUID) -> Project:
    project = await projects_repo.get_readable(session, principal, project_id)
    if project is None:
        raise NotFound(
            "No such project, or it is not visible to this key.", code="project_not_found"
        )
    return project


async def _editable(session: AsyncSession, principal: Principal, project_id: uuid.UUID) -> Project:
    """The project, if the caller may add documents to it (its region or the administrator)."""
    project = await _project(session, principal, project_id)
    if principal.role is not Role.admin and not (
        principal.role is Role.region
        and projects_repo.can_edit(principal, project.region_code, project.pilot_id)
    ):
        raise Forbidden(
            "Only the project's region and the administrator add documents.",
            code="not_project_region",
        )
    return project


@dataclass(frozen=True)
class Staged:
    """A checked file whose bytes are in the store, waiting for its row (``record``)."""

    document: Document


async def stage(
    session: AsyncSession,
    store: DocumentStore,
    principal: Principal,
    project_id: uuid.UUID,
    incoming: Upload,
    *,
    type: DocumentType,
    visibility: DocumentVisibility,
    max_bytes: int,
) -> Staged:
    """Check a file (who, size, type by content) and put its bytes in the store, all before the
    request's transaction writes anything: reading the content and storing it take as long as
    the file is large or the store slow, and on SQLite a write transaction holds the database's
    one write lock until it commits.

    Should the request not commit (a refusal after this, an ``Idempotency-Key`` in use), the
    object is removed again (registered before the put: a put cut short may have left part of
    it); a process that dies before the commit leaves it to ``sweep``."""
    if principal.is_anonymous:
        raise Unauthorized("Uploading a document needs an API key.")
    async with read_apart(session):
        await _editable(session, principal, project_id)
    if incoming.size > max_bytes:
        raise file_too_large(max_bytes)
    if incoming.size == 0:
        message = "The file is empty."
        raise RuleViolation(
            message,
            code="empty_file",
            errors=[field_error(["body", "file"], "empty_file", message)],
        )
    kind = declared_kind(incoming.filename, incoming.content_type)
    found = await anyio.to_thread.run_sync(content_kinds, incoming.file)
    if kind.name not in found:
        what = "none of the types taken" if not found else " or ".join(sorted(found))
        raise UnsupportedMediaType(
            f"The file is named {kind.name} but its content is {what}.",
            code="content_type_mismatch",
        )
    document_id = new_id()
    document = Document(
        id=document_id,
        project_id=project_id,
        type=type,
        visibility=visibility,
        filename=(PurePosixPath(incoming.filename or "").name or f"document{kind.extensions[0]}")[
            :255
        ],
        media_type=kind.media_type,
        size_bytes=incoming.size,
        sha256=incoming.sha256,
        storage_key=document_id.hex,
        created_by=principal.key_id,
    )
    undo_unless_committed(session, _forget_unless_recorded(store, document.storage_key))
    await store.put(document.storage_key, incoming.file, incoming.size, kind.media_type)
    return Staged(document)


async def record(session: AsyncSession, principal: Principal, staged: Staged) -> DocumentRead:
    """Keep a staged file as a document of its project, with the event in the project's history.
    The project is read again in this transaction: its state then is what the event records."""
    document = staged.document
    project = await _editable(session, principal, document.project_id)
    await repo.add(session, document)
    shown = present(document)
    await audit.record(
        session,
        audit.event(
            principal,
            "document_add",
            "project",
            project.id,
            changes={
                "document": {
                    "before": None,
                    "after": shown.model_dump(mode="json", exclude={"content_url"}),
                }
            },
            from_status=project.status,
            to_status=project.status,
        ),
    )
    return shown


async def discard(store: DocumentStore, staged: Staged) -> None:
    """Remove a staged file no row will point to (its request replayed an earlier answer); one
    the store fails to remove is left to ``sweep``, the answer stands."""
    try:
        await store.delete(staged.document.storage_key)
    except Exception:
        log.warning(
            "could not remove the file of a replayed upload",
            extra={"storage_key": staged.document.storage_key},
            exc_info=True,
        )


def _forget_unless_recorded(store: DocumentStore, key: str) -> Undo:
    async def undo(session: AsyncSession, certain: bool) -> None:
        # A commit that reported failure may have landed: never remove what a row points to.
        if not certain and await repo.recorded_keys(session, [key]):
            return
        await store.delete(key)
        log.info(
            "removed the stored object of a document that was not recorded",
            extra={"storage_key": key},
        )

    return undo


@dataclass(frozen=True)
class Swept:
    """What a sweep removed (or, dry, would remove): the keys of objects no row points to, and
    the names of what writes cut short left in the store."""

    objects: list[str]
    partial_writes: list[str]


async def sweep(
    sessions: async_sessionmaker[AsyncSession],
    store: DocumentStore,
    *,
    older_than: timedelta,
    dry_run: bool = False,
) -> Swept:
    """Remove the stored objects no document row points to, and the leftovers of writes cut
    short, written more than ``older_than`` ago, and name them. The age spares uploads under
    way: their bytes are stored just before their row commits (and a write under way is never
    taken for a leftover, whatever its age: app/storage.py). What is left for it: the objects
    and partial writes of a process that died (every other failed upload removes its own)."""
    cutoff = utcnow() - older_than
    removed: list[str] = []
    async for page in store.listing():
        old = [o.key for o in page if o.modified < cutoff]
        if not old:
            continue
        async with sessions() as session:
            recorded = await repo.recorded_keys(session, old)
        for key in old:
            if key in recorded:
                continue
            if not dry_run:
                await store.delete(key)
            removed.append(key)
    partial = await store.remove_partial_writes(cutoff, dry_run=dry_run)
    return Swept(removed, partial)


async def list_documents(
    session: AsyncSession,
    principal: Principal,
    project_id: uuid.UUID,
    *,
    cursor: str | None,
    limit: int,
) -> tuple[list[DocumentRead], str | None]:
    """The project's documents the caller may see, oldest first."""
    await _project(session, principal, project_id)
    rows, after = await repo.list_readable(
        session, principal, project_id, cursor=cursor, limit=limit
    )
    return [present(d) for d in rows], after


@dataclass(frozen=True)
class Content:
    document: DocumentRead
    chunks: AsyncIterator[bytes]


async def content(
    session: AsyncSession, store: DocumentStore, principal: Principal, document_id: uuid.UUID
) -> Content:
    """A document's bytes, if the caller may see the document (404 otherwise)."""
    document = await repo.get_readable(session, principal, document_id)
    if document is None:
        raise NotFound(
            "No such document, or it is not visible to this key.", code="document_not_found"
        )
    return Content(present(document), store.read(document.storage_key))
