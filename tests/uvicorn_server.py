"""Real server processes for the tests that need one: ``climatelib serve`` on a free port of
127.0.0.1, configured through the environment. ``uvicorn_server`` runs one for the span of
a ``with`` block; ``ServerProcess`` is one a test can stop, kill and restart."""

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

from app.config import Settings
from app.db import create_engine, session_factory
from app.models import Role
from app.services import api_keys

ROOT = Path(__file__).resolve().parents[1]
START_TIMEOUT_S = 30.0


def serve_command(port: int) -> list[str]:
    """``climatelib serve`` on ``port`` of 127.0.0.1: migrations first, uvicorn as deployed."""
    return [sys.executable, "-m", "app.cli", "serve", "--host=127.0.0.1", f"--port={port}"]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


async def issue_key(database_url: str, role: Role, scope: str | None = None) -> dict[str, str]:
    """Request headers with a new key, written straight into the server's database."""
    engine = create_engine(Settings(database_url=database_url))
    try:
        async with session_factory(engine).begin() as session:
            _, secret = await api_keys.create(session, name=f"test {role}", role=role, scope=scope)
    finally:
        await engine.dispose()
    return {"Authorization": f"Bearer {secret}"}


class ServerProcess:
    """One uvicorn process; ``start()`` waits until ``/healthz`` answers."""

    def __init__(self, database_url: str, log_dir: Path, **settings: str) -> None:
        self.env = {
            **os.environ,
            "CLIMATELIB_DATABASE_URL": database_url,
            "CLIMATELIB_LOG_LEVEL": "WARNING",
            **{f"CLIMATELIB_{name.upper()}": value for name, value in settings.items()},
        }
        self.log_dir = log_dir
        self.process: subprocess.Popen[bytes] | None = None
        self.port = 0
        self.starts = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def log(self) -> Path:
        return self.log_dir / f"server-{self.starts}.log"

    def start(self) -> None:
        self.starts += 1
        self.port = free_port()
        with self.log.open("wb") as log:
            self.process = subprocess.Popen(  # noqa: S603 - this interpreter, fixed arguments
                serve_command(self.port),
                cwd=ROOT,
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
                # A group of its own: with several workers, killing the group leaves no worker
                # behind (SIGKILL to uvicorn's supervisor alone orphans them).
                start_new_session=True,
            )
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"server exited: {self.log.read_text()}")
            try:
                if httpx.get(f"{self.url}/healthz", timeout=1).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.1)
        self.kill()
        raise RuntimeError(f"server did not start in {START_TIMEOUT_S} s: {self.log.read_text()}")

    def kill(self) -> None:
        """SIGKILL: no shutdown, no rollback, connections dropped by the kernel."""
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(10)
        self.process = None

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(10)
        self.process = None


@dataclass(frozen=True)
class Server:
    url: str
    port: int
    pid: int

    def rss_mb(self) -> float:
        for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
        raise AssertionError("no VmRSS")

    def peak_rss_mb(self) -> float:
        for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
        raise AssertionError("no VmHWM")


def wait_ready(process: "subprocess.Popen[bytes]", url: str, seconds: float) -> None:
    """Wait until the server at ``url`` answers ``/readyz`` with 200."""
    deadline = time.monotonic() + seconds
    while True:
        assert process.poll() is None, "the server exited"
        assert time.monotonic() < deadline, f"the server did not start within {seconds} s"
        try:
            if httpx.get(f"{url}/readyz", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            time.sleep(0.1)


@contextmanager
def uvicorn_server(database_url: str, **env: str) -> Iterator[Server]:
    """``climatelib serve`` on a free port, as deployed (no proxy-header rewrite)."""
    port = free_port()
    full_env = os.environ | {
        "CLIMATELIB_DATABASE_URL": database_url,
        "CLIMATELIB_LOG_LEVEL": "ERROR",
        "PYTHONPATH": str(ROOT),
        **env,
    }
    process = subprocess.Popen(  # noqa: S603
        serve_command(port),
        cwd=ROOT,
        env=full_env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_ready(process, url, 30)
        yield Server(url, port, process.pid)
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
