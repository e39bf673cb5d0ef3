"""The climatelib command: migrate, keys create (the key alone on stdout), openapi."""

import os
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from app.config import Settings
from app.main import create_app
from tests.factories import run_cli
from tests.uvicorn_server import free_port


async def test_keys_create_prints_a_key_the_api_accepts(database_url: str) -> None:
    result = run_cli("keys", "create", "--role", "admin", "--name", "x", database_url=database_url)
    assert result.returncode == 0, result.stderr
    key = result.stdout.strip()
    assert result.stdout == key + "\n"
    assert key.startswith("clk_")
    app = create_app(Settings(database_url=database_url))
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            response = await client.get(
                "/api/v1/api-keys", headers={"Authorization": f"Bearer {key}"}
            )
    assert response.status_code == 200
    assert [k["name"] for k in response.json()["items"]] == ["x"]


def test_keys_create_refuses_bad_scope(database_url: str) -> None:
    result = run_cli(
        "keys",
        "create",
        "--role",
        "reviewer",
        "--scope",
        "4403",
        "--name",
        "x",
        database_url=database_url,
    )
    assert result.returncode == 2
    assert result.stdout == ""
    assert "province" in result.stderr


def test_migrate_on_an_empty_sqlite_file(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'new.db'}"
    assert run_cli("migrate", database_url=url).returncode == 0
    assert (tmp_path / "new.db").stat().st_size > 0


def test_openapi_writes_the_spec(tmp_path: Path) -> None:
    out = tmp_path / "spec.json"
    result = run_cli("openapi", "--output", str(out), database_url="sqlite:///unused.db")
    assert result.returncode == 0, result.stderr
    assert out.read_text(encoding="utf-8").startswith("{")


@pytest.mark.parametrize(
    "url", ["postgresql://u@h/db", "postgres://u@h/db", "postgresql+psycopg://u@h/db"]
)
def test_plain_postgres_urls_get_the_async_driver(url: str) -> None:
    from app.db import async_url

    assert async_url(url) == "postgresql+asyncpg://u@h/db"


def test_version_and_help_for_every_option() -> None:
    version = run_cli("--version", database_url="sqlite:///unused.db")
    assert version.returncode == 0
    assert version.stdout.startswith("climatelib ")
    for command in (["serve"], ["keys", "create"], ["keys", "list"], ["push"], ["demo"]):
        lines = run_cli(*command, "--help", database_url="sqlite:///unused.db").stdout.splitlines()
        options = [n for n, line in enumerate(lines) if line.strip().startswith("--")]
        assert options, command
        for n in options:  # each option explains itself, on its own line or the next
            explained = len(lines[n].split()) > 2 or not lines[n + 1].strip().startswith("-")
            assert explained, lines[n]


def test_serve_says_where_it_listens(tmp_path: Path) -> None:
    port = free_port()
    env = {**os.environ, "CLIMATELIB_DATABASE_URL": f"sqlite:///{tmp_path / 'serve.db'}"}
    with subprocess.Popen(  # noqa: S603
        [sys.executable, "-m", "app.cli", "serve", f"--port={port}"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    ) as process:
        try:
            assert process.stdout is not None
            line = process.stdout.readline()
        finally:
            process.terminate()
            process.wait(10)
    assert f"serving http://127.0.0.1:{port}" in line
    assert "/docs" in line and "1 worker" in line


def test_documents_sweep_removes_old_unrecorded_objects(database_url: str, tmp_path: Path) -> None:
    folder = tmp_path / "documents" / "ab"
    folder.mkdir(parents=True)
    old, fresh = folder / ("ab" + "0" * 30), folder / ("ab" + "1" * 30)
    # Temporary files of writes a crash cut short, one of them too young to tell from a write
    # under way.
    old_partial, fresh_partial = folder / ".upload-k3x9q2", folder / ".upload-p7w1z0"
    for path in (old, fresh, old_partial, fresh_partial):
        path.write_bytes(b"%PDF-1.7\n")
    an_hour_ago = time.time() - 3600
    for path in (old, old_partial):
        os.utime(path, (an_hour_ago, an_hour_ago))
    env = {"CLIMATELIB_STORAGE_DIR": str(tmp_path)}
    args = ("documents", "sweep", "--older-than", "30")
    named = f"{old.name}\ndocuments/ab/{old_partial.name}\n"
    dry = run_cli(*args, "--dry-run", database_url=database_url, env=env)
    assert dry.returncode == 0, dry.stderr
    assert dry.stdout == named
    assert "would remove 1 stored object(s)" in dry.stderr
    assert "and 1 partial write(s)" in dry.stderr
    assert old.exists() and old_partial.exists()
    swept = run_cli(*args, database_url=database_url, env=env)
    assert swept.returncode == 0, swept.stderr
    assert swept.stdout == named
    assert "removed 1 stored object" in swept.stderr
    assert "and 1 partial write(s)" in swept.stderr
    assert not old.exists() and not old_partial.exists()
    assert fresh.exists()  # may be an upload whose row is about to commit
    assert fresh_partial.exists()  # may be a write under way
    refused = run_cli("documents", "sweep", "--older-than", "0", database_url=database_url)
    assert refused.returncode == 2
