"""Hostile callers against real uvicorn processes: key guessing, huge bodies and headers, and two
processes sharing their limits through Redis. Each loop is bounded in count and time."""

import shutil
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.guard.conftest import REDIS_URL
from tests.guard.declared import assert_declared
from tests.uvicorn_server import Server, uvicorn_server

MB = 1024 * 1024


@pytest.fixture(scope="module")
def server(sqlite_template: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """One server with the default limits, as deployed."""
    path = tmp_path_factory.mktemp("server") / "server.db"
    shutil.copyfile(sqlite_template, path)
    with uvicorn_server(f"sqlite:///{path}") as running:
        yield running


def _status(sock: socket.socket, timeout: float = 10) -> int:
    """The status of the answer on ``sock``, read within ``timeout`` seconds."""
    sock.settimeout(timeout)
    head = b""
    while b"\r\n" not in head:
        chunk = sock.recv(4096)
        assert chunk, f"connection closed after {head!r}"
        head += chunk
    return int(head.split(b" ", 2)[1])


def _answer(sock: socket.socket, timeout: float = 10) -> tuple[bytes, bytes]:
    """The head and body of a ``Connection: close`` answer on ``sock``."""
    sock.settimeout(timeout)
    data = b""
    while chunk := sock.recv(65536):
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    return head, body


def _send_until_closed(sock: socket.socket, payload: bytes, total: int) -> int:
    """Send ``payload`` repeatedly up to ``total`` bytes; how many went before the peer closed."""
    sent = 0
    try:
        while sent < total:
            sock.sendall(payload)
            sent += len(payload)
    except OSError:
        pass
    return sent


class TestKeyGuessing:
    def test_500_wrong_keys_get_429_after_the_failure_quota(self, server: Server) -> None:
        statuses = []
        started = time.monotonic()
        with httpx.Client(base_url=server.url, timeout=5) as http:
            for n in range(500):
                answer = http.get(
                    "/api/v1/projects", headers={"Authorization": f"Bearer clk_guess{n}"}
                )
                statuses.append(answer.status_code)
                if answer.status_code == 429:
                    assert int(answer.headers["retry-after"]) >= 1
                    assert answer.headers["ratelimit"].startswith('"failed-auth";r=0;t=')
                    assert answer.json()["code"] == "rate_limited"
        assert time.monotonic() - started < 60
        assert statuses == [401] * 20 + [429] * 480
        # The public is still served from that address.
        assert httpx.get(f"{server.url}/api/v1/projects").status_code == 200


class TestSizes:
    def test_a_declared_100_mb_body_is_413_before_it_is_sent(self, server: Server) -> None:
        rss = server.rss_mb()
        with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
            sock.sendall(
                b"POST /api/v1/projects HTTP/1.1\r\nHost: test\r\n"
                b"Content-Type: application/json\r\nContent-Length: %d\r\n\r\n" % (100 * MB)
            )
            started = time.monotonic()
            assert _status(sock) == 413
            assert time.monotonic() - started < 2
            # A client that sends anyway is cut off: the server closed the connection.
            sent = _send_until_closed(sock, b"x" * MB, 100 * MB)
        assert sent < 100 * MB
        assert server.rss_mb() - rss < 20

    def test_a_streamed_100_mb_body_is_cut_at_10_mb(self, server: Server) -> None:
        rss = server.rss_mb()
        chunk = b"%x\r\n%s\r\n" % (MB, b"x" * MB)
        with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
            sock.sendall(
                b"POST /api/v1/projects HTTP/1.1\r\nHost: test\r\n"
                b"Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
            )
            sent = _send_until_closed(sock, chunk, 100 * MB)
            assert _status(sock) == 413
        assert sent < 30 * MB
        assert server.rss_mb() - rss < 40

    def test_huge_headers_are_cut_by_the_server_before_they_are_read(self, sqlite_url: str) -> None:
        with uvicorn_server(sqlite_url) as fresh:  # its peak memory is this test's alone
            peak = fresh.peak_rss_mb()
            for megabytes in (2, 10):
                with socket.create_connection(("127.0.0.1", fresh.port), timeout=10) as sock:
                    sock.sendall(
                        b"GET /api/v1/projects HTTP/1.1\r\nHost: test\r\nAuthorization: Bearer "
                    )
                    _send_until_closed(sock, b"k" * 64 * 1024, megabytes * MB)
                    head, body = _answer(sock)
                assert head.startswith(b"HTTP/1.1 431 "), head
                fields = [line.split(b": ", 1) for line in head.split(b"\r\n")[1:]]
                answer = httpx.Response(431, headers=[(n, v) for n, v in fields], content=body)
                assert_declared("GET", "/api/v1/projects", answer)
                assert answer.json()["code"] == "headers_too_large"
                assert fresh.peak_rss_mb() - peak < 2, f"a {megabytes} MB header was held"
            assert httpx.get(f"{fresh.url}/healthz").status_code == 200

    def test_headers_over_the_applications_limit_get_its_answer(self, server: Server) -> None:
        answer = httpx.get(
            f"{server.url}/api/v1/projects", headers={"X-Big": "k" * 20_000}, timeout=10
        )
        assert answer.status_code == 431
        assert answer.json()["limit_bytes"] == 16 * 1024
        assert "request_id" in answer.json()  # the application's, not the server's

    def test_a_body_in_the_heads_read_never_counts_against_it(self, server: Server) -> None:
        body = b'{"name": "' + b"x" * (5 * MB) + b'"}'
        with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
            # Two requests in one write: a large body, then the next request's head.
            sock.sendall(
                b"POST /api/v1/projects HTTP/1.1\r\nHost: test\r\n"
                b"Content-Type: application/json\r\nContent-Length: %d\r\n\r\n%s"
                b"GET /healthz HTTP/1.1\r\nHost: test\r\n\r\n" % (len(body), body)
            )
            assert _status(sock) == 401


class TestSharedLimits:
    def test_two_processes_count_against_one_redis_limit(
        self, sqlite_url: str, redis_prefix: str
    ) -> None:
        env = {
            "CLIMATELIB_REDIS_URL": REDIS_URL,
            "CLIMATELIB_REDIS_KEY_PREFIX": redis_prefix,
            "CLIMATELIB_RATE_LIMIT_PER_ADDRESS": "10",
            "CLIMATELIB_RATE_LIMIT_AUTH_FAILURES": "4",
        }
        with (
            uvicorn_server(sqlite_url, **env) as first,
            uvicorn_server(sqlite_url, **env) as second,
        ):
            servers = [first.url, second.url]
            anonymous = [
                httpx.get(f"{servers[n % 2]}/api/v1/taxonomy", timeout=5).status_code
                for n in range(30)
            ]
            guesses = [
                httpx.get(
                    f"{servers[n % 2]}/api/v1/projects",
                    headers={"Authorization": f"Bearer clk_guess{n}"},
                    timeout=5,
                ).status_code
                for n in range(10)
            ]
        assert anonymous == [200] * 10 + [429] * 20
        assert guesses == [401] * 4 + [429] * 6
