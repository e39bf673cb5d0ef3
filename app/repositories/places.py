"""The list's ``bbox`` filter as SQL: one clause, called by the project filter builder
(``_filtered`` in app/repositories/projects.py). A project without a location is never in a box
(its NULL coordinates compare false)."""

from sqlalchemy import ColumnElement, and_

from app.models import Project
from app.models.project_query import BBox


def bbox_clause(box: BBox) -> ColumnElement[bool]:
    """Projects whose point lies in ``box``, edges included."""
    return and_(
        Project.location_lon.between(box.min_lon, box.max_lon),
        Project.location_lat.between(box.min_lat, box.max_lat),
    )
