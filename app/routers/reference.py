"""Reference data anyone may read: the taxonomy (支持范围) and GB/T 2260 regions."""

from typing import Annotated

from fastapi import APIRouter, Query

from app.errors import responses
from app.schemas.reference import (
    ClassificationSchemes,
    Crosswalk,
    RegionDetail,
    RegionPage,
    RegionRead,
    Taxonomy,
)
from app.services import reference

router = APIRouter(prefix="/api/v1", tags=["reference"])


@router.get(
    "/taxonomy",
    response_model=Taxonomy,
    operation_id="get_taxonomy",
    summary="The climate project taxonomy",
)
async def get_taxonomy() -> Taxonomy:
    """The objectives and categories projects are filed under, in Chinese and English."""
    return reference.taxonomy()


@router.get(
    "/taxonomy/classifications",
    response_model=ClassificationSchemes,
    operation_id="list_classification_schemes",
    summary="External classification schemes",
)
async def list_classification_schemes() -> ClassificationSchemes:
    """The external schemes a project may be classified under, with their sources and entries."""
    return reference.classification_schemes()


@router.get(
    "/taxonomy/crosswalk",
    response_model=Crosswalk,
    operation_id="get_taxonomy_crosswalk",
    summary="Suggested mapping from the taxonomy to an external scheme",
    responses=responses(400, 422),
)
async def get_taxonomy_crosswalk(
    to: Annotated[str, Query(max_length=40, description="The scheme to map to: gfc-2025.")],
) -> Crosswalk:
    """The entries of scheme ``to`` suggested for each taxonomy code (a suggestion only)."""
    return reference.crosswalk(to)


@router.get(
    "/regions",
    response_model=RegionPage,
    operation_id="list_regions",
    summary="Search GB/T 2260 regions",
    responses=responses(400, 422),
)
async def list_regions(
    parent: Annotated[
        str | None, Query(pattern=r"^\d{6}$", description="Children of this code.")
    ] = None,
    q: Annotated[
        str | None, Query(min_length=1, max_length=50, description="Part of a name.")
    ] = None,
    level: Annotated[str | None, Query(pattern="^(province|prefecture|county)$")] = None,
    include_retired: bool = False,
    cursor: str | None = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> RegionPage:
    """List regions: provinces by default, children with ``parent``, or search by name."""
    return reference.search_regions(
        parent=parent, q=q, level=level, include_retired=include_retired, cursor=cursor, limit=limit
    )


@router.get(
    "/regions/{code}",
    response_model=RegionDetail,
    operation_id="get_region",
    summary="Get a region",
    responses=responses(404),
)
async def get_region(code: str) -> RegionDetail:
    """One region with its parent and its current children."""
    return reference.get_region(code)


__all__ = ["RegionRead", "router"]
