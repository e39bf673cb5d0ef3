"""What ``GET /`` tells a newcomer: what this is, its version, where to go, live figures."""

import logging
from html import escape

from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncSession

from app import __version__
from app.errors import is_unavailable
from app.repositories import front_page as repo
from app.schemas.front_page import FrontPage, LibraryFigures, Links

log = logging.getLogger("climatelib.front_page")

TITLE = "climatelib: national climate investment and financing project library"


async def front_page(session: AsyncSession) -> FrontPage:
    """The index; without a database its figures are null rather than the page an error."""
    figures: LibraryFigures | None
    try:
        in_library, pilots = await repo.counts(session)
        figures = LibraryFigures(projects_in_library=in_library, pilots=pilots)
    except SQLAlchemyError as exc:
        if not is_unavailable(exc):
            raise
        log.warning("front page without figures: the database does not answer")
        figures = None
    return FrontPage(name="climatelib", version=__version__, links=Links(), library=figures)


def as_html(page: FrontPage) -> str:
    """The same index as a small page for a browser (no scripts, nothing from elsewhere)."""
    links = "".join(
        f'<li><a href="{escape(href)}">{escape(label)}</a></li>'
        for label, href in (
            ("Interactive API documentation (Swagger UI)", page.links.docs),
            ("API reference (ReDoc)", page.links.redoc),
            ("OpenAPI document", page.links.openapi),
            ("Readiness", page.links.readiness),
        )
    )
    if page.library is None:
        figures = "<p>Live figures are unavailable: the database does not answer.</p>"
    else:
        figures = (
            f"<p>{page.library.projects_in_library:,} projects in the library; "
            f"{page.library.pilots} climate investment and financing pilots.</p>"
        )
    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        f"<title>{escape(TITLE)}</title>"
        "<style>body{font:16px/1.5 system-ui,sans-serif;max-width:42rem;margin:3rem auto;"
        "padding:0 1rem}</style></head><body>"
        f"<h1>climatelib <small>{escape(page.version)}</small></h1>"
        "<p>国家气候投融资项目库: pilot regions submit climate projects, reviewers take them "
        "into the library, financial institutions publish products and find the projects they "
        "may finance. Everything is an HTTP API under <code>/api/v1</code>.</p>"
        f"{figures}<ul>{links}</ul></body></html>"
    )
