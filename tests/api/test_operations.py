"""Operations: liveness, readiness against the migrations, Prometheus metrics, offline docs."""

import gc
import re

import httpx
from fastapi import FastAPI
from sqlalchemy import text


class TestOperations:
    async def test_healthz(self, client: httpx.AsyncClient) -> None:
        assert (await client.get("/healthz")).json() == {"status": "ok"}

    async def test_readyz_when_migrated(self, client: httpx.AsyncClient) -> None:
        response = await client.get("/readyz")
        assert response.status_code == 200
        assert response.json() == {"status": "ready"}

    async def test_readyz_503_when_schema_behind(
        self, app: FastAPI, client: httpx.AsyncClient
    ) -> None:
        async with app.state.engine.begin() as conn:
            await conn.execute(text("UPDATE alembic_version SET version_num = '0001'"))
        response = await client.get("/readyz")
        assert response.status_code == 503
        assert response.json()["code"] == "not_ready"

    async def test_metrics_count_requests(self, client: httpx.AsyncClient) -> None:
        await client.get("/api/v1/taxonomy")
        body = (await client.get("/metrics")).text
        assert (
            'climatelib_http_requests_total{method="GET",route="/api/v1/taxonomy",status="200"}'
            in body
        )

    async def test_metrics_time_the_collectors_pauses(self, client: httpx.AsyncClient) -> None:
        # A collection stops every request at once: each one the served app runs is counted.
        def counted(body: str) -> float:
            found = re.search(
                r'^climatelib_gc_pause_seconds_count\{generation="1"\} (\S+)$', body, re.M
            )
            return float(found[1]) if found else 0.0

        before = counted((await client.get("/metrics")).text)
        gc.collect(1)
        after = counted((await client.get("/metrics")).text)
        assert after >= before + 1

    async def test_docs_are_served_without_internet(self, client: httpx.AsyncClient) -> None:
        page = (await client.get("/docs")).text
        assert "cdn" not in page.lower()
        assert "/docs-static/swagger-ui-bundle.js" in page
        asset = await client.get("/docs-static/swagger-ui-bundle.js")
        assert asset.status_code == 200
        assert len(asset.content) > 100_000
        redoc = (await client.get("/redoc")).text
        assert "/docs-static/redoc.standalone.js" in redoc
