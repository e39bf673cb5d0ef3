"""The document store: where the bytes of project documents live (docs/architecture.md,
*Documents*).

One interface, ``DocumentStore``, two implementations chosen by configuration:

- ``FileStore`` (default): files under ``CLIMATELIB_STORAGE_DIR``, written to a temporary name
  and renamed into place, so a reader never sees half a file;
- ``S3Store`` when ``CLIMATELIB_S3_URL`` is set: objects in ``CLIMATELIB_S3_BUCKET`` of any
  S3-compatible service (MinIO, Ceph, OSS, COS, AWS), through boto3.

Both are blocking underneath; every call runs in a worker thread so the event loop never waits
on a disk or the network. Keys are made by the caller (a document's id): the store never names
what it keeps, and lists it only for the sweep of objects no row points to (``climatelib
documents sweep``, app/services/documents.py). The sweep also removes what a write cut short
by a crash left behind (``remove_partial_writes``): on the filesystem a temporary file never
renamed into place, on S3 a multipart upload never completed.
"""

import fcntl
import os
import shutil
import tempfile
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any, Protocol

import anyio

from app.config import Settings

CHUNK_BYTES = 256 * 1024
LIST_PAGE = 1000


@dataclass(frozen=True)
class StoredObject:
    key: str
    modified: datetime  # aware, UTC


class DocumentStore(Protocol):
    async def put(self, key: str, source: IO[bytes], size: int, media_type: str) -> None:
        """Keep the bytes of ``source`` (read from its start) under ``key``."""

    def read(self, key: str) -> AsyncIterator[bytes]:
        """The bytes kept under ``key``, in chunks."""

    async def delete(self, key: str) -> None:
        """Forget ``key`` (nothing happens if it is not kept)."""

    def listing(self) -> AsyncIterator[list[StoredObject]]:
        """Every object kept, in pages, with when it was last written."""

    async def remove_partial_writes(self, written_before: datetime, *, dry_run: bool) -> list[str]:
        """Remove (with ``dry_run`` only name) what writes cut short left behind, last written
        before ``written_before``; never a write under way. Their names, relative to the store."""


TEMPORARY_PREFIX = ".upload-"


class FileStore:
    """Documents as files under a directory, two levels of fan-out by key.

    A write goes to a temporary file (``.upload-*`` beside its key) that is renamed into place
    once whole. The writer holds an exclusive ``flock`` on the temporary file while it writes, so
    the sweep, which takes the lock without waiting before it removes one, never removes a write
    under way; the kernel drops the lock of a process that dies, whose file is then fair game.
    """

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root)

    def _path(self, key: str) -> Path:
        if not key or "/" in key or "\\" in key or key.startswith("."):
            raise ValueError(f"not a storage key: {key!r}")
        return self.root / "documents" / key[:2] / key

    async def put(self, key: str, source: IO[bytes], size: int, media_type: str) -> None:
        await anyio.to_thread.run_sync(self._put, key, source)

    def _put(self, key: str, source: IO[bytes]) -> None:
        path = self._path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        source.seek(0)
        fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=TEMPORARY_PREFIX)
        try:
            with os.fdopen(fd, "wb") as out:
                # Held until the file is renamed into place (closing drops it).
                fcntl.flock(out.fileno(), fcntl.LOCK_EX)
                shutil.copyfileobj(source, out, CHUNK_BYTES)
                out.flush()
                os.replace(temporary, path)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise

    async def read(self, key: str) -> AsyncIterator[bytes]:
        handle = await anyio.to_thread.run_sync(self._path(key).open, "rb")
        try:
            while chunk := await anyio.to_thread.run_sync(handle.read, CHUNK_BYTES):
                yield chunk
        finally:
            handle.close()

    async def delete(self, key: str) -> None:
        await anyio.to_thread.run_sync(lambda: self._path(key).unlink(missing_ok=True))

    async def listing(self) -> AsyncIterator[list[StoredObject]]:
        # One fan-out directory at a time, so a large store is never held in memory whole.
        base = self.root / "documents"
        folders = await anyio.to_thread.run_sync(
            lambda: sorted(p for p in base.iterdir() if p.is_dir()) if base.is_dir() else []
        )
        for folder in folders:
            page = await anyio.to_thread.run_sync(self._objects, folder)
            if page:
                yield page

    async def remove_partial_writes(self, written_before: datetime, *, dry_run: bool) -> list[str]:
        return await anyio.to_thread.run_sync(self._remove_partial_writes, written_before, dry_run)

    def _remove_partial_writes(self, written_before: datetime, dry_run: bool) -> list[str]:
        base = self.root / "documents"
        if not base.is_dir():
            return []
        removed = []
        for folder in sorted(p for p in base.iterdir() if p.is_dir()):
            for path in sorted(folder.glob(f"{TEMPORARY_PREFIX}*")):
                if _remove_if_abandoned(path, written_before, dry_run):
                    removed.append(path.relative_to(self.root).as_posix())
        return removed

    @staticmethod
    def _objects(folder: Path) -> list[StoredObject]:
        found = []
        for path in sorted(folder.iterdir()):
            # A temporary name is a write under way (or one a crash cut short): not a key.
            if path.name.startswith(".") or not path.is_file():
                continue
            try:
                modified = datetime.fromtimestamp(path.stat().st_mtime, UTC)
            except FileNotFoundError:  # deleted meanwhile
                continue
            found.append(StoredObject(path.name, modified))
        return found


def _remove_if_abandoned(path: Path, written_before: datetime, dry_run: bool) -> bool:
    """Remove a temporary file written before the cutoff whose writer is gone (nobody holds its
    lock); whether it was (or, dry, would be) removed."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
    except OSError:  # renamed into place or removed meanwhile; a symbolic link
        return False
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:  # a write under way
            return False
        # Read under the lock: a writer that held it until now may have just written.
        if datetime.fromtimestamp(os.fstat(fd).st_mtime, UTC) >= written_before:
            return False
        if not dry_run:
            path.unlink(missing_ok=True)
        return True
    finally:
        os.close(fd)  # drops the lock


class S3Store:
    """Documents as objects of one bucket of an S3-compatible service."""

    def __init__(
        self,
        endpoint_url: str,
        bucket: str,
        *,
        access_key_id: str | None,
        secret_access_key: str | None,
        region: str,
    ) -> None:
        import boto3  # imported here: a deployment on the filesystem never loads it
        from botocore.config import Config

        self.bucket = bucket
        self.client: Any = boto3.client(
            "s3",
            endpoint_url=endpoint_url,
            aws_access_key_id=access_key_id,
            aws_secret_access_key=secret_access_key,
            region_name=region,
            # Path-style addressing: what MinIO and most private S3 services expect.
            config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 3}),
        )

    async def put(self, key: str, source: IO[bytes], size: int, media_type: str) -> None:
        def upload() -> None:
            source.seek(0)
            self.client.upload_fileobj(
                source, self.bucket, key, ExtraArgs={"ContentType": media_type}
            )

        await anyio.to_thread.run_sync(upload)

    async def read(self, key: str) -> AsyncIterator[bytes]:
        answer = await anyio.to_thread.run_sync(
            lambda: self.client.get_object(Bucket=self.bucket, Key=key)
        )
        body = answer["Body"]
        chunks: Iterator[bytes] = body.iter_chunks(CHUNK_BYTES)
        try:
            while chunk := await anyio.to_thread.run_sync(next, chunks, b""):
                yield chunk
        finally:
            body.close()

    async def delete(self, key: str) -> None:
        await anyio.to_thread.run_sync(
            lambda: self.client.delete_object(Bucket=self.bucket, Key=key)
        )

    async def listing(self) -> AsyncIterator[list[StoredObject]]:
        pages = iter(
            self.client.get_paginator("list_objects_v2").paginate(
                Bucket=self.bucket, PaginationConfig={"PageSize": LIST_PAGE}
            )
        )
        while page := await anyio.to_thread.run_sync(next, pages, None):
            objects = [
                StoredObject(o["Key"], o["LastModified"].astimezone(UTC))
                for o in page.get("Contents", [])
            ]
            if objects:
                yield objects

    async def remove_partial_writes(self, written_before: datetime, *, dry_run: bool) -> list[str]:
        # An object appears only once its upload completes; a large one goes up as a multipart
        # upload, whose parts a process that died keeps (and the bucket bills) until aborted.
        return await anyio.to_thread.run_sync(self._remove_partial_writes, written_before, dry_run)

    def _remove_partial_writes(self, written_before: datetime, dry_run: bool) -> list[str]:
        removed = []
        pages = self.client.get_paginator("list_multipart_uploads").paginate(Bucket=self.bucket)
        for page in pages:
            for upload in page.get("Uploads", []):
                key, upload_id = upload["Key"], upload["UploadId"]
                if self._last_written(upload) >= written_before:
                    continue  # may be under way: a part went up since the cutoff
                if not dry_run:
                    self.client.abort_multipart_upload(
                        Bucket=self.bucket, Key=key, UploadId=upload_id
                    )
                removed.append(f"{key} (multipart upload {upload_id})")
        return removed

    def _last_written(self, upload: dict[str, Any]) -> datetime:
        """When the upload was begun, or its latest part was sent."""
        latest: datetime = upload["Initiated"]
        pages = self.client.get_paginator("list_parts").paginate(
            Bucket=self.bucket, Key=upload["Key"], UploadId=upload["UploadId"]
        )
        for page in pages:
            for part in page.get("Parts", []):
                latest = max(latest, part["LastModified"])
        return latest.astimezone(UTC)


def store_from_settings(settings: Settings) -> DocumentStore:
    """The store the configuration names: S3 when ``s3_url`` is set, else the filesystem."""
    if settings.s3_url:
        return S3Store(
            settings.s3_url,
            settings.s3_bucket,
            access_key_id=settings.s3_access_key_id,
            secret_access_key=settings.s3_secret_access_key,
            region=settings.s3_region,
        )
    return FileStore(settings.storage_dir)
