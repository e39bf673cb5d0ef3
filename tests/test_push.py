"""``climatelib push`` against a live server: batches, retries, idempotency keys and the summary.

The client is synchronous (httpx.Client), so the service runs as a real uvicorn server on a free
port in a thread, with its own app instance and engine on the test's database.
"""

import asyncio
import csv
import json
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn

from app.cli import main
from app.config import Settings
from app.main import create_app
from app.push import PushError, _retry_delay, format_summary, push
from tests.api.bulk.helpers import count_projects, item
from tests.conftest import Keys


@pytest.fixture
def server_url(settings: Settings) -> Iterator[str]:
    """A climatelib served by uvicorn on a free port, in a background thread."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    config = uvicorn.Config(
        create_app(settings), log_level="warning", access_log=False, lifespan="on", ws="none"
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "the server did not start"
        time.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(10)
        sock.close()


async def region_key(keys: Keys, scope: str = "440304") -> str:
    return (await keys.region(scope))["Authorization"].removeprefix("Bearer ")


def rows(count: int, start: int = 0) -> list[tuple[int, dict[str, Any]]]:
    return [(n + 2, item(start + n)) for n in range(count)]


class FlakyTransport(httpx.HTTPTransport):
    """Fails chosen attempts: before sending (connection refused) or after (answer lost)."""

    def __init__(self, fail: dict[int, str]) -> None:
        super().__init__()
        self.fail = fail
        self.keys: list[str | None] = []

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        attempt = len(self.keys)
        self.keys.append(request.headers.get("idempotency-key"))
        mode = self.fail.get(attempt)
        if mode == "connect":
            raise httpx.ConnectError("connection refused", request=request)
        if mode == "503":
            return httpx.Response(503, headers={"Retry-After": "0"}, request=request)
        response = super().handle_request(request)
        if mode == "lost":
            response.read()
            raise httpx.ReadTimeout("the answer was lost", request=request)
        return response


class TestPush:
    async def test_batches_are_created_then_a_rerun_is_unchanged(
        self, server_url: str, keys: Keys, app: Any
    ) -> None:
        key = await region_key(keys)
        items = rows(1200)
        summary = await asyncio.to_thread(
            push, items, url=server_url, key=key, batch_size=500, progress=False
        )
        assert dict(summary.counts) == {"created": 1200}
        assert summary.ok
        assert await count_projects(app) == 1200
        again = await asyncio.to_thread(
            push, items, url=server_url, key=key, batch_size=500, progress=False
        )
        assert dict(again.counts) == {"unchanged": 1200}
        assert format_summary(again) == "created 0, updated 0, unchanged 1200, refused 0"

    async def test_refused_items_are_listed_with_rows_and_reasons(
        self, server_url: str, keys: Keys
    ) -> None:
        key = await region_key(keys)
        items = rows(3)
        items[1] = (3, item(1, owner={"name": "X", "uscc": "91440300715267260X"}))
        items.append((5, item(9, external_ref=None)))
        summary = await asyncio.to_thread(push, items, url=server_url, key=key, progress=False)
        assert not summary.ok
        assert format_summary(summary) == (
            "created 2, updated 0, unchanged 0, refused 2\n"
            "  row 3 (R-00001): owner.uscc: invalid_uscc\n"
            "  row 5 (no external_ref): external_ref: external_ref_required"
        )

    async def test_connection_failure_is_retried(self, server_url: str, keys: Keys) -> None:
        key = await region_key(keys)
        transport = FlakyTransport({0: "connect", 1: "503"})
        summary = await asyncio.to_thread(
            push, rows(3), url=server_url, key=key, transport=transport, backoff=0, progress=False
        )
        assert dict(summary.counts) == {"created": 3}
        assert len(transport.keys) == 3
        assert len(set(transport.keys)) == 1

    async def test_lost_answer_is_replayed_not_applied_twice(
        self, server_url: str, keys: Keys, app: Any
    ) -> None:
        key = await region_key(keys)
        transport = FlakyTransport({0: "lost"})
        summary = await asyncio.to_thread(
            push, rows(4), url=server_url, key=key, transport=transport, backoff=0, progress=False
        )
        # the retry carried the first attempt's key: the server replayed "created", it did not
        # answer "unchanged" for a batch it had already applied
        assert transport.keys[0] == transport.keys[1]
        assert dict(summary.counts) == {"created": 4}
        assert await count_projects(app) == 4

    async def test_giving_up_keeps_what_earlier_batches_did(
        self, server_url: str, keys: Keys
    ) -> None:
        key = await region_key(keys)
        transport = FlakyTransport({1: "503", 2: "503", 3: "503"})
        with pytest.raises(PushError, match="gave up after 3 attempts") as caught:
            await asyncio.to_thread(
                push,
                rows(5),
                url=server_url,
                key=key,
                batch_size=2,
                attempts=3,
                transport=transport,
                backoff=0,
                progress=False,
            )
        assert caught.value.summary is not None
        assert dict(caught.value.summary.counts) == {"created": 2}
        assert caught.value.unsent == 3

    async def test_unknown_key_stops_at_once(self, server_url: str) -> None:
        transport = FlakyTransport({})
        with pytest.raises(PushError, match="HTTP 401: invalid_api_key"):
            await asyncio.to_thread(
                push, rows(1), url=server_url, key="clk_nope", transport=transport, progress=False
            )
        assert len(transport.keys) == 1

    def test_not_a_climatelib_is_a_clear_error(self) -> None:
        transport = httpx.MockTransport(lambda request: httpx.Response(200, text="<html>"))
        with pytest.raises(PushError, match="not JSON"):
            push(rows(1), url="http://example.test", key="k", transport=transport, progress=False)

    def test_retry_after_is_honoured(self) -> None:
        waited = httpx.Response(429, headers={"Retry-After": "7"})
        assert _retry_delay(waited, 0, 0.5) == 7
        assert _retry_delay(None, 2, 0.5) == 2
        assert _retry_delay(httpx.Response(503, headers={"Retry-After": "soon"}), 0, 0.5) == 0.5


class TestPushCommand:
    async def test_csv_file_end_to_end(
        self,
        server_url: str,
        keys: Keys,
        tmp_path: Path,
        capsys: pytest.CaptureFixture[str],
    ) -> None:
        key = await region_key(keys)
        path = tmp_path / "projects.csv"
        with path.open("w", encoding="utf-8-sig", newline="") as handle:
            writer = csv.writer(handle)
            writer.writerow(
                [
                    "地方项目编号",
                    "项目名称",
                    "行政区划代码",
                    "项目业主",
                    "统一社会信用代码",
                    "气候目标",
                    "支持领域",
                    "国民经济行业代码",
                    "建设性质",
                    "建设状态",
                    "总投资（元）",
                    "融资需求（元）",
                    "年减排量（吨二氧化碳当量）",
                ]
            )
            for n in range(3):
                uscc = "9144030071526726XG" if n != 2 else "bad"
                writer.writerow(
                    [
                        f"C-{n}",
                        f"光伏 {n}",
                        "440304",
                        "业主",
                        uscc,
                        "mitigation",
                        "M2",
                        "D4416",
                        "new_build",
                        "planning",
                        "100",
                        "50",
                        "10",
                    ]
                )
        argv = ["push", str(path), "--url", server_url, "--key", key, "--quiet"]
        code = await asyncio.to_thread(main, argv)
        out = capsys.readouterr().out
        assert code == 1
        assert out.splitlines() == [
            "created 2, updated 0, unchanged 0, refused 1",
            "  row 4 (C-2): owner.uscc: invalid_uscc",
        ]

    async def test_json_file_end_to_end(
        self,
        server_url: str,
        keys: Keys,
        tmp_path: Path,
        capsys: pytest.CaptureFixture[str],
    ) -> None:
        key = await region_key(keys)
        path = tmp_path / "projects.json"
        path.write_text(json.dumps({"items": [item(n) for n in range(3)]}), encoding="utf-8")
        argv = ["push", str(path), "--url", server_url, "--key", key, "--quiet"]
        assert await asyncio.to_thread(main, argv) == 0
        assert await asyncio.to_thread(main, argv) == 0
        out = capsys.readouterr().out.splitlines()
        assert out == [
            "created 3, updated 0, unchanged 0, refused 0",
            "created 0, updated 0, unchanged 3, refused 0",
        ]

    def test_unreadable_file_exits_2(
        self, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        path = tmp_path / "projects.json"
        path.write_text('{"projects": []}', encoding="utf-8")
        assert main(["push", str(path), "--url", "http://x.test", "--key", "k"]) == 2
        assert "holds a list of projects" in capsys.readouterr().err

    def test_unreachable_server_exits_2(
        self, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
    ) -> None:
        path = tmp_path / "projects.json"
        path.write_text(json.dumps([item(1)]), encoding="utf-8")
        monkeypatch.setattr("app.push.time.sleep", lambda _s: None)
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
        argv = ["push", str(path), "--url", f"http://127.0.0.1:{port}", "--key", "k", "--quiet"]
        assert main(argv) == 2
        err = capsys.readouterr().err
        assert "gave up after 5 attempts (ConnectError" in err
        assert "1 project(s) not sent" in err
