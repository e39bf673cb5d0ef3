"""Schemathesis against a real server: every answer is what the OpenAPI document declares.

The server runs as `climatelib serve` does (uvicorn, the migrated database of this test, a small
demo library loaded), and each actor (anonymous, admin, reviewer, region, institution) drives the
whole document with every check schemathesis has: no 5xx; only declared status codes, content
types and headers; bodies that match the declared schemas; schema-valid requests accepted and
schema-invalid ones refused; required headers and auth enforced; unsupported methods answered 405
with ``Allow``; created resources readable and deleted ones gone; no object read across owners.
The verdict is schemathesis' exit status: 0, or the test fails with its summary.

``tests/schemathesis.toml`` holds the few exceptions, each for named operations and with its
reason: lists whose opaque cursor no generator can forge (400), rules across fields and against
reference data a JSON Schema cannot state (422), the batch that refuses bad items one by one in a
200. Nothing is switched off for the whole document.

Two tiers:
- main tier (`pytest`): every actor on SQLite, ``MAIN_EXAMPLES`` examples per operation, the
  examples and fuzzing phases (about two minutes on two cores, the demo library's load included);
- slow tier (`pytest -m slow`): every actor on SQLite and PostgreSQL, ``FULL_EXAMPLES`` examples
  per operation, with the coverage phase (boundary values and each way to break each parameter)
  and the stateful phase (created resources read back, deleted ones gone, objects not readable
  across owners) as well: about four minutes per actor, twenty per database.
"""

import asyncio
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from app.config import Settings
from app.demo import run_demo
from app.models import Role
from tests.uvicorn_server import issue_key, uvicorn_server

BIN = Path(sys.executable).parent
CONFIG = Path(__file__).with_name("schemathesis.toml")
ACTORS = ("anonymous", "admin", "reviewer", "region", "institution")
MAIN_EXAMPLES = 3
FULL_EXAMPLES = 10
SEED = "20261126"


def _key(database_url: str, role: Role, scope: str) -> str:
    headers = asyncio.run(issue_key(database_url, role, scope))
    return headers["Authorization"].removeprefix("Bearer ")


@pytest.fixture
def server(database_url: str) -> Iterator[tuple[str, dict[str, str]]]:
    # Rate limits off: the fuzzer asks faster than any caller may (tests/guard/ tests the limits).
    quiet = {"CLIMATELIB_LOG_LEVEL": "ERROR", "CLIMATELIB_RATE_LIMITS": "false"}
    # The demo library and the keys are written from this process, not by `climatelib demo` and
    # `climatelib keys create` (tests/test_demo.py and tests/test_cli.py run those): each command
    # is a fresh interpreter importing the app, about a second of CPU apiece.
    loader = Settings(database_url=database_url, log_level="ERROR")
    demo = asyncio.run(run_demo(loader, projects=20))
    keys = {
        "admin": demo.admin_key,
        "region": _key(database_url, Role.region, "440000"),
        "reviewer": _key(database_url, Role.reviewer, "44"),
    }
    with uvicorn_server(database_url, **quiet) as server:
        url = server.url
        bank = httpx.get(f"{url}/api/v1/institutions", params={"type": "bank"}).json()["items"][0]
        keys["institution"] = _key(database_url, Role.institution, bank["id"])
        yield url, keys


def _fuzz(url: str, key: str | None, workdir: Path, *, examples: int, phases: str) -> str | None:
    """Run every check as one actor; None when schemathesis exits 0, else its summary."""
    headers = ["-H", f"Authorization: Bearer {key}"] if key else []
    # Run inside workdir: schemathesis keeps its caches and reports in the working directory.
    workdir.mkdir()
    result = subprocess.run(  # noqa: S603
        [
            str(BIN / "st"),
            "--config-file",
            str(CONFIG),
            "run",
            f"{url}/openapi.json",
            *headers,
            "--max-examples",
            str(examples),
            "--seed",
            SEED,
            "--phases",
            phases,
            "--workers",
            "1",
            "--generation-database",
            "none",
            "--no-color",
        ],
        capture_output=True,
        text=True,
        timeout=1800,
        check=False,
        cwd=workdir,
    )
    if result.returncode == 0:
        return None
    return f"exit status {result.returncode}\n{result.stdout[-6000:]}{result.stderr[-2000:]}"


def _every_actor(
    server: tuple[str, dict[str, str]], tmp_path: Path, *, examples: int, phases: str
) -> None:
    url, keys = server
    problems = []
    for actor in ACTORS:
        found = _fuzz(url, keys.get(actor), tmp_path / actor, examples=examples, phases=phases)
        if found is not None:
            problems.append(f"as {actor}: {found}")
    assert not problems, "\n\n".join(problems)


@pytest.mark.parametrize("template", ["sqlite"], indirect=True)
def test_every_answer_conforms_to_the_document(
    server: tuple[str, dict[str, str]], tmp_path: Path
) -> None:
    _every_actor(server, tmp_path, examples=MAIN_EXAMPLES, phases="examples,fuzzing")


@pytest.mark.slow
def test_every_answer_conforms_to_the_document_at_length(
    server: tuple[str, dict[str, str]], tmp_path: Path
) -> None:
    _every_actor(
        server, tmp_path, examples=FULL_EXAMPLES, phases="examples,coverage,fuzzing,stateful"
    )
