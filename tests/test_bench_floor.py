"""The bench's floor answers the same page, byte for byte, as the service answers the public:
otherwise its ratios would compare unequal work (not a timed test)."""

import asyncio

import pytest

pytest.importorskip("stdnum")

from app.config import Settings
from app.main import create_app
from app.migrate import upgrade
from bench import common, floor
from bench import generate as gen
from bench.inprocess import Lifespan, call

PATHS = (
    "/api/v1/projects?status=in_library&region_code=44&limit=50",
    "/api/v1/projects?status=in_library&region_code=3301&limit=7",
    "/api/v1/projects?status=exited&region_code=11&limit=20",
)


async def _pages(url: str) -> list[tuple[bytes, bytes]]:
    app = create_app(Settings(database_url=url, log_level="warning", rate_limits=False))
    base = floor.Floor(url, floor.DEFAULT_ORDER, "range")
    out = []
    async with Lifespan(app), Lifespan(base):
        for path in PATHS:
            app_status, app_body = await call(app, path)
            floor_status, floor_body = await call(base, path)
            assert app_status == floor_status == 200
            out.append((app_body, floor_body))
    return out


@pytest.mark.parametrize("kind", ["sqlite", "postgresql"])
def test_the_floor_answers_the_services_bytes(kind: str) -> None:
    with common.throwaway_database(kind) as db:
        upgrade(db.url)
        gen.generate(db.url, gen.Spec(projects=1500, products=0))
        pages = asyncio.run(_pages(db.url))
    assert any(len(app_body) > 10_000 for app_body, _ in pages)  # real pages, not empty ones
    for app_body, floor_body in pages:
        assert app_body == floor_body
