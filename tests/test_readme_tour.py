"""The README tour is docs/tour.sh, word for word, and runs twice in a row on a live server."""

import json
import os
import re
import subprocess
import sys
from pathlib import Path

from tests.uvicorn_server import uvicorn_server

ROOT = Path(__file__).resolve().parents[1]
TOUR = ROOT / "docs" / "tour.sh"


def _readme_block() -> str:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme[readme.index("## A short tour") :]
    return section.split("```sh\n", 1)[1].split("```\n", 1)[0]


def test_the_readme_shows_the_script() -> None:
    # the script's header (shebang, set -euo pipefail) stays out of the pasteable block
    assert TOUR.read_text(encoding="utf-8").split("\n\n", 1)[1] == _readme_block()


def _run_tour(api: str, database_url: str, cwd: Path) -> list[str]:
    env = os.environ | {
        "API": api,
        "CLIMATELIB_DATABASE_URL": database_url,
        # `climatelib` and `python3` of this virtualenv, as the README asks
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
    }
    result = subprocess.run(  # noqa: S603
        ["bash", str(TOUR)],  # noqa: S607
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stderr == ""
    return result.stdout.splitlines()


def test_the_tour_runs_twice(tmp_path: Path) -> None:
    database_url = f"sqlite:///{tmp_path / 'tour.db'}"
    with uvicorn_server(database_url, CLIMATELIB_RATE_LIMITS="false") as server:
        first = _run_tour(f"{server.url}/api/v1", database_url, tmp_path)
        second = _run_tour(f"{server.url}/api/v1", database_url, tmp_path)
    for run, lines in enumerate((first, second), start=1):
        assert lines[:3] == ["submitted", "recommended", "in_library"]
        assert lines[3] == f"CIF-440304-{lines[3][11:15]}-{run:05d}"
        assert lines[4] == "approve"
        assert lines[8:11] == ["contacted", "financed", "30000000.00"]
        # whatever is not a bare string is JSON, never a Python repr
        assert json.loads(lines[6])["criterion"] == "product_available"
        assert json.loads(lines[11])["financed"] == run
        assert re.fullmatch(r"\d+(\.\d+)?", lines[5])
