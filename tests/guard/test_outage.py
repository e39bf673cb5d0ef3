"""A PostgreSQL outage under write load, on a cluster of the test's own (the shared one is never
stopped): while the cluster is down every answer is a prompt 503 with Retry-After; once it is
back the same server process serves again; no write is lost, doubled or half-applied, and every
write that failed succeeds on retry with its Idempotency-Key."""

import asyncio
import os
import pwd
import shutil
import subprocess
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import asyncpg
import httpx
import pytest

from app.models import Role
from tests.conftest import REQUIRE_PG
from tests.factories import PROJECTS
from tests.factories import project_payload as payload
from tests.uvicorn_server import ServerProcess, free_port, issue_key

PG_BIN = Path(os.environ.get("CLIMATELIB_TEST_POSTGRES_BIN", "/usr/lib/postgresql/15/bin"))
WRITERS = 8
READERS = 2
BEFORE_S = 2.0  # writes land before the stop
DOWN_S = 3.0  # writes meet the stopped cluster
AFTER_S = 1.5  # writes after readiness is back
ANSWER_WITHIN_S = 5.0  # no answer, however bad the database, takes longer
RECOVER_WITHIN_S = 15.0
CLIENT_TIMEOUT_S = 20.0
MODES = ("fast", "immediate")  # pg_ctl stop: backends terminated; the postmaster killed


def _user_exists(name: str) -> bool:
    try:
        pwd.getpwnam(name)
    except KeyError:
        return False
    return True


class Cluster:
    """A throwaway PostgreSQL cluster in a temporary directory, trusting local connections."""

    def __init__(self) -> None:
        # initdb refuses to run as root: the cluster then belongs to the postgres user.
        as_root = os.geteuid() == 0
        self.as_owner = ["runuser", "-u", "postgres", "--"] if as_root else []
        missing = [str(PG_BIN / n) for n in ("initdb", "pg_ctl") if not (PG_BIN / n).exists()]
        if as_root and not _user_exists("postgres"):
            missing.append("the postgres user")
        if missing:
            message = f"no own PostgreSQL cluster: missing {', '.join(missing)}"
            if REQUIRE_PG:
                pytest.fail(message + "; CLIMATELIB_TEST_REQUIRE_POSTGRES is set", pytrace=False)
            pytest.skip(message)
        self.dir = Path(tempfile.mkdtemp(prefix="climatelib-pg-"))
        if self.as_owner:
            shutil.chown(self.dir, "postgres")
        self.data = self.dir / "data"
        self.port = free_port()
        self.url = f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def _run(self, *args: str, check: bool = True) -> None:
        subprocess.run(  # noqa: S603 - the test's own binaries and arguments
            [*self.as_owner, *args], cwd=self.dir, check=check, capture_output=True, timeout=60
        )

    def _pg_ctl(self, *args: str, check: bool = True) -> None:
        self._run(str(PG_BIN / "pg_ctl"), "-D", str(self.data), "-w", *args, check=check)

    def init(self) -> None:
        initdb = str(PG_BIN / "initdb")
        self._run(initdb, "-D", str(self.data), "-A", "trust", "-U", "postgres", "--no-sync")

    def start(self) -> None:
        options = f"-p {self.port} -k {self.dir} -c listen_addresses=127.0.0.1 -c fsync=off"
        self._pg_ctl("-o", options, "-l", str(self.dir / "log"), "start")

    def stop(self, mode: str) -> None:
        self._pg_ctl("-m", mode, "stop")

    def remove(self) -> None:
        if (self.data / "postmaster.pid").exists():
            self._pg_ctl("-m", "immediate", "stop", check=False)
        shutil.rmtree(self.dir, ignore_errors=True)


@pytest.fixture
def cluster() -> Iterator[Cluster]:
    own = Cluster()
    try:
        own.init()
        own.start()
        yield own
    finally:
        own.remove()


@dataclass
class Outcome:
    key: str
    status: int | None  # None: no answer (transport error or client timeout)
    seconds: float
    retry_after: str | None = None
    project_id: str | None = None


@dataclass
class Load:
    """Writers creating projects with keys of their own, and readers listing, until told to stop."""

    http: httpx.AsyncClient
    headers: dict[str, str]
    phase: str
    writes: list[Outcome] = field(default_factory=list)
    reads: list[Outcome] = field(default_factory=list)
    running: bool = True

    async def _call(self, key: str, write: bool) -> Outcome:
        started = time.monotonic()
        try:
            if write:
                headers = {**self.headers, "Idempotency-Key": key}
                answer = await self.http.post(PROJECTS, json=payload(name=key), headers=headers)
            else:
                answer = await self.http.get(PROJECTS, headers=self.headers)
        except httpx.TransportError:
            return Outcome(key, None, time.monotonic() - started)
        project_id = answer.json().get("id") if answer.status_code == 201 else None
        return Outcome(
            key,
            answer.status_code,
            time.monotonic() - started,
            answer.headers.get("retry-after"),
            project_id,
        )

    async def writer(self, n: int) -> None:
        count = 0
        while self.running:
            count += 1
            self.writes.append(await self._call(f"{self.phase}-w{n}-{count}", write=True))

    async def reader(self) -> None:
        while self.running:
            self.reads.append(await self._call("", write=False))
            await asyncio.sleep(0.05)


async def _readiness_back(url: str) -> float:
    """Seconds until ``/readyz`` answers 200."""
    started = time.monotonic()
    async with httpx.AsyncClient(base_url=url, timeout=5) as http:
        while (await http.get("/readyz")).status_code != 200:
            assert time.monotonic() - started < RECOVER_WITHIN_S, "not ready again"
            await asyncio.sleep(0.05)
    return time.monotonic() - started


@dataclass
class Phase:
    load: Load
    ready_again_s: float  # from the cluster's start to /readyz 200

    @property
    def figures(self) -> dict[str, float]:
        writes, reads = self.load.writes, self.load.reads
        return {
            "writes": len(writes),
            "201": sum(w.status == 201 for w in writes),
            "503": sum(w.status == 503 for w in writes),
            "reads": len(reads),
            "reads_503": sum(r.status == 503 for r in reads),
            "ready_again_s": round(self.ready_again_s, 2),
        }


async def _outage(
    server: ServerProcess, cluster: Cluster, headers: dict[str, str], mode: str
) -> Phase:
    """One stop of the cluster under load, and its return."""
    limits = httpx.Limits(max_connections=WRITERS + READERS)
    async with httpx.AsyncClient(
        base_url=server.url, timeout=CLIENT_TIMEOUT_S, limits=limits
    ) as http:
        load = Load(http, headers, mode)
        tasks = [asyncio.create_task(load.writer(n)) for n in range(WRITERS)]
        tasks += [asyncio.create_task(load.reader()) for _ in range(READERS)]
        await asyncio.sleep(BEFORE_S)
        await asyncio.to_thread(cluster.stop, mode)
        await asyncio.sleep(DOWN_S)
        await asyncio.to_thread(cluster.start)
        ready_again_s = await _readiness_back(server.url)
        back = len(load.writes)
        await asyncio.sleep(AFTER_S)
        load.running = False
        await asyncio.gather(*tasks)
    assert any(w.status == 201 for w in load.writes[back:]), f"{mode}: no write after the return"
    assert any(w.status == 503 for w in load.writes), f"{mode}: no write met the outage"
    return Phase(load, ready_again_s)


async def _stored(url: str) -> tuple[Counter[str], int]:
    """Projects by name, and how many have no create step in their history."""
    conn = await asyncpg.connect(url, timeout=5)
    try:
        names = await conn.fetch("SELECT name, count(*) AS n FROM projects GROUP BY name")
        orphans: int = await conn.fetchval(
            "SELECT count(*) FROM projects p WHERE NOT EXISTS (SELECT 1 FROM audit_events"
            " t WHERE t.object_id = p.id AND t.object_type = 'project' AND t.action = 'create')"
        )
    finally:
        await conn.close()
    return Counter({row["name"]: row["n"] for row in names}), orphans


async def test_the_cluster_stops_under_writes_and_comes_back(
    cluster: Cluster, tmp_path: Path
) -> None:
    started = time.monotonic()
    server = ServerProcess(
        cluster.url,
        tmp_path,
        rate_limits="false",
        db_connect_timeout_s="2",
        db_pool_timeout_s="2",
    )
    server.start()  # `climatelib serve` migrates the empty cluster first
    try:
        headers = await issue_key(cluster.url, Role.region, "440304")
        phases = {mode: await _outage(server, cluster, headers, mode) for mode in MODES}
        writes = [w for p in phases.values() for w in p.load.writes]
        reads = [r for p in phases.values() for r in p.load.reads]
        assert server.process is not None and server.process.poll() is None, "the server died"

        # While the database was away: prompt 503s with Retry-After, never a 500 or a hang.
        assert {w.status for w in writes} <= {201, 503}, Counter(w.status for w in writes)
        assert {r.status for r in reads} <= {200, 503}, Counter(r.status for r in reads)
        assert all(o.retry_after for o in writes + reads if o.status == 503)
        slowest = max(o.seconds for o in writes + reads)
        assert slowest < ANSWER_WITHIN_S, slowest

        # Every write answered 201 is stored exactly once, with its create step; a write answered
        # 503 may have committed just before the connection went (its retry replays it).
        created = {w.key: w.project_id for w in writes if w.status == 201}
        failed = [w.key for w in writes if w.status != 201]
        stored, orphans = await _stored(cluster.url)
        assert orphans == 0
        assert all(stored[key] == 1 for key in created)
        assert set(stored) <= set(created) | set(failed)
        assert max(stored.values()) == 1
        committed_unanswered = len(stored) - len(created)

        async with httpx.AsyncClient(base_url=server.url, timeout=CLIENT_TIMEOUT_S) as http:
            retried = {
                key: await http.post(
                    PROJECTS, json=payload(name=key), headers={**headers, "Idempotency-Key": key}
                )
                for key in failed + list(created)[:20]
            }
        assert {a.status_code for a in retried.values()} == {201}
        assert all(retried[key].json()["id"] == created[key] for key in list(created)[:20])
        stored, orphans = await _stored(cluster.url)
        assert stored == Counter(dict.fromkeys([*created, *failed], 1))
        assert orphans == 0
    finally:
        server.stop()

    figures = {mode: phase.figures for mode, phase in phases.items()}
    print(  # noqa: T201 - the figures, for `pytest -s`
        f"outage figures: {figures}; slowest answer {slowest:.2f} s; "
        f"committed but answered 503: {committed_unanswered}; "
        f"retried {len(failed)} failed writes; total {time.monotonic() - started:.1f} s"
    )
