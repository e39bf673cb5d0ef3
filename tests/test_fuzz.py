"""Schemathesis against a real server: every answer is what the OpenAPI document declares.

The server runs as `climatelib serve` does (uvicorn, the migrated database of this test, a small
demo library loaded), and each actor's key drives the whole document through schemathesis'
conformance checks: no 5xx, only declared status codes, content types and headers, bodies that
match the declared schema, and auth that is enforced where it is declared. The checks that judge
whether schema-valid input is accepted (or invalid input refused) are left out: the service
validates more than a JSON schema can say (USCC checksums, region codes, cursors, transitions).

The verdict comes from schemathesis' own event report (NDJSON), not from its console output.
"""

import json
import re
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.factories import run_cli
from tests.uvicorn_server import uvicorn_server

BIN = Path(sys.executable).parent
CHECKS = "all"
NOT_CHECKED = "positive_data_acceptance,negative_data_rejection"

# Failures the run tolerates: none. Every answer must conform to what the document declares.
KNOWN: list[tuple[str, str, str]] = []


def _key(*args: str, database_url: str) -> str:
    result = run_cli("keys", "create", *args, database_url=database_url)
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


@pytest.fixture
def server(database_url: str) -> Iterator[tuple[str, dict[str, str]]]:
    # Rate limits off: the fuzzer asks faster than any caller may (tests/guard/ tests the limits).
    quiet = {"CLIMATELIB_LOG_LEVEL": "ERROR", "CLIMATELIB_RATE_LIMITS": "false"}
    demo = run_cli("demo", "--projects", "20", database_url=database_url, env=quiet)
    assert demo.returncode == 0, demo.stderr
    keys = {
        "admin": re.findall(r"clk_[A-Za-z0-9_-]+", demo.stdout)[-1],
        "region": _key(
            "--role", "region", "--scope", "440000", "--name", "r", database_url=database_url
        ),
        "reviewer": _key(
            "--role", "reviewer", "--scope", "44", "--name", "v", database_url=database_url
        ),
    }
    with uvicorn_server(database_url, **quiet) as server:
        url = server.url
        bank = httpx.get(f"{url}/api/v1/institutions", params={"type": "bank"}).json()["items"][0]
        keys["institution"] = _key(
            "--role", "institution", "--scope", bank["id"], "--name", "i", database_url=database_url
        )
        yield url, keys


@dataclass(frozen=True)
class Failure:
    operation: str
    check: str
    message: str

    def known(self) -> bool:
        return any(
            self.operation == operation and self.check == check and text in self.message
            for operation, check, text in KNOWN
        )


def _read_report(path: Path) -> tuple[list[Failure], list[str], bool]:
    """The failed checks, the errors, and whether the run finished, from the NDJSON events."""
    failures: list[Failure] = []
    errors: list[str] = []
    finished = False
    for line in path.read_text(encoding="utf-8").splitlines():
        event: dict[str, Any] = json.loads(line)
        (kind, body), *_ = event.items()
        if kind == "EngineFinished":
            finished = True
        elif kind in ("NonFatalError", "FatalError"):
            errors.append(json.dumps(body, ensure_ascii=False)[:2000])
        elif kind == "ScenarioFinished":
            for checks in (body["recorder"].get("checks") or {}).values():
                for check in checks:
                    if check["status"] == "failure":
                        found = check["failure_info"]["failure"]
                        failures.append(
                            Failure(found["operation"], check["name"], found["message"])
                        )
    return failures, errors, finished


def test_every_answer_conforms_to_the_document(
    server: tuple[str, dict[str, str]], tmp_path: Path
) -> None:
    url, keys = server
    problems: list[str] = []
    for actor, key in [("anonymous", None), *keys.items()]:
        report = tmp_path / f"{actor}.ndjson"
        headers = ["-H", f"Authorization: Bearer {key}"] if key else []
        # Run inside tmp_path: schemathesis keeps its caches and reports in the working directory.
        result = subprocess.run(  # noqa: S603
            [
                str(BIN / "st"),
                "run",
                f"{url}/openapi.json",
                *headers,
                "--checks",
                CHECKS,
                "--exclude-checks",
                NOT_CHECKED,
                "--max-examples",
                "8",
                "--seed",
                "20261126",
                "--phases",
                "examples,fuzzing,stateful",
                "--workers",
                "1",
                "--generation-database",
                "none",
                "--report",
                "ndjson",
                "--report-ndjson-path",
                str(report),
                "--no-color",
            ],
            capture_output=True,
            text=True,
            timeout=600,
            check=False,
            cwd=tmp_path,
        )
        # 0: nothing failed; 1: some check failed (judged below against KNOWN); else a crash.
        assert result.returncode in (0, 1), result.stdout[-3000:] + result.stderr[-3000:]
        failures, errors, finished = _read_report(report)
        assert finished, f"schemathesis did not finish as {actor}:\n{result.stdout[-3000:]}"
        problems += [f"as {actor}: error {error}" for error in errors]
        problems += sorted(
            {
                f"as {actor}: {f.operation}: {f.check}: {f.message}"
                for f in failures
                if not f.known()
            }
        )
    assert not problems, "\n".join(problems)
