"""CLIMATELIB_BOOTSTRAP_ADMIN_KEY registers the container's first admin key, once, as a digest."""

import logging

import httpx
import pytest
from sqlalchemy import select

from app.config import Settings
from app.main import create_app
from app.models import ApiKey

BOOT_KEY = "clk_bootstrap-key-for-tests-0123456789abcdef"


async def test_bootstrap_key_is_accepted_and_stored_once(database_url: str) -> None:
    settings = Settings(database_url=database_url, bootstrap_admin_key=BOOT_KEY)
    for _ in range(2):  # a restart must not register it twice
        app = create_app(settings)
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
                response = await client.get(
                    "/api/v1/api-keys", headers={"Authorization": f"Bearer {BOOT_KEY}"}
                )
            async with app.state.sessions() as session:
                rows = (await session.scalars(select(ApiKey))).all()
    assert response.status_code == 200
    assert len(rows) == 1
    assert BOOT_KEY not in (rows[0].digest, rows[0].prefix)


async def test_keys_never_reach_the_logs(
    client: httpx.AsyncClient, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO, logger="climatelib"):
        await client.get("/api/v1/api-keys", headers={"Authorization": f"Bearer {BOOT_KEY}"})
    assert caplog.records
    assert all(
        BOOT_KEY not in r.getMessage() and BOOT_KEY not in str(vars(r)) for r in caplog.records
    )
    access = [r for r in caplog.records if r.name == "climatelib.access"]
    assert access[0].__dict__["status"] == 401
