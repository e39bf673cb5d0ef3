"""Project documents through HTTP, on both document stores (the filesystem, and S3 as moto's
server speaks it) and both databases: the round trip with what each actor sees, who may upload,
the size cap (413) and the type checked by content (415), each refusal leaving nothing stored;
Idempotency-Key on uploads; the sweep of what a crash leaves in the store."""

import asyncio
import fcntl
import hashlib
import io
import os
import time
import uuid
import zipfile
from collections.abc import AsyncIterator, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import boto3
import httpx
import openpyxl
import pytest
from fastapi import FastAPI
from sqlalchemy import event
from sqlalchemy import exc as sa_exc
from sqlalchemy.orm import Session

from app.config import Settings
from app.main import create_app
from app.services import documents as documents_service
from tests.api.results.s3_server import moto_server
from tests.api.test_raw_answers import assert_declared_shape
from tests.conftest import Keys
from tests.factories import institution, library_project, offer

MAX_BYTES = 64 * 1024
PDF = b"%PDF-1.7\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00\x00\x00\rIHDR" + bytes(range(64))
CSV = "项目,减排量\n福田光伏,8200.5\n".encode()


def _xlsx() -> bytes:
    book = openpyxl.Workbook()
    book.active.append(["a", 1])
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def _docx() -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        archive.writestr("[Content_Types].xml", "<Types/>")
        archive.writestr("word/document.xml", "<w:document/>")
    return out.getvalue()


@pytest.fixture(scope="session")
def s3_url() -> Iterator[str]:
    with moto_server() as url:
        yield url


def _s3(url: str) -> Any:
    return boto3.client(
        "s3",
        endpoint_url=url,
        aws_access_key_id="test",
        aws_secret_access_key="test",
        region_name="us-east-1",
    )


@pytest.fixture(params=["filesystem", "s3"])
def settings(request: pytest.FixtureRequest, database_url: str, tmp_path: Path) -> Settings:
    extra: dict[str, Any] = {}
    if request.param == "s3":
        url = request.getfixturevalue("s3_url")
        bucket = f"docs-{uuid.uuid4().hex[:16]}"
        _s3(url).create_bucket(Bucket=bucket)
        extra = {
            "s3_url": url,
            "s3_bucket": bucket,
            "s3_access_key_id": "test",
            "s3_secret_access_key": "test",
        }
    return Settings(
        database_url=database_url,
        log_level="WARNING",
        rate_limits=False,
        import_worker=False,
        storage_dir=str(tmp_path / "store"),
        audit_seal_interval_s=0,  # as tests/conftest.py: the chain's tests seal themselves
        webhook_worker=False,
        document_max_bytes=MAX_BYTES,
        **extra,
    )


def stored(settings: Settings) -> list[str]:
    """Every object the configured store holds."""
    if settings.s3_url:
        listing = _s3(settings.s3_url).list_objects_v2(Bucket=settings.s3_bucket)
        return [o["Key"] for o in listing.get("Contents", [])]
    root = Path(settings.storage_dir)
    return sorted(p.name for p in root.rglob("*") if p.is_file()) if root.exists() else []


async def _upload(
    client: httpx.AsyncClient,
    headers: dict[str, str],
    project_id: str,
    name: str,
    data: bytes,
    *,
    content_type: str | None = None,
    type: str = "feasibility_study",
    visibility: str = "public",
    key: str | None = None,
) -> httpx.Response:
    part = (name, data, content_type) if content_type else (name, data)
    return await client.post(
        f"/api/v1/projects/{project_id}/documents",
        files={"file": part},
        data={"type": type, "visibility": visibility},
        headers=headers | ({"Idempotency-Key": key} if key else {}),
    )


def _take_a_mebibyte(app: FastAPI) -> None:
    """Raise the cap (read per request) past these tests' small one, for files of many pieces."""
    update = {"document_max_bytes": 1024 * 1024}
    app.state.settings = app.state.settings.model_copy(update=update)


async def _documents(
    client: httpx.AsyncClient, headers: dict[str, str], project_id: str
) -> list[str]:
    """The ids of the project's documents the caller sees."""
    listed = await client.get(f"/api/v1/projects/{project_id}/documents", headers=headers)
    assert listed.status_code == 200, listed.text
    return [d["id"] for d in listed.json()["items"]]


async def _accepted_institution(
    client: httpx.AsyncClient, keys: Keys, project_id: str, region: dict[str, str], accept: bool
) -> dict[str, str]:
    bank, offered = await offer(client, keys, project_id)
    if accept:
        step = await client.post(
            f"/api/v1/engagements/{offered['id']}/transitions",
            json={"action": "accept"},
            headers=region,
        )
        assert step.status_code == 200, step.text
    return bank


class TestRoundTrip:
    async def test_each_actor_sees_and_downloads_what_visibility_allows(
        self, client: httpx.AsyncClient, keys: Keys, app: FastAPI, settings: Settings
    ) -> None:
        project_id = await library_project(app)
        region = await keys.region("440304")
        uploads = {
            "public": ("可研报告.pdf", PDF, "public", "application/pdf"),
            "restricted": ("减排测算.csv", CSV, "restricted", "text/csv"),
        }
        ids: dict[str, str] = {}
        for label, (name, data, visibility, media_type) in uploads.items():
            answer = await _upload(client, region, project_id, name, data, visibility=visibility)
            assert answer.status_code == 201, answer.text
            doc = answer.json()
            assert doc["sha256"] == hashlib.sha256(data).hexdigest()
            assert (doc["size_bytes"], doc["media_type"]) == (len(data), media_type)
            assert (doc["filename"], doc["visibility"]) == (name, visibility)
            ids[label] = doc["id"]
        assert sorted(stored(settings)) == sorted(uuid.UUID(i).hex for i in ids.values())

        actors: dict[str, dict[str, str]] = {
            "region": region,
            "reviewer": await keys.reviewer("44"),
            "admin": await keys.admin(),
            "accepted institution": await _accepted_institution(
                client, keys, project_id, region, accept=True
            ),
            "other region": await keys.region("110101"),
            "other reviewer": await keys.reviewer("11"),
            "offering institution": await _accepted_institution(
                client, keys, project_id, region, accept=False
            ),
            "anonymous": {},
        }
        sees_restricted = {"region", "reviewer", "admin", "accepted institution"}
        checks = 0
        for actor, headers in actors.items():
            listed = await client.get(f"/api/v1/projects/{project_id}/documents", headers=headers)
            assert listed.status_code == 200, (actor, listed.text)
            expected = {"public", "restricted"} if actor in sees_restricted else {"public"}
            assert {d["id"] for d in listed.json()["items"]} == {ids[k] for k in expected}, actor
            for label, (_, data, _, media_type) in uploads.items():
                got = await client.get(f"/api/v1/documents/{ids[label]}/content", headers=headers)
                if label in expected:
                    assert got.status_code == 200, (actor, label, got.text)
                    assert got.content == data
                    assert got.headers["content-type"].startswith(media_type)
                    assert got.headers["etag"] == f'"{hashlib.sha256(data).hexdigest()}"'
                    assert got.headers["content-disposition"].startswith("attachment;")
                else:
                    assert got.status_code == 404, (actor, label, got.text)
                    assert got.json()["code"] == "document_not_found"
                checks += 1
        assert checks == len(actors) * len(uploads)

    async def test_office_and_image_files_are_recognised(
        self, client: httpx.AsyncClient, keys: Keys, app: FastAPI
    ) -> None:
        project_id = await library_project(app)
        region = await keys.region("440304")
        for name, data, media_type in (
            ("台账.xlsx", _xlsx(), "spreadsheetml.sheet"),
            ("方案.docx", _docx(), "wordprocessingml.document"),
            ("现场.png", PNG, "image/png"),
            ("photo.JPG", b"\xff\xd8\xff\xe0" + bytes(100), "image/jpeg"),
            ("说明.txt", "纯文本说明。\n".encode("gb18030"), "text/plain"),
        ):
            answer = await _upload(client, region, project_id, name, data, type="other")
            assert answer.status_code == 201, (name, answer.text)
            assert answer.json()["media_type"].endswith(media_type)

    async def test_upload_is_recorded_in_the_project_history(
        self, client: httpx.AsyncClient, keys: Keys, app: FastAPI
    ) -> None:
        project_id = await library_project(app)
        region = await keys.region("440304")
        doc = (await _upload(client, region, project_id, "a.pdf", PDF)).json()
        history = await client.get(f"/api/v1/projects/{project_id}/history", headers=region)
        event = history.json()["items"][-1]
        assert event["action"] == "document_add"
        assert event["changes"]["document"]["after"]["sha256"] == doc["sha256"]


class TestWhoUploads:
    async def test_only_the_region_and_admin_upload(
        self, client: httpx.AsyncClient, keys: Keys, app: FastAPI, settings: Settings
    ) -> None:
        project_id = await library_project(app)
        refused = {
            "reviewer": (await keys.reviewer("44"), 403),
            "other region": (await keys.region("110101"), 403),
            "institution": ((await institution(client, keys))[1], 403),
            "anonymous": ({}, 401),
        }
        for actor, (headers, status) in refused.items():
            answer = await _upload(client, headers, project_id, "a.pdf", PDF)
            assert answer.status_code == status, (actor, answer.text)
        assert stored(settings) == []
        admin = await _upload(client, await keys.admin(), project_id, "a.pdf", PDF)
        assert admin.status_code == 201, admin.text

    async def test_unknown_project_is_404(self, client: httpx.AsyncClient, keys: Keys) -> None:
        answer = await _upload(client, await keys.admin(), str(uuid.uuid4()), "a.pdf", PDF)
        assert answer.status_code == 404
        assert answer.json()["code"] == "project_not_found"


class TestRefusedUploads:
    async def _nothing_stored(
        self, client: httpx.AsyncClient, settings: Settings, project_id: str
    ) -> None:
        assert stored(settings) == []
        admin_view = await client.get(f"/api/v1/projects/{project_id}/documents")
        assert admin_view.json()["items"] == []

    async def test_a_file_over_the_cap_is_413(
        self, client: httpx.AsyncClient, keys: Keys, app: FastAPI, settings: Settings
    ) -> None:
        project_id = await library_project(app)
        region = await keys.region("440304")
        exactly = await _upload(client, region, project_id, "a.txt", b"x" * MAX_BYTES)
        assert exactly.status_code == 201, exactly.text
        accepted = stored(settings)
        over = await _upload(client, region, project_id, "b.txt", b"x" * (MAX_BYTES + 1))
        assert over.status_code == 413, over.text
        assert over.headers["content-type"] == "application/problem+json"
        assert (over.json()["code"], over.json()["limit_bytes"]) == ("file_too_large", MAX_BYTES)
        assert stored(settings) == accepted
        listed = await client.get(f"/api/v1/projects/{project_id}/documents")
        assert len(listed.json()["items"]) == 1

    async def test_a_streamed_upload_is_cut_as_soon_as_it_passes_the_cap(
        self, client: httpx.AsyncClient, keys: Keys, app: FastAPI, settings: Settings
    ) -> None:
        project_id = await library_project(app)
        region = await keys.region("440304")
        boundary = "climatelib-test-boundary"
        head = (
            f'--{boundary}\r\nContent-Disposition: form-data; name="type"\r\n\r\nother\r\n'
            f'--{boundary}\r\nContent-Disposition: form-data; name="file"; '
            'filename="big.txt"\r\nContent-Type: text/plain\r\n\r\n'
        ).encode()
        chunk, chunks_total = b"y" * 16 * 1024, 64  # 1 MB, sixteen times the cap
        sent = 0

        async def body() -> AsyncIterator[bytes]:
            nonlocal sent
            yield head
            for _ in range(chunks_total):
                sent += 1
                yield chunk
            yield f"\r\n--{boundary}--\r\n".encode()

        answer = await client.post(
            f"/api/v1/projects/{project_id}/documents",
            content=body(),
            headers={**region, "Content-Type": f"multipart/form-data; boundary={boundary}"},
        )
        assert answer.status_code == 413, answer.text
        assert answer.json()["code"] == "file_too_large"
        # Refused at the first chunk past cap + the multipart framing allowance, not at the end.
        assert sent < chunks_total // 2
        await self._nothing_stored(client, settings, project_id)

    async def test_a_declared_length_over_the_cap_is_refused_before_reading(
        self, client: httpx.AsyncClient, keys: Keys, app: FastAPI, settings: Settings
    ) -> None:
        project_id = await library_project(app)
        region = await keys.region("440304")
        answer = await _upload(client, region, project_id, "a.txt", b"z" * (MAX_BYTES * 4))
        assert answer.status_code == 413
        assert answer.headers.get("connection") == "close"
        await self._nothing_stored(client, settings, project_id)

    @pytest.mark.parametrize(
        ("name", "data", "content_type", "code"),
        [
            ("scan.pdf", PNG, None, "content_type_mismatch"),
            ("scan.pdf", PDF, "image/png", "content_type_mismatch"),
            ("table.xlsx", _docx(), None, "content_type_mismatch"),
            ("table.xlsx", b"PK\x03\x04 not really a zip", None, "content_type_mismatch"),
            ("notes.txt", b"\x00\x01\x02binary\xff\xfe", None, "content_type_mismatch"),
            ("tool.exe", b"MZ\x90\x00", None, "unsupported_media_type"),
            ("page.html", b"<html></html>", "text/html", "unsupported_media_type"),
            ("noname", PDF, "application/octet-stream", "unsupported_media_type"),
        ],
    )
    async def test_content_that_does_not_match_its_type_is_415(
        self,
        client: httpx.AsyncClient,
        keys: Keys,
        app: FastAPI,
        settings: Settings,
        name: str,
        data: bytes,
        content_type: str | None,
        code: str,
    ) -> None:
        project_id = await library_project(app)
        region = await keys.region("440304")
        answer = await _upload(client, region, project_id, name, data, content_type=content_type)
        assert answer.status_code == 415, answer.text
        assert answer.json()["code"] == code
        await self._nothing_stored(client, settings, project_id)

    @pytest.mark.parametrize(
        ("name", "encoding", "media_type"),
        [("long.txt", "utf-8", "text/plain"), ("long.csv", "gb18030", "text/csv")],
    )
    async def test_a_large_text_file_is_text_across_its_pieces(
        self,
        client: httpx.AsyncClient,
        keys: Keys,
        app: FastAPI,
        name: str,
        encoding: str,
        media_type: str,
    ) -> None:
        # Rows of odd length with multi-byte characters: pieces split characters many times.
        row = "编号,名称,减排量\n1,福田光伏,8200.5\n".encode(encoding)
        data = row * (5 * documents_service.TEXT_CHUNK // len(row))
        assert any(
            data[: n * documents_service.TEXT_CHUNK].decode(encoding, "replace").endswith("\ufffd")
            for n in range(1, 5)
        ), "no piece ends inside a character"
        _take_a_mebibyte(app)
        project_id = await library_project(app)
        region = await keys.region("440304")
        answer = await _upload(client, region, project_id, name, data)
        assert answer.status_code == 201, answer.text
        assert (answer.json()["media_type"], answer.json()["size_bytes"]) == (media_type, len(data))

    @pytest.mark.parametrize(
        "tail", [b"\x00\x01binary", b"\xff\xfe\xfd not UTF-8 nor GB18030"], ids=["nul", "bad"]
    )
    async def test_text_that_turns_binary_past_its_first_piece_is_415(
        self,
        client: httpx.AsyncClient,
        keys: Keys,
        app: FastAPI,
        settings: Settings,
        tail: bytes,
    ) -> None:
        text = "福田光伏,8200.5\n".encode() * (3 * documents_service.TEXT_CHUNK // 20)
        _take_a_mebibyte(app)
        project_id = await library_project(app)
        region = await keys.region("440304")
        answer = await _upload(client, region, project_id, "notes.txt", text + tail + text)
        assert answer.status_code == 415, answer.text
        assert answer.json()["code"] == "content_type_mismatch"
        await self._nothing_stored(client, settings, project_id)

    async def test_a_broken_multipart_body_is_400(
        self, client: httpx.AsyncClient, keys: Keys, app: FastAPI, settings: Settings
    ) -> None:
        project_id = await library_project(app)
        region = await keys.region("440304")
        for content_type in ("multipart/form-data", "multipart/form-data; boundary=x"):
            answer = await client.post(
                f"/api/v1/projects/{project_id}/documents",
                content=b"--y\r\nnot a part",
                headers={**region, "Content-Type": content_type, "Idempotency-Key": "broken"},
            )
            assert answer.status_code == 400, (content_type, answer.text)
            assert answer.headers["content-type"] == "application/problem+json"
        await self._nothing_stored(client, settings, project_id)

    async def test_bad_form_values_are_422(
        self, client: httpx.AsyncClient, keys: Keys, app: FastAPI, settings: Settings
    ) -> None:
        project_id = await library_project(app)
        region = await keys.region("440304")
        for field, value in (("type", "selfie"), ("visibility", "secret")):
            form = {"type": "plan", "visibility": "public", field: value}
            answer = await client.post(
                f"/api/v1/projects/{project_id}/documents",
                files={"file": ("a.pdf", PDF)},
                data=form,
                headers=region,
            )
            assert answer.status_code == 422, answer.text
        empty = await _upload(client, region, project_id, "a.pdf", b"")
        assert (empty.status_code, empty.json()["code"]) == (422, "empty_file")
        await self._nothing_stored(client, settings, project_id)


class TestNoOrphanedObjects:
    """An upload whose transaction does not commit leaves no stored object; what a process that
    died between the two steps leaves behind, the sweep removes once it is old enough."""

    async def test_a_failure_after_the_bytes_are_stored_removes_them(
        self,
        client: httpx.AsyncClient,
        keys: Keys,
        app: FastAPI,
        settings: Settings,
        monkeypatch: pytest.MonkeyPatch,
    ) -> None:
        project_id = await library_project(app)
        region = await keys.region("440304")
        kept = await _upload(client, region, project_id, "kept.pdf", PDF)
        assert kept.status_code == 201, kept.text
        before = stored(settings)
        assert len(before) == 1

        async def broken_record(*_args: Any, **_kwargs: Any) -> None:
            raise RuntimeError("the history could not be written")

        # Fails after store.put, inside the request's transaction: it is rolled back.
        monkeypatch.setattr("app.services.audit.record", broken_record)
        failed = await _upload(client, region, project_id, "lost.pdf", PDF)
        assert failed.status_code == 500
        assert stored(settings) == before
        listed = await client.get(f"/api/v1/projects/{project_id}/documents", headers=region)
        assert [d["filename"] for d in listed.json()["items"]] == ["kept.pdf"]

    async def test_a_commit_that_fails_removes_them(
        self, client: httpx.AsyncClient, keys: Keys, app: FastAPI, settings: Settings
    ) -> None:
        project_id = await library_project(app)
        region = await keys.region("440304")

        def refuse(_session: Session) -> None:
            raise RuntimeError("the commit fails")

        event.listen(Session, "before_commit", refuse)
        try:
            failed = await _upload(client, region, project_id, "lost.pdf", PDF)
        finally:
            event.remove(Session, "before_commit", refuse)
        assert failed.status_code == 500
        assert stored(settings) == []
        listed = await client.get(f"/api/v1/projects/{project_id}/documents", headers=region)
        assert listed.json()["items"] == []

    async def test_the_sweep_removes_old_objects_no_row_points_to(
        self, client: httpx.AsyncClient, keys: Keys, app: FastAPI, settings: Settings
    ) -> None:
        project_id = await library_project(app)
        region = await keys.region("440304")
        kept = await _upload(client, region, project_id, "kept.pdf", PDF)
        assert kept.status_code == 201, kept.text
        store = app.state.document_store
        orphan = uuid.uuid4().hex  # as a process that died before its commit leaves it
        await store.put(orphan, io.BytesIO(PDF), len(PDF), "application/pdf")
        assert len(stored(settings)) == 2

        # Too young: it may be an upload whose row is about to commit.
        young = await documents_service.sweep(
            app.state.sessions, store, older_than=timedelta(minutes=5)
        )
        assert young == documents_service.Swept([], [])
        assert len(stored(settings)) == 2
        named = await documents_service.sweep(
            app.state.sessions, store, older_than=timedelta(0), dry_run=True
        )
        assert named == documents_service.Swept([orphan], [])
        assert len(stored(settings)) == 2
        removed = await documents_service.sweep(app.state.sessions, store, older_than=timedelta(0))
        assert removed == documents_service.Swept([orphan], [])
        assert orphan not in stored(settings)
        content = await client.get(kept.json()["content_url"], headers=region)
        assert content.status_code == 200
        assert content.content == PDF


class TestIdempotencyKey:
    """An upload with an Idempotency-Key: a retry with the same file and fields answers the first
    document again and stores nothing more; another file or field under the key is a 422; a
    failed try leaves the key free; two tries at once never make two documents."""

    async def test_a_retry_replays_the_first_upload(
        self, client: httpx.AsyncClient, keys: Keys, app: FastAPI, settings: Settings
    ) -> None:
        project_id = await library_project(app)
        region = await keys.region("440304")
        first = await _upload(client, region, project_id, "可研.pdf", PDF, key="doc-1")
        assert first.status_code == 201, first.text
        assert first.headers["location"] == first.json()["content_url"]
        assert "idempotent-replayed" not in first.headers
        route = "POST /api/v1/projects/{project_id}/documents"
        assert_declared_shape(app, first, route)  # the route encodes its answer itself
        for _ in range(2):
            again = await _upload(client, region, project_id, "可研.pdf", PDF, key="doc-1")
            assert again.status_code == 201, again.text
            assert_declared_shape(app, again, route)
            assert again.json() == first.json()
            assert again.headers["location"] == first.headers["location"]
            assert again.headers["idempotent-replayed"] == "true"
        assert stored(settings) == [uuid.UUID(first.json()["id"]).hex]
        assert await _documents(client, region, project_id) == [first.json()["id"]]
        history = await client.get(f"/api/v1/projects/{project_id}/history", headers=region)
        actions = [e["action"] for e in history.json()["items"]]
        assert actions.count("document_add") == 1

    async def test_the_file_is_hashed_as_it_streams_in(
        self, client: httpx.AsyncClient, keys: Keys, app: FastAPI
    ) -> None:
        """A body sent in small chunks: the digest kept (and fingerprinted) is the whole file's,
        and a retry sent in other chunks, with another multipart boundary, is the same request."""
        project_id = await library_project(app)
        region = {**await keys.region("440304"), "Idempotency-Key": "chunked"}
        data = "第一行,1\n".encode() * 4000  # about 44 KB of CSV

        async def send(boundary: str, chunk_size: int) -> httpx.Response:
            body = (
                (
                    f'--{boundary}\r\nContent-Disposition: form-data; name="type"\r\n\r\nother\r\n'
                    f'--{boundary}\r\nContent-Disposition: form-data; name="file"; '
                    'filename="t.csv"\r\nContent-Type: text/csv\r\n\r\n'
                ).encode()
                + data
                + f"\r\n--{boundary}--\r\n".encode()
            )

            async def chunks() -> AsyncIterator[bytes]:
                for start in range(0, len(body), chunk_size):
                    yield body[start : start + chunk_size]

            return await client.post(
                f"/api/v1/projects/{project_id}/documents",
                content=chunks(),
                headers={**region, "Content-Type": f"multipart/form-data; boundary={boundary}"},
            )

        first = await send("boundary-one", 997)
        assert first.status_code == 201, first.text
        assert first.json()["sha256"] == hashlib.sha256(data).hexdigest()
        assert first.json()["size_bytes"] == len(data)
        again = await send("another-boundary-two", 4096)
        assert again.status_code == 201, again.text
        assert again.headers["idempotent-replayed"] == "true"
        assert again.json()["id"] == first.json()["id"]

    async def test_a_file_spooled_to_disk_is_hashed_whole(self, settings: Settings) -> None:
        """Past 1 MB the parser's temporary file moves to disk: the digest still covers every
        byte, and a retry still replays (this test's own app takes files of a few MB)."""
        big = settings.model_copy(update={"document_max_bytes": 3 * 1024 * 1024})
        app = create_app(big)
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
            async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
                project_id = await library_project(app)
                region = await Keys(app).region("440304")
                data = b"%PDF-1.7\n" + os.urandom(2 * 1024 * 1024 + 12345)
                first = await _upload(client, region, project_id, "big.pdf", data, key="big")
                assert first.status_code == 201, first.text
                assert first.json()["sha256"] == hashlib.sha256(data).hexdigest()
                again = await _upload(client, region, project_id, "big.pdf", data, key="big")
                assert again.headers["idempotent-replayed"] == "true"
                assert again.json() == first.json()
                got = await client.get(first.json()["content_url"], headers=region)
                assert got.content == data
                assert stored(big) == [uuid.UUID(first.json()["id"]).hex]

    @pytest.mark.parametrize(
        "change",
        [
            {"data": PDF + b"%changed\n"},
            {"name": "other.pdf"},
            {"content_type": "application/octet-stream"},
            {"type": "eia_approval"},
            {"visibility": "restricted"},
        ],
        ids=["content", "filename", "content-type", "type", "visibility"],
    )
    async def test_same_key_with_another_file_or_field_is_422(
        self,
        client: httpx.AsyncClient,
        keys: Keys,
        app: FastAPI,
        settings: Settings,
        change: dict[str, Any],
    ) -> None:
        project_id = await library_project(app)
        region = await keys.region("440304")
        form: dict[str, Any] = {"name": "a.pdf", "data": PDF}
        first = await _upload(client, region, project_id, **form, key="doc-2")
        assert first.status_code == 201, first.text
        other = await _upload(client, region, project_id, **(form | change), key="doc-2")
        assert other.status_code == 422, other.text
        assert other.headers["content-type"] == "application/problem+json"
        problem = other.json()
        assert problem["code"] == "idempotency_key_reused"
        assert problem["errors"][0]["loc"] == ["header", "Idempotency-Key"]
        assert stored(settings) == [uuid.UUID(first.json()["id"]).hex]
        assert await _documents(client, region, project_id) == [first.json()["id"]]

    async def test_keys_are_scoped_to_the_caller(
        self, client: httpx.AsyncClient, keys: Keys, app: FastAPI, settings: Settings
    ) -> None:
        project_id = await library_project(app)
        region, admin = await keys.region("440304"), await keys.admin()
        a = await _upload(client, region, project_id, "a.pdf", PDF, key="shared")
        b = await _upload(client, admin, project_id, "a.pdf", PDF, key="shared")
        assert a.status_code == b.status_code == 201
        assert "idempotent-replayed" not in b.headers
        assert a.json()["id"] != b.json()["id"]
        assert len(stored(settings)) == 2

    async def test_a_refused_upload_leaves_the_key_free(
        self, client: httpx.AsyncClient, keys: Keys, app: FastAPI, settings: Settings
    ) -> None:
        project_id = await library_project(app)
        region = await keys.region("440304")
        refused = await _upload(client, region, project_id, "a.pdf", PNG, key="doc-3")
        assert refused.status_code == 415
        assert stored(settings) == []
        # Another file under the key: the refusal kept no claim, so this is no reuse.
        good = await _upload(client, region, project_id, "a.pdf", PDF, key="doc-3")
        assert good.status_code == 201, good.text

    async def test_a_retry_after_a_storage_error_succeeds(
        self,
        client: httpx.AsyncClient,
        keys: Keys,
        app: FastAPI,
        settings: Settings,
        monkeypatch: pytest.MonkeyPatch,
    ) -> None:
        project_id = await library_project(app)
        region = await keys.region("440304")
        store = app.state.document_store
        put = store.put

        async def failing_put(*_args: Any, **_kwargs: Any) -> None:
            raise OSError("the store is full")

        monkeypatch.setattr(store, "put", failing_put)
        failed = await _upload(client, region, project_id, "a.pdf", PDF, key="doc-4")
        assert failed.status_code == 500
        monkeypatch.setattr(store, "put", put)
        retry = await _upload(client, region, project_id, "a.pdf", PDF, key="doc-4")
        assert retry.status_code == 201, retry.text
        assert "idempotent-replayed" not in retry.headers
        assert stored(settings) == [uuid.UUID(retry.json()["id"]).hex]
        assert await _documents(client, region, project_id) == [retry.json()["id"]]

    async def test_a_retry_after_a_503_succeeds_and_the_object_is_gone(
        self, client: httpx.AsyncClient, keys: Keys, app: FastAPI, settings: Settings
    ) -> None:
        """The commit of the document, its history event and the key's answer fails as an
        unavailable database does: the stored bytes are removed with the claim rolled back."""
        project_id = await library_project(app)
        region = await keys.region("440304")

        def unavailable(_session: Session) -> None:
            raise sa_exc.OperationalError("COMMIT", {}, Exception("database is locked"))

        event.listen(Session, "before_commit", unavailable)
        try:
            failed = await _upload(client, region, project_id, "a.pdf", PDF, key="doc-5")
        finally:
            event.remove(Session, "before_commit", unavailable)
        assert failed.status_code == 503, failed.text
        assert failed.headers["retry-after"] == "1"
        assert stored(settings) == []
        retry = await _upload(client, region, project_id, "a.pdf", PDF, key="doc-5")
        assert retry.status_code == 201, retry.text
        assert "idempotent-replayed" not in retry.headers
        assert stored(settings) == [uuid.UUID(retry.json()["id"]).hex]

    async def test_a_failure_recording_the_answer_removes_the_stored_bytes(
        self,
        client: httpx.AsyncClient,
        keys: Keys,
        app: FastAPI,
        settings: Settings,
        monkeypatch: pytest.MonkeyPatch,
    ) -> None:
        """The key's answer is written after the bytes are stored, in the same transaction: its
        failure rolls back the document and the claim, and the undo removes the object."""
        project_id = await library_project(app)
        region = await keys.region("440304")

        async def broken_complete(*_args: Any, **_kwargs: Any) -> None:
            raise RuntimeError("the answer could not be recorded")

        monkeypatch.setattr("app.repositories.idempotency.complete", broken_complete)
        failed = await _upload(client, region, project_id, "a.pdf", PDF, key="doc-6")
        assert failed.status_code == 500
        assert stored(settings) == []
        monkeypatch.undo()
        retry = await _upload(client, region, project_id, "a.pdf", PDF, key="doc-6")
        assert retry.status_code == 201, retry.text
        assert stored(settings) == [uuid.UUID(retry.json()["id"]).hex]
        assert await _documents(client, region, project_id) == [retry.json()["id"]]

    async def test_a_retry_while_the_first_is_storing_makes_no_second_document(
        self,
        client: httpx.AsyncClient,
        keys: Keys,
        app: FastAPI,
        settings: Settings,
        monkeypatch: pytest.MonkeyPatch,
    ) -> None:
        """The bytes go to the store before the key is claimed (a slow store holds no write
        lock): a retry while the first is still storing records the document, and the first,
        once stored, answers it again and keeps no second file."""
        project_id = await library_project(app)
        region = await keys.region("440304")
        store = app.state.document_store
        put = store.put
        storing, release = asyncio.Event(), asyncio.Event()

        async def slow_put(*args: Any, **kwargs: Any) -> None:
            if not storing.is_set():  # the first upload's only
                storing.set()
                await release.wait()
            await put(*args, **kwargs)

        monkeypatch.setattr(store, "put", slow_put)
        first = asyncio.ensure_future(
            _upload(client, region, project_id, "a.pdf", PDF, key="doc-7")
        )
        await asyncio.wait_for(storing.wait(), 10)
        retry = await _upload(client, region, project_id, "a.pdf", PDF, key="doc-7")
        assert retry.status_code == 201, retry.text
        assert "idempotent-replayed" not in retry.headers
        release.set()
        created = await first
        assert created.status_code == 201, created.text
        assert created.headers["idempotent-replayed"] == "true"
        assert created.json() == retry.json()
        replay = await _upload(client, region, project_id, "a.pdf", PDF, key="doc-7")
        assert replay.headers["idempotent-replayed"] == "true"
        assert replay.json()["id"] == created.json()["id"]
        assert stored(settings) == [uuid.UUID(created.json()["id"]).hex]
        assert await _documents(client, region, project_id) == [created.json()["id"]]

    async def test_a_burst_of_tries_with_one_key_makes_one_document(
        self, client: httpx.AsyncClient, keys: Keys, app: FastAPI, settings: Settings
    ) -> None:
        project_id = await library_project(app)
        region = await keys.region("440304")
        answers = await asyncio.gather(
            *(_upload(client, region, project_id, "a.pdf", PDF, key="burst") for _ in range(5))
        )
        assert {a.status_code for a in answers} <= {201, 409}, [a.text for a in answers]
        created = {a.json()["id"] for a in answers if a.status_code == 201}
        assert len(created) == 1
        assert stored(settings) == [uuid.UUID(created.pop()).hex]
        assert len(await _documents(client, region, project_id)) == 1

    async def test_the_spec_declares_the_header(self, client: httpx.AsyncClient) -> None:
        spec = (await client.get("/openapi.json")).json()
        upload = spec["paths"]["/api/v1/projects/{project_id}/documents"]["post"]
        (declared,) = [p for p in upload["parameters"] if p["name"] == "Idempotency-Key"]
        assert declared["in"] == "header"
        assert declared["schema"]["maxLength"] == 200
        assert {"409", "422"} <= set(upload["responses"])


class TestSweepOfPartialWrites:
    """What a write cut short by a crash leaves in the store (a temporary file never renamed
    into place; an S3 multipart upload never completed) is swept once old enough, and never
    while it is being written."""

    async def test_the_sweep_removes_old_partial_writes_only(
        self, client: httpx.AsyncClient, keys: Keys, app: FastAPI, settings: Settings
    ) -> None:
        project_id = await library_project(app)
        region = await keys.region("440304")
        kept = await _upload(client, region, project_id, "kept.pdf", PDF)
        assert kept.status_code == 201, kept.text
        before = stored(settings)
        if settings.s3_url:
            await self._s3_case(app, settings.s3_url, settings.s3_bucket)
        else:
            await self._filesystem_case(app, settings)
        assert stored(settings) == before
        content = await client.get(kept.json()["content_url"], headers=region)
        assert content.content == PDF

    async def _filesystem_case(self, app: FastAPI, settings: Settings) -> None:
        folder = Path(settings.storage_dir) / "documents" / "ab"
        folder.mkdir(parents=True, exist_ok=True)
        crashed, writing, young = (folder / f".upload-{n}" for n in ("crashed", "writing", "young"))
        for path in (crashed, writing, young):
            path.write_bytes(PDF[:10])
        an_hour_ago = time.time() - 3600
        for path in (crashed, writing):
            os.utime(path, (an_hour_ago, an_hour_ago))
        store, sessions = app.state.document_store, app.state.sessions
        # A writer stalled for an hour but alive holds its lock: it is not a leftover.
        with writing.open("ab") as held:
            fcntl.flock(held.fileno(), fcntl.LOCK_EX)
            dry = await documents_service.sweep(
                sessions, store, older_than=timedelta(minutes=30), dry_run=True
            )
            assert dry == documents_service.Swept([], ["documents/ab/.upload-crashed"])
            assert crashed.exists()
            swept = await documents_service.sweep(sessions, store, older_than=timedelta(minutes=30))
            assert swept == dry
            assert not crashed.exists()
            assert writing.exists() and young.exists()
        # Its writer gone (the lock dropped), the old one goes too; the young one stays.
        swept = await documents_service.sweep(sessions, store, older_than=timedelta(minutes=30))
        assert swept == documents_service.Swept([], ["documents/ab/.upload-writing"])
        assert young.exists()
        young.unlink()

    async def _s3_case(self, app: FastAPI, url: str, bucket: str) -> None:
        s3 = _s3(url)
        started = s3.create_multipart_upload(Bucket=bucket, Key=uuid.uuid4().hex)
        key, upload_id = started["Key"], started["UploadId"]
        s3.upload_part(Bucket=bucket, Key=key, UploadId=upload_id, PartNumber=1, Body=PDF)
        store, sessions = app.state.document_store, app.state.sessions
        young = await documents_service.sweep(sessions, store, older_than=timedelta(minutes=5))
        assert young == documents_service.Swept([], [])
        name = f"{key} (multipart upload {upload_id})"
        await asyncio.sleep(0.01)  # the cutoff below is then after the part went up
        dry = await documents_service.sweep(sessions, store, older_than=timedelta(0), dry_run=True)
        assert dry == documents_service.Swept([], [name])
        assert len(s3.list_multipart_uploads(Bucket=bucket).get("Uploads", [])) == 1
        swept = await documents_service.sweep(sessions, store, older_than=timedelta(0))
        assert swept == dry
        assert s3.list_multipart_uploads(Bucket=bucket).get("Uploads", []) == []
