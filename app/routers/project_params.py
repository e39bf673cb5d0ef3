"""The parameters the project routes share: the region's key, and the list's filters and order
(the list and the export take them alike)."""

import uuid
from decimal import Decimal
from typing import Annotated, Literal

from fastapi import Depends, Query
from pydantic import Field

from app.auth import Principal, require_roles
from app.models import Role
from app.models.project import ConstructionStatus, Objective, ProjectStatus, TwoHighOutcome
from app.models.project_query import ProjectFilters
from app.routers.query_types import UPDATED_SINCE_DOC, Instant
from app.schemas.common import DecimalText
from app.schemas.integrity import FlagCode
from app.schemas.project import MONEY_MAX, Category, FinancingType
from app.services.places import parse_bbox

RegionDep = Annotated[Principal, require_roles(Role.region)]
SortName = Literal[
    "created_at",
    "-created_at",
    "updated_at",
    "-updated_at",
    "financing_need",
    "-financing_need",
    "name",
    "-name",
]
# A bound on financing_need: CNY, two places at most, within what money can hold.
NeedBound = Annotated[
    Annotated[
        Decimal,
        Field(ge=0, le=MONEY_MAX, decimal_places=2, allow_inf_nan=False),
        DecimalText(13, 2),
    ]
    | None,
    Query(),
]


def project_filters(
    status: Annotated[
        list[ProjectStatus] | None, Query(description="Any of these statuses.")
    ] = None,
    objective: Annotated[
        list[Objective] | None, Query(description="Any of these objectives.")
    ] = None,
    category: Annotated[
        list[Category] | None, Query(description="Has any of these categories.")
    ] = None,
    region_code: Annotated[
        str | None,
        Query(pattern=r"^\d{1,6}$", description="Region code prefix: 44, 4403, 440304."),
    ] = None,
    pilot_id: Annotated[
        uuid.UUID | None,
        Query(description="The projects of this pilot (their pilot_id; GET /pilots)."),
    ] = None,
    industry_code: Annotated[
        str | None,
        Query(pattern=r"^[A-T]\d{0,4}$", description="GB/T 4754 code or prefix: D, D44, D4415."),
    ] = None,
    construction_status: Annotated[
        list[ConstructionStatus] | None, Query(description="Any of these construction statuses.")
    ] = None,
    financing_type: Annotated[
        list[FinancingType] | None, Query(description="Wants any of these financing types.")
    ] = None,
    need_min: Annotated[NeedBound, Query(description="financing_need at least (CNY).")] = None,
    need_max: Annotated[NeedBound, Query(description="financing_need at most (CNY).")] = None,
    two_high: Annotated[bool | None, Query(description="In a 两高 industry, or not.")] = None,
    two_high_outcome: Annotated[
        list[TwoHighOutcome] | None, Query(description="Any of these 两高 screening outcomes.")
    ] = None,
    two_high_retrofit: Annotated[
        bool | None,
        Query(
            deprecated=True,
            description=(
                "Deprecated: two_high_outcome=two_high_transition says it. A 两高 transition "
                "project (flagged for reviewers), or not."
            ),
        ),
    ] = None,
    q: Annotated[
        str | None, Query(min_length=1, max_length=200, description="Text in name or summary.")
    ] = None,
    updated_since: Annotated[Instant | None, Query(description=UPDATED_SINCE_DOC)] = None,
    bbox: Annotated[
        str | None,
        Query(
            max_length=200,
            description=(
                "Projects whose location lies in this box: minLon,minLat,maxLon,maxLat in WGS "
                "84 degrees (RFC 7946 order), edges included; projects without a location are "
                "left out. Malformed: 400 invalid_bbox."
            ),
            examples=["113.7,22.4,114.7,22.9"],
        ),
    ] = None,
    flag: Annotated[
        FlagCode | None,
        Query(description="Raises this integrity flag (reviewers and administrators; 403 else)."),
    ] = None,
) -> ProjectFilters:
    """The list's filters (query parameters), shared by the list and the export."""
    return ProjectFilters(
        status=status,
        objective=objective,
        categories=category,
        region_code=region_code,
        pilot_id=pilot_id,
        industry_code=industry_code,
        construction_status=construction_status,
        financing_types=financing_type,
        need_min=need_min,
        need_max=need_max,
        two_high=two_high,
        two_high_outcome=two_high_outcome,
        two_high_transition=two_high_retrofit,
        q=q,
        updated_since=updated_since,
        bbox=parse_bbox(bbox),
        flag=flag,
    )


FiltersDep = Annotated[ProjectFilters, Depends(project_filters)]
SortQuery = Annotated[SortName, Query(description="Order; '-' for descending. Ties break on id.")]
