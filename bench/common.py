"""Shared plumbing: throwaway databases, server processes, and the HTTP load driver.

Load always comes from another process over real HTTP: ``wrk`` when it is installed, otherwise
``python -m bench.load`` (an httpx/asyncio driver that times each request itself).
"""

import asyncio
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parent.parent
RESULTS = Path(__file__).resolve().parent / "results"
DEFAULT_PG_ADMIN_URL = os.environ.get(
    "BENCH_PG_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
)


# --- throwaway databases -------------------------------------------------------------------------


@dataclass
class Database:
    kind: str  # "postgresql" | "sqlite"
    url: str  # plain URL, as CLIMATELIB_DATABASE_URL takes it
    name: str
    path: Path | None = None  # SQLite file

    @property
    def asyncpg_dsn(self) -> str:
        return self.url.replace("postgresql+asyncpg://", "postgresql://")


def _pg_url_with_db(admin_url: str, dbname: str) -> str:
    base, _, _ = admin_url.rpartition("/")
    return f"{base}/{dbname}"


def create_database(kind: str, pg_admin_url: str = DEFAULT_PG_ADMIN_URL) -> Database:
    """An empty database of the given kind, unique to this run."""
    name = f"climatelib_bench_{uuid.uuid4().hex[:10]}"
    if kind == "sqlite":
        directory = Path(tempfile.mkdtemp(prefix="climatelib-bench-"))
        path = directory / f"{name}.db"
        return Database("sqlite", f"sqlite:///{path}", name, path)
    if kind == "postgresql":

        async def create() -> None:
            import asyncpg

            conn = await asyncpg.connect(pg_admin_url)
            try:
                await conn.execute(f'CREATE DATABASE "{name}"')
            finally:
                await conn.close()

        asyncio.run(create())
        return Database("postgresql", _pg_url_with_db(pg_admin_url, name), name)
    raise ValueError(f"unknown database kind {kind!r}")


def drop_database(db: Database, pg_admin_url: str = DEFAULT_PG_ADMIN_URL) -> None:
    if db.kind == "sqlite":
        assert db.path is not None
        shutil.rmtree(db.path.parent, ignore_errors=True)
        return

    async def drop() -> None:
        import asyncpg

        conn = await asyncpg.connect(pg_admin_url)
        try:
            await conn.execute(f'DROP DATABASE IF EXISTS "{db.name}" WITH (FORCE)')
        finally:
            await conn.close()

    asyncio.run(drop())


@contextmanager
def throwaway_database(kind: str, keep: bool = False) -> Iterator[Database]:
    db = create_database(kind)
    try:
        yield db
    finally:
        if keep:
            print(f"kept database {db.url}", file=sys.stderr)
        else:
            drop_database(db)


# --- server processes ----------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@dataclass
class Server:
    name: str
    base_url: str
    process: subprocess.Popen[bytes]
    log_path: Path
    startup_seconds: float = 0.0  # from the spawn until it answered (the lifespan's warm-up)

    def rss_mb(self) -> list[float]:
        """Resident memory of each process of the server (uvicorn's supervisor and workers)."""
        out = []
        for status in Path("/proc").glob("[0-9]*/stat"):
            try:
                fields = status.read_text().rsplit(")", 1)[1].split()
                if int(fields[2]) != self.process.pid:  # the process group: start_new_session
                    continue
                text = (status.parent / "status").read_text()
            except (OSError, IndexError, ValueError):
                continue
            for line in text.splitlines():
                if line.startswith("VmRSS:"):
                    out.append(round(int(line.split()[1]) / 1024, 1))
        return sorted(out)

    def cpu_seconds(self) -> float:
        """User and system CPU used so far by the server's processes (a load's cost, whatever
        else the machine is doing: compare it before and after)."""
        ticks = 0
        for status in Path("/proc").glob("[0-9]*/stat"):
            try:
                fields = status.read_text().rsplit(")", 1)[1].split()
                if int(fields[2]) == self.process.pid:
                    ticks += int(fields[11]) + int(fields[12])  # utime, stime
            except (OSError, IndexError, ValueError):
                continue
        return ticks / os.sysconf("SC_CLK_TCK")

    def stop(self) -> None:
        if self.process.poll() is None:
            # The server was started in its own session: signal its group so that uvicorn's
            # worker processes go down with it.
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()


def start_uvicorn(
    name: str,
    app: str,
    env: dict[str, str],
    workers: int = 1,
    health_path: str = "/healthz",
    log_dir: Path | None = None,
    startup_timeout: float = 60.0,
) -> Server:
    """Serve ``app`` with uvicorn in a process of its own and wait until it answers (the app's
    lifespan warms the matching cache first: at a million projects that takes minutes)."""
    port = free_port()
    log_dir = log_dir or Path(tempfile.gettempdir())
    log_path = log_dir / f"server-{name}-{port}.log"
    cmd = [
        sys.executable,
        "-m",
        "uvicorn",
        app,
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--workers",
        str(workers),
        "--log-level",
        "warning",
        "--no-access-log",
    ]
    if app == "app.asgi:app":
        cmd += ["--http", "app.server:BoundedHttpToolsProtocol"]  # as `climatelib serve` runs it
    python_path = os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))
    full_env = {**os.environ, **env, "PYTHONPATH": python_path}
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            cmd,
            env=full_env,
            cwd=ROOT,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    server = Server(name, f"http://127.0.0.1:{port}", process, log_path)
    spawned = time.monotonic()
    deadline = spawned + startup_timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{name} exited: {log_path.read_text(errors='replace')[-2000:]}")
        try:
            if httpx.get(server.base_url + health_path, timeout=1).status_code == 200:
                server.startup_seconds = time.monotonic() - spawned
                return server
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    server.stop()
    raise RuntimeError(f"{name} did not answer {health_path} within {startup_timeout:.0f} s")


def cpu_seconds(pid: int) -> float:
    """User + system CPU of a process so far (Linux): on a shared machine the wall time moves
    with everyone else's load, the CPU the server spends per project much less."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@contextmanager
def serving(*args: Any, **kwargs: Any) -> Iterator[Server]:
    server = start_uvicorn(*args, **kwargs)
    try:
        yield server
    finally:
        server.stop()


# --- load ----------------------------------------------------------------------------------------


@dataclass
class Load:
    """What one load run measured; latencies in milliseconds."""

    requests: int
    seconds: float
    rps: float
    p50_ms: float
    p99_ms: float
    errors: int = 0  # socket errors and non-2xx answers
    driver: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def have_wrk() -> bool:
    return shutil.which("wrk") is not None


_LUA_TEMPLATE = """
local paths = {%s}
local counter = 0
request = function()
  counter = counter + 1
  if counter > #paths then counter = 1 end
  return wrk.format(nil, paths[counter])
end
"""

_UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0}


def _to_ms(text: str) -> float:
    match = re.fullmatch(r"([\d.]+)(us|ms|s|m)", text.strip())
    if not match:
        raise ValueError(f"unreadable wrk latency {text!r}")
    return float(match[1]) * _UNITS[match[2]]


def parse_wrk(output: str) -> Load:
    percentiles = dict(re.findall(r"^\s+(\d+)%\s+(\S+)\s*$", output, re.MULTILINE))
    total = re.search(r"(\d+) requests in ([\d.]+)(us|ms|s|m)", output)
    rps = re.search(r"Requests/sec:\s+([\d.]+)", output)
    if not (percentiles and total and rps):
        raise RuntimeError(f"unreadable wrk output:\n{output}")
    errors = 0
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    if non2xx:
        errors += int(non2xx[1])
    sock = re.search(r"connect (\d+), read (\d+), write (\d+), timeout (\d+)", output)
    if sock:
        errors += sum(int(x) for x in sock.groups())
    return Load(
        requests=int(total[1]),
        seconds=_to_ms(total[2] + total[3]) / 1000,
        rps=float(rps[1]),
        p50_ms=_to_ms(percentiles["50"]),
        p99_ms=_to_ms(percentiles["99"]),
        errors=errors,
        driver="wrk",
    )


def run_load(
    base_url: str,
    paths: Sequence[str],
    connections: int,
    seconds: float,
    headers: dict[str, str] | None = None,
    driver: str = "auto",
) -> Load:
    """Load ``paths`` (round robin) from a separate process for ``seconds``."""
    headers = headers or {}
    use_wrk = driver == "wrk" or (driver == "auto" and have_wrk())
    with tempfile.TemporaryDirectory() as tmp:
        if use_wrk:
            script = Path(tmp) / "paths.lua"
            script.write_text(_LUA_TEMPLATE % ", ".join(json.dumps(p) for p in paths))
            cmd = [
                "wrk",
                "-t1",
                f"-c{connections}",
                f"-d{max(1, round(seconds))}s",
                "--latency",
                "--timeout",
                "10s",
                "-s",
                str(script),
            ]
            for key, value in headers.items():
                cmd += ["-H", f"{key}: {value}"]
            cmd.append(base_url)
            out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
            return parse_wrk(out)
        paths_file = Path(tmp) / "paths.json"
        paths_file.write_text(json.dumps({"paths": list(paths), "headers": headers}))
        cmd = [
            sys.executable,
            "-m",
            "bench.load",
            base_url,
            str(paths_file),
            "--connections",
            str(connections),
            "--seconds",
            str(seconds),
        ]
        out = subprocess.run(cmd, capture_output=True, text=True, check=True, cwd=ROOT).stdout
        return Load(**json.loads(out))


def percentile(sorted_values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile of already sorted values."""
    if not sorted_values:
        return float("nan")
    rank = max(0, min(len(sorted_values) - 1, round(q / 100 * len(sorted_values) + 0.5) - 1))
    return sorted_values[rank]


def machine() -> dict[str, Any]:
    """What the figures ran on, for the README's Performance section."""
    cpu = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem_gb = 0.0
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal"):
                mem_gb = int(line.split()[1]) / 1024 / 1024
    except OSError:
        pass
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "memory_gb": round(mem_gb, 1),
        "python": sys.version.split()[0],
        "load_driver": "wrk" if have_wrk() else "httpx (bench.load)",
    }
