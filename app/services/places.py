"""Places, for open data: a project's location checked against its province's box, and the list's
``bbox`` filter read from its query text.

The boxes and their source are data (``app/reference/provinces.json``); the SQL of the filter is
``app/repositories/places.py``; the map's answer (GeoJSON) is ``app/services/geojson.py``.
"""

import math
from collections.abc import Iterator
from typing import Any

from app.errors import BadRequest, field_error
from app.models.project_query import BBox
from app.reference.provinces import checked_box, province_of

Broken = tuple[list[str | int], str, str]


def location_problems(location: Any, region_code: str) -> Iterator[Broken]:
    """The location rule: a stated point lies in the box of the province of ``region_code``
    (islands and sea areas included, widened by the data's margin)."""
    if location is None:
        return
    box = checked_box(region_code)
    if box is None:  # an unknown region is its own error (unknown_region)
        return
    if not box.holds(location.lat, location.lon):
        province = province_of(region_code)
        name = province.name_zh if province else region_code[:2]
        yield (
            ["location"],
            "location_outside_province",
            f"({location.lat}, {location.lon}) lies outside the box of {name}, the province "
            f"of {region_code} (its islands and sea areas included).",
        )


def _invalid(message: str) -> BadRequest:
    return BadRequest(
        message,
        code="invalid_bbox",
        errors=[field_error(["query", "bbox"], "invalid_bbox", message)],
    )


def parse_bbox(text: str | None) -> BBox | None:
    """``minLon,minLat,maxLon,maxLat`` (RFC 7946's bbox order) as a box, or a 400
    ``invalid_bbox``: four finite numbers, longitudes within ±180 and latitudes within ±90,
    west not east of east, south not north of north (a box across the antimeridian is refused:
    no province needs one)."""
    if text is None:
        return None
    parts = text.split(",")
    if len(parts) != 4:
        raise _invalid("bbox takes four numbers: minLon,minLat,maxLon,maxLat.")
    try:
        west, south, east, north = (float(p.strip()) for p in parts)
    except ValueError:
        raise _invalid("bbox takes four numbers: minLon,minLat,maxLon,maxLat.") from None
    if not all(math.isfinite(v) for v in (west, south, east, north)):
        raise _invalid("bbox takes finite numbers.")
    if not (-180 <= west <= 180 and -180 <= east <= 180):
        raise _invalid("bbox longitudes lie within -180 and 180.")
    if not (-90 <= south <= 90 and -90 <= north <= 90):
        raise _invalid("bbox latitudes lie within -90 and 90.")
    if west > east or south > north:
        raise _invalid("bbox is minLon,minLat,maxLon,maxLat: the minimum first.")
    return BBox(west, south, east, north)
