"""The answer of ``GET /`` for API clients."""

from pydantic import Field

from app.schemas.common import OutputModel


class Links(OutputModel):
    api: str = "/api/v1"
    docs: str = Field(default="/docs", description="Swagger UI.")
    redoc: str = Field(default="/redoc", description="ReDoc.")
    openapi: str = Field(default="/openapi.json", description="The OpenAPI document.")
    health: str = "/healthz"
    readiness: str = "/readyz"


class LibraryFigures(OutputModel):
    projects_in_library: int
    pilots: int


class FrontPage(OutputModel):
    name: str
    version: str
    links: Links
    library: LibraryFigures | None = Field(
        description="Live figures; null while the database does not answer."
    )
