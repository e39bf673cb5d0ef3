"""/metrics: behind a token when one is configured, and counting every worker's requests once
whichever worker answers the scrape (a real `climatelib serve --workers 2`)."""

import re
from pathlib import Path

import httpx
import pytest

from app.config import Settings
from tests.guard.conftest import running
from tests.uvicorn_server import uvicorn_server

TOKEN = "metrics-token-for-tests-0123456789"
TAXONOMY = re.compile(
    r'^climatelib_http_requests_total\{method="GET",route="/api/v1/taxonomy",status="200"\} (\S+)$',
    re.MULTILINE,
)


def taxonomy_count(exposition: str) -> float:
    return sum(float(v) for v in TAXONOMY.findall(exposition))


async def test_a_configured_token_guards_the_metrics(settings: Settings) -> None:
    async with running(settings.model_copy(update={"metrics_token": TOKEN})) as (_, http):
        refused = await http.get("/metrics")
        assert refused.status_code == 401
        assert refused.headers["content-type"] == "application/problem+json"
        assert refused.json()["code"] == "metrics_token_required"
        wrong = await http.get("/metrics", headers={"Authorization": "Bearer nope"})
        assert wrong.status_code == 401
        shown = await http.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
        assert shown.status_code == 200
        assert "climatelib_http_requests_total" in shown.text


async def test_without_a_token_the_metrics_stay_open(settings: Settings) -> None:
    async with running(settings) as (_, http):
        assert (await http.get("/metrics")).status_code == 200


@pytest.mark.slow
def test_every_worker_is_counted_in_every_scrape(database_url: str, tmp_path: Path) -> None:
    counts = tmp_path / "metrics"
    counts.mkdir()
    shared = {
        "CLIMATELIB_RATE_LIMITS": "false",
        "CLIMATELIB_WORKERS": "2",
        "PROMETHEUS_MULTIPROC_DIR": str(counts),
    }
    (counts / "counter_1.db").write_bytes(b"stale")  # an earlier run's file: wiped at start
    with uvicorn_server(database_url, **shared) as server:
        for _ in range(20):  # a connection each, so that both workers answer some of them
            answer = httpx.get(f"{server.url}/api/v1/taxonomy", headers={"Connection": "close"})
            assert answer.status_code == 200
        for _ in range(8):
            scrape = httpx.get(f"{server.url}/metrics", headers={"Connection": "close"})
            assert scrape.status_code == 200
            assert taxonomy_count(scrape.text) == 20
        # Both workers answered some (each counts into files named by its pid).
        writers = {p.stem.rsplit("_", 1)[1] for p in counts.glob("counter_*.db")}
        assert len(writers) == 2
