"""Multipart uploads whose files are hashed as they stream to their temporary files.

An upload's SHA-256 is what the document keeps and what its ``Idempotency-Key`` fingerprint
holds. Starlette's parser writes each file part to a spooled temporary file chunk by chunk; the
parser here is the same one with its files swapped for ``HashedUploadFile``, which hashes each
chunk on its way in. So the digest is ready when the form is, and a large file is never read a
second time to hash it.

``parse_form`` parses the request's body this way and leaves the form where ``Request.form()``
finds it, so the route's ``File``/``Form`` parameters are read from it as from any form.
"""

import hashlib
from contextlib import aclosing

from fastapi import Request, UploadFile
from fastapi.exceptions import HTTPException
from python_multipart.multipart import parse_options_header
from starlette.datastructures import UploadFile as StarletteUploadFile
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.formparsers import MultiPartException, MultiPartParser


class HashedUploadFile(UploadFile):
    """An uploaded file that hashes its bytes as the parser writes them."""

    def __init__(self, source: StarletteUploadFile) -> None:
        super().__init__(
            source.file, size=source.size, filename=source.filename, headers=source.headers
        )
        self._hash = hashlib.sha256()

    async def write(self, data: bytes) -> None:
        self._hash.update(data)
        await super().write(data)

    @property
    def sha256(self) -> str:
        """The hex SHA-256 of everything written so far (the whole file once parsed)."""
        return self._hash.hexdigest()


class _HashingParser(MultiPartParser):
    def on_headers_finished(self) -> None:
        super().on_headers_finished()
        part = self._current_part
        if part.file is not None:
            part.file = HashedUploadFile(part.file)


def sha256_of(file: UploadFile) -> str:
    """The digest of a file that ``parse_form`` received."""
    if not isinstance(file, HashedUploadFile):
        raise TypeError("the upload was not parsed by app.uploads.parse_form")
    return file.sha256


async def parse_form(request: Request) -> None:
    """Parse a multipart body with its files hashed, for ``Request.form()`` to return.

    Anything but multipart is left to the framework. A body that cannot be parsed answers 400,
    as the framework's own parse would; an HTTP error raised while the body streams in (the
    upload cap's) goes through as it is."""
    content_type, _ = parse_options_header(request.headers.get("Content-Type"))
    if content_type != b"multipart/form-data":
        return
    try:
        async with aclosing(request.stream()) as stream:
            form = await _HashingParser(request.headers, stream).parse()
    except MultiPartException as exc:
        raise HTTPException(400, detail=exc.message) from exc
    except StarletteHTTPException:
        raise
    except Exception as exc:  # a client gone mid-body, as FastAPI words it
        raise HTTPException(400, detail="There was an error parsing the body") from exc
    # Request.form() returns the form it finds here rather than reading the body again.
    request._form = form
