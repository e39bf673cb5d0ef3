"""The list's ``bbox`` filter as SQL: one term of the project filter builder (``_terms`` in
app/repositories/projects.py), with bind parameters so its statement is built once. A project
without a location is never in a box (its NULL coordinates compare false)."""

from sqlalchemy import ColumnElement, Float, and_, bindparam

from app.models import Project
from app.models.project_query import BBox
from app.repositories.statements import Term


def bbox_term(box: BBox) -> Term:
    """Projects whose point lies in ``box``, edges included, its corners bound at execution."""
    names = ("f_bbox_min_lon", "f_bbox_max_lon", "f_bbox_min_lat", "f_bbox_max_lat")
    values = (box.min_lon, box.max_lon, box.min_lat, box.max_lat)

    def build() -> ColumnElement[bool]:
        lo_lon, hi_lon, lo_lat, hi_lat = (bindparam(n, type_=Float()) for n in names)
        return and_(
            Project.location_lon.between(lo_lon, hi_lon),
            Project.location_lat.between(lo_lat, hi_lat),
        )

    return Term("bbox", dict(zip(names, values, strict=True)), build)
