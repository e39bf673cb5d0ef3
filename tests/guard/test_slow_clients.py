"""Stalled readers and shutdown, against real `climatelib serve` processes on both databases.

A stalled reader sends its request, reads about a kilobyte of the answer and stops reading with
the socket open. The library holds enough projects (about 14 MB of CSV) that an export cannot
fit in the socket buffers, so every stalled export really waits on its client. Each loop is
bounded in count and time.
"""

import os
import secrets
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import httpx
import pytest

from app.config import Settings
from app.main import create_app
from app.models import Project
from tests.conftest import Keys
from tests.factories import project_payload, project_row
from tests.uvicorn_server import ROOT, Server, free_port, wait_ready

ROWS = 3000
READERS = 32
EXPORT = "/api/v1/projects/export"
TCP_ESTABLISHED, TCP_CLOSE = 1, 7


@dataclass(frozen=True)
class Library:
    region: dict[str, str]
    project_id: str


@pytest.fixture
async def library(database_url: str) -> Library:
    return await seed(database_url)


async def seed(database_url: str) -> Library:
    """``ROWS`` library projects with long, incompressible summaries, and a region key."""
    app = create_app(Settings(database_url=database_url, log_level="WARNING", rate_limits=False))
    async with app.router.lifespan_context(app):
        async with app.state.sessions.begin() as session:
            projects = [
                Project(**project_row(name=f"Project {n}", summary=secrets.token_hex(2250)))
                for n in range(ROWS)
            ]
            session.add_all(projects)
        region = await Keys(app).region("440304")
    return Library(region, str(projects[0].id))


@contextmanager
def serve(
    database_url: str,
    env: Mapping[str, str] | None = None,
    *,
    stderr: int | IO[bytes] = subprocess.DEVNULL,
) -> Iterator[tuple[Server, "subprocess.Popen[bytes]"]]:
    """`climatelib serve` on a free port, rate limits off (they would hide what is tested)."""
    port = free_port()
    process = subprocess.Popen(  # noqa: S603
        [sys.executable, "-m", "app.cli", "serve", "--port", str(port)],
        cwd=ROOT,
        env=os.environ
        | {
            "CLIMATELIB_DATABASE_URL": database_url,
            "CLIMATELIB_LOG_LEVEL": "ERROR",
            "CLIMATELIB_RATE_LIMITS": "false",
            "PYTHONPATH": str(ROOT),
            **(env or {}),
        },
        stdout=subprocess.DEVNULL,
        stderr=stderr,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_ready(process, url, 60)
        yield Server(url, port, process.pid), process
    finally:
        if process.poll() is None:
            process.kill()
        process.wait()


def stalled_reader(port: int, path: str, read: int = 1024) -> socket.socket:
    """A client that sends ``path``'s request, reads ``read`` bytes of the answer and stops."""
    sock = socket.socket()
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        # Generous: 32 exports start at once on a loaded 2-core CI machine, and each client's
        # first kilobyte waits for its first page to be read and encoded.
        sock.settimeout(120)
        sock.connect(("127.0.0.1", port))
        sock.sendall(f"GET {path} HTTP/1.1\r\nHost: test\r\n\r\n".encode())
        head = b""
        while len(head) < read:
            chunk = sock.recv(read - len(head))
            assert chunk, f"closed after {head!r}"
            head += chunk
        assert head.startswith(b"HTTP/1.1 200"), head[:200]
    except BaseException:
        sock.close()  # a failed reader must not leak its socket into later tests
        raise
    return sock


def tcp_state(sock: socket.socket) -> int:
    """The kernel's TCP state of ``sock`` (Linux): a reset from the server leaves it CLOSE."""
    return sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, 1)[0]


def server_connections(port: int) -> int:
    """Connections the server still holds on ``port`` (Linux), neither listening nor closed."""
    count = 0
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        local, state = line.split()[1], line.split()[3]
        if int(local.rsplit(":", 1)[1], 16) == port and state not in ("0A", "06"):
            count += 1  # 0A: listening, 06: TIME_WAIT
    return count


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime + stime


def wait_until_quiet(pid: int, seconds: float) -> bool:
    """Wait until the server has stopped working (asleep, under 5 % of a core over two half
    seconds running): every export has written what its client's buffers take and waits."""
    deadline = time.monotonic() + seconds
    used, quiet = cpu_seconds(pid), 0
    while time.monotonic() < deadline:
        time.sleep(0.5)
        used, before = cpu_seconds(pid), used
        asleep = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "S"
        quiet = quiet + 1 if used - before < 0.025 and asleep else 0
        if quiet == 2:
            return True
    return False


def wait_until(condition: Callable[[], bool], seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.2)
    return True


def other_requests(server: Server, library: Library) -> dict[str, float]:
    """List, get, create and readiness, each timed; every one must succeed."""
    timings = {}
    with httpx.Client(base_url=server.url, timeout=10) as http:
        calls: dict[str, Callable[[], httpx.Response]] = {
            "list": lambda: http.get("/api/v1/projects", params={"limit": 50}),
            "get": lambda: http.get(f"/api/v1/projects/{library.project_id}"),
            "create": lambda: http.post(
                "/api/v1/projects", json=project_payload(), headers=library.region
            ),
            "readyz": lambda: http.get("/readyz"),
        }
        for name, call in calls.items():
            started = time.monotonic()
            answer = call()
            timings[name] = time.monotonic() - started
            assert answer.status_code in (200, 201), f"{name}: {answer.status_code} {answer.text}"
    return timings


@contextmanager
def stalled(
    server: Server, count: int, path: str = f"{EXPORT}?format=csv"
) -> Iterator[list[socket.socket]]:
    """``count`` stalled readers of ``path``, their requests all in flight at once."""
    with ThreadPoolExecutor(count) as pool:
        futures = [pool.submit(stalled_reader, server.port, path) for _ in range(count)]
    readers = [f.result() for f in futures if f.exception() is None]
    try:
        assert len(readers) == count, [repr(f.exception()) for f in futures if f.exception()]
        yield readers
    finally:
        for reader in readers:
            reader.close()


class TestStalledReaders:
    def test_stalled_exports_hold_no_database_connection(
        self, database_url: str, library: Library
    ) -> None:
        # A send timeout far off: here the readers stay connected throughout. The 32 exports
        # start at once and their first pages queue for the pool (15 connections on SQLite);
        # what is tested is what they hold once stalled, so their start may wait past the
        # default pool timeout on a slow machine.
        env = {"CLIMATELIB_SEND_TIMEOUT_S": "300", "CLIMATELIB_DB_POOL_TIMEOUT_S": "60"}
        with serve(database_url, env) as (server, _), stalled(server, READERS) as readers:
            assert wait_until_quiet(server.pid, 60), "the exports did not come to rest"
            # More stalled exports than the pool has connections (30 on PostgreSQL, 15 on
            # SQLite): the others are served all the same, each in well under 2 s.
            for _ in range(3):
                timings = other_requests(server, library)
                assert max(timings.values()) < 2, timings
            assert {tcp_state(r) for r in readers} == {TCP_ESTABLISHED}

    def test_stalled_readers_are_dropped_after_the_send_timeout(
        self, database_url: str, library: Library, tmp_path: Path
    ) -> None:
        timeout = 3
        spool = tmp_path / "spool"
        spool.mkdir()
        env = {"CLIMATELIB_SEND_TIMEOUT_S": str(timeout), "TMPDIR": str(spool)}
        with (
            serve(database_url, env) as (server, _),
            stalled(server, 3) as readers,
            stalled(server, 1, f"{EXPORT}?format=xlsx") as [xlsx_reader],
        ):
            readers.append(xlsx_reader)
            stalled_at = time.monotonic()
            [spooled] = spool.iterdir()  # the XLSX is built in a temporary file, then sent
            assert spooled.name.startswith("climatelib-export-")

            # Each one is reset once it has not read for the send timeout: the client's socket
            # is closed by the reset, the server holds none of them, the spool is gone.
            assert wait_until(lambda: all(tcp_state(r) == TCP_CLOSE for r in readers), 30)
            assert time.monotonic() - stalled_at >= timeout - 0.5
            assert wait_until(lambda: server_connections(server.port) == 0, 5)
            assert wait_until(lambda: not any(spool.iterdir()), 5), list(spool.iterdir())
            assert max(other_requests(server, library).values()) < 2


class TestShutdown:
    def test_sigterm_ends_the_process_within_the_shutdown_timeout(
        self, database_url: str, library: Library
    ) -> None:
        # Stalled exports that nothing else would end (no send timeout), and an export read to
        # its end while the server drains. The drain must outlast the whole export (14 MB of CSV,
        # about 1 s on a quiet machine): at 3 s a CI run cut it short once on SQLite.
        timeout = 10
        env = {"CLIMATELIB_SEND_TIMEOUT_S": "0", "CLIMATELIB_SHUTDOWN_TIMEOUT_S": str(timeout)}
        with serve(database_url, env) as (server, process), stalled(server, 4):
            rows: list[int] = []
            started = threading.Event()

            def read_whole_export() -> None:
                with (
                    httpx.Client(base_url=server.url, timeout=30) as http,
                    http.stream("GET", EXPORT) as answer,
                ):
                    lines = 0
                    for chunk in answer.iter_bytes():
                        started.set()
                        lines += chunk.count(b"\n")
                    rows.append(lines - 1)

            whole = threading.Thread(target=read_whole_export)
            whole.start()
            assert started.wait(30)
            process.send_signal(signal.SIGTERM)
            signalled = time.monotonic()
            process.wait(timeout=30)
            elapsed = time.monotonic() - signalled
            whole.join(timeout=30)
        assert elapsed < timeout + 3, elapsed
        # The request in flight at SIGTERM was drained: the whole export arrived.
        assert rows == [ROWS]
