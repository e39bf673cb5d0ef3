"""GET /: a JSON index for API clients, a small page for browsers, live figures when it can."""

import httpx

from app.config import Settings
from app.main import create_app
from tests.conftest import Keys
from tests.factories import in_library


async def test_api_clients_get_an_index_with_live_figures(
    client: httpx.AsyncClient, keys: Keys
) -> None:
    futian = await keys.region("440304")
    await in_library(client, keys, futian)
    answer = await client.get("/")
    assert answer.status_code == 200
    index = answer.json()
    assert index["name"] == "climatelib"
    assert index["version"]
    assert index["links"]["docs"] == "/docs"
    assert index["links"]["openapi"] == "/openapi.json"
    assert index["library"]["projects_in_library"] == 1
    assert index["library"]["pilots"] == 23
    for name, link in index["links"].items():
        if name != "api":  # a prefix, not a page
            assert (await client.get(link)).status_code == 200, link


async def test_browsers_get_a_page_that_runs_nothing(client: httpx.AsyncClient) -> None:
    answer = await client.get("/", headers={"Accept": "text/html,application/xhtml+xml,*/*"})
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("text/html")
    assert answer.headers["content-security-policy"].startswith("default-src 'none'")
    page = answer.text
    for href in ('href="/docs"', 'href="/redoc"', 'href="/openapi.json"'):
        assert href in page
    assert "0 projects in the library; 23 climate investment and financing pilots" in page
    assert "<script" not in page


async def test_without_a_database_the_page_still_answers() -> None:
    settings = Settings(
        database_url="postgresql://postgres@127.0.0.1:1/nowhere", db_connect_timeout_s=1
    )
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as http:
            answer = await http.get("/")
            assert answer.status_code == 200
            assert answer.json()["library"] is None
            page = await http.get("/", headers={"Accept": "text/html"})
            assert "unavailable" in page.text
