"""Projects as an RFC 7946 GeoJSON FeatureCollection: ``GET /api/v1/projects.geojson``.

A page of the list (the same filters, visibility, order and cursor) restricted to projects with a
location (or, with ``bbox``, to those in the box); each list item becomes a Feature whose geometry
is its point in (longitude, latitude) order and whose properties are the item as the list shows it
to the caller. The next page's cursor is the collection's ``next_cursor``
member (a foreign member, RFC 7946 §6.1).
"""

from dataclasses import replace
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from app.auth import Principal
from app.models.project_query import BBox, ProjectFilters
from app.services import projects

MEDIA_TYPE = "application/geo+json"


def feature(item: dict[str, Any]) -> dict[str, Any]:
    """A list item with a location as a GeoJSON Feature: the point in (lon, lat) order, as RFC
    7946 §3.1.1 wants, and the whole item, as the list shows it, as its properties."""
    location = item["location"]
    return {
        "type": "Feature",
        "id": item["id"],
        "geometry": {"type": "Point", "coordinates": [location["lon"], location["lat"]]},
        "properties": item,
    }


def feature_collection(items: list[dict[str, Any]], next_cursor: str | None) -> dict[str, Any]:
    """A page of the list as a FeatureCollection (only the items with a location); the cursor of
    the next page rides along as a foreign member, as RFC 7946 §6.1 allows."""
    return {
        "type": "FeatureCollection",
        "features": [feature(i) for i in items if i.get("location") is not None],
        "next_cursor": next_cursor,
    }


WORLD = BBox(-180.0, -90.0, 180.0, 90.0)
"""The box of every point: as a filter, the projects that have a location."""


async def page(
    session: AsyncSession,
    principal: Principal,
    filters: ProjectFilters,
    *,
    sort: str,
    cursor: str | None,
    limit: int,
) -> tuple[dict[str, Any], datetime | None]:
    """One page of the projects the caller may see that have a location, as a FeatureCollection;
    with ``updated_since`` also the read's watermark."""
    if filters.bbox is None:
        filters = replace(filters, bbox=WORLD)
    listed, until = await projects.list_projects(
        session, principal, filters, sort=sort, cursor=cursor, limit=limit
    )
    return feature_collection(listed["items"], listed["next_cursor"]), until
