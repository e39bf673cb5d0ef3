"""The committed OpenAPI document passes the linters a front end's developer runs on it: Redocly
(its recommended rules) and Spectral (``.spectral.yaml``: the ``spectral:oas`` rules), with no
error and no warning. Both come from npm, pinned, through npx."""

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[1]
SPEC = "openapi/openapi.json"
REDOCLY = "@redocly/cli@2.77.0"
SPECTRAL = "@stoplight/spectral-cli@6.16.3"

pytestmark = pytest.mark.skipif(
    shutil.which("npx") is None, reason="npx is not installed: the OpenAPI linters come from npm"
)


def _npx(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(  # noqa: S603 - npx with pinned packages and fixed arguments
        ["npx", "--yes", *args],  # noqa: S607 - npx from PATH, as a developer runs it
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )


def test_redocly_finds_nothing() -> None:
    result = _npx(REDOCLY, "lint", SPEC, "--format=json")
    report: dict[str, Any] = json.loads(result.stdout)
    assert report["totals"]["errors"] == 0, result.stdout
    assert report["totals"]["warnings"] == 0, result.stdout


def test_spectral_finds_nothing(tmp_path: Path) -> None:
    report = tmp_path / "spectral.json"
    result = _npx(
        SPECTRAL,
        "lint",
        "--ruleset=.spectral.yaml",
        "--format=json",
        f"--output={report}",
        "--fail-severity=hint",
        SPEC,
    )
    found: list[dict[str, Any]] = json.loads(report.read_text(encoding="utf-8"))
    assert found == [], json.dumps(found, indent=2)
    assert result.returncode == 0, result.stdout + result.stderr
