"""An institution's portfolio (what each figure is: services/portfolio.py): JSON, or XLSX with
``format=xlsx``."""

import uuid
from typing import Annotated

from fastapi import APIRouter, Query
from starlette.responses import Response

from app.auth import PrincipalDep
from app.db import SessionDep
from app.errors import responses
from app.schemas.portfolio import Portfolio, PortfolioFormat, PortfolioGrouping
from app.services import portfolio

router = APIRouter(prefix="/api/v1", tags=["institutions"])


@router.get(
    "/institutions/{institution_id}/portfolio",
    response_model=Portfolio,
    operation_id="get_institution_portfolio",
    summary="An institution's portfolio",
    responses={
        200: {
            "description": "The portfolio; as an XLSX workbook with format=xlsx.",
            "content": {
                portfolio.XLSX_MEDIA_TYPE: {"schema": {"type": "string", "format": "binary"}}
            },
        },
        **responses(400, 401, 403, 404, 422),
    },
)
async def get_institution_portfolio(
    institution_id: uuid.UUID,
    session: SessionDep,
    principal: PrincipalDep,
    group_by: Annotated[
        PortfolioGrouping,
        Query(description="Groups: primary category, province, product or month made."),
    ] = PortfolioGrouping.category,
    format: Annotated[
        PortfolioFormat, Query(description="json, or xlsx (a row per group, then total).")
    ] = PortfolioFormat.json,
) -> Portfolio | Response:
    """Offers, signed, disbursed and outstanding amounts, the weighted rate and attributed
    avoided emissions per group and in total; the institution itself and administrators."""
    if format is PortfolioFormat.xlsx:
        content = await portfolio.report_xlsx(session, principal, institution_id, group_by)
        return Response(
            content,
            media_type=portfolio.XLSX_MEDIA_TYPE,
            headers={
                "Content-Disposition": (
                    f'attachment; filename="portfolio-{institution_id}-{group_by.value}.xlsx"'
                )
            },
        )
    return await portfolio.report(session, principal, institution_id, group_by)
