"""Public statistics of the library."""

from typing import Annotated

from fastapi import APIRouter, Query
from starlette.responses import Response

from app.auth import PrincipalDep
from app.db import SessionDep
from app.errors import responses
from app.openapi import KEY_OPTIONAL
from app.schemas.stats import Period, StatsOverview
from app.services import stats

router = APIRouter(prefix="/api/v1", tags=["stats"])


@router.get(
    "/stats/overview",
    openapi_extra=KEY_OPTIONAL,
    response_model=StatsOverview,
    operation_id="get_stats_overview",
    summary="Library statistics",
    responses=responses(401, 422),
)
async def get_stats_overview(
    session: SessionDep,
    principal: PrincipalDep,
    period: Annotated[
        Period, Query(description="Granularity of by_period (period of approval).")
    ] = Period.year,
) -> Response:
    """Counts and sums by status, exit reason, objective, category, province, pilot and period.

    The figures count the projects the caller may read: the public sees every project that
    entered the library (in_library and exited), each once, as counts and exact decimal sums
    with no personal data. Per category a project counts under its primary_category
    (category_mentions count every listed one); climate benefits leave out exits as cancelled
    or non_compliant; financing separates offered, signed, disbursed and outstanding amounts.
    The public figures are kept current: an answer reflects every write committed half a second
    before the request started (the figures each process keeps are confirmed against the change
    log at most every quarter second, and recomputed once per change).
    """
    if stats.coverage_is_public(principal):
        # A measured hot path: the kept figures' JSON, encoded once per recomputation.
        body = await stats.public_overview_json(session, period)
        return Response(body, media_type="application/json")
    figures = await stats.overview(session, principal, period)
    return Response(figures.model_dump_json(by_alias=True), media_type="application/json")
