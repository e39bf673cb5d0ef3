"""Open data (docs/architecture.md, *Open data*): the projects on a map (GeoJSON) and as IATI
2.03 activities."""

from typing import Annotated

from fastapi import APIRouter, Query, Request
from starlette.responses import Response

from app.auth import PrincipalDep
from app.db import SessionDep
from app.errors import responses
from app.openapi import KEY_OPTIONAL
from app.responses import json_response
from app.routers.bulk import ClosingStreamingResponse
from app.routers.project_params import FiltersDep, SortQuery
from app.routers.query_types import (
    UPDATED_SINCE_DOC,
    UPDATED_UNTIL_DOC,
    Instant,
    updated_until_header,
)
from app.schemas.common import DEFAULT_LIMIT, MAX_LIMIT
from app.services import geojson, iati

router = APIRouter(prefix="/api/v1", tags=["open-data"])

_POINT = {
    "type": "object",
    "required": ["type", "coordinates"],
    "properties": {
        "type": {"type": "string", "enum": ["Point"]},
        "coordinates": {
            "type": "array",
            "items": {"type": "number"},
            "minItems": 2,
            "maxItems": 2,
            "description": "[longitude, latitude], WGS 84 (RFC 7946 §3.1.1).",
        },
    },
}
_FEATURE_COLLECTION = {
    "type": "object",
    "required": ["type", "features", "next_cursor"],
    "properties": {
        "type": {"type": "string", "enum": ["FeatureCollection"]},
        "features": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["type", "id", "geometry", "properties"],
                "properties": {
                    "type": {"type": "string", "enum": ["Feature"]},
                    "id": {"type": "string", "format": "uuid"},
                    "geometry": _POINT,
                    "properties": {"$ref": "#/components/schemas/ProjectRead"},
                },
            },
        },
        "next_cursor": {
            "type": ["string", "null"],
            "description": "The next page's cursor (a foreign member, RFC 7946 §6.1).",
        },
    },
}


@router.get(
    "/projects.geojson",
    openapi_extra=KEY_OPTIONAL,
    operation_id="list_projects_geojson",
    summary="Projects on a map (GeoJSON)",
    responses={
        200: {
            "description": (
                "An RFC 7946 FeatureCollection: the page's projects that have a location, each a "
                "Point feature with the list item as its properties."
            ),
            "headers": UPDATED_UNTIL_DOC,
            "content": {geojson.MEDIA_TYPE: {"schema": _FEATURE_COLLECTION}},
        },
        # 403: the flag filter is for reviewers and administrators, as on the list.
        **responses(400, 401, 403, 422),
    },
)
async def list_projects_geojson(
    session: SessionDep,
    principal: PrincipalDep,
    filters: FiltersDep,
    sort: SortQuery = "-created_at",
    cursor: Annotated[str | None, Query(description="next_cursor of the previous page.")] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT, description="Page size.")] = DEFAULT_LIMIT,
) -> Response:
    """The list (its filters, bbox, order and cursor pages) as a GeoJSON FeatureCollection of
    the projects that have a location; a map library loads it directly."""
    collection, until = await geojson.page(
        session, principal, filters, sort=sort, cursor=cursor, limit=limit
    )
    answer = json_response(collection, headers=updated_until_header(until))
    answer.headers["content-type"] = geojson.MEDIA_TYPE
    return answer


@router.get(
    "/export/iati",
    operation_id="export_iati",
    summary="The library as IATI 2.03 activities",
    response_class=ClosingStreamingResponse,
    responses={
        200: {
            "description": (
                "An iati-activities document (IATI Standard 2.03): one iati-activity per "
                "library or exited project, public fields only."
            ),
            "headers": UPDATED_UNTIL_DOC,
            "content": {"text/xml": {"schema": {"type": "string"}}},
        },
        204: {
            "description": (
                "No project selected: the standard's schema requires at least one activity in "
                "a file, so there is no document."
            ),
            "headers": UPDATED_UNTIL_DOC,
        },
        **responses(400, 422),
    },
)
async def export_iati(
    request: Request,
    session: SessionDep,
    updated_since: Annotated[Instant | None, Query(description=UPDATED_SINCE_DOC)] = None,
) -> Response:
    """Stream the library and exited projects as IATI 2.03 activities (the mappings: docs/
    architecture.md, *Open data*); the same for every caller, public fields only."""
    settings = request.app.state.settings
    publisher = iati.Publisher(settings.iati_reporting_org, settings.iati_reporting_org_name)
    chunks, until = await iati.stream(session, request.app.state.sessions, publisher, updated_since)
    if chunks is None:
        return Response(status_code=204, headers=updated_until_header(until))
    return ClosingStreamingResponse(
        chunks,
        media_type=iati.MEDIA_TYPE,
        headers={
            "Content-Disposition": 'attachment; filename="climatelib-iati.xml"',
            **updated_until_header(until),
        },
    )
