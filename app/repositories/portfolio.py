"""The rows of an institution's portfolio: each of its offers with the project figures and the
money moved under it (app/services/portfolio.py adds them up).

Visibility is the caller's own institution (or an administrator), checked by the service before
it reads: an institution's offers are its own whatever the projects' status since.
"""

import uuid
from typing import Any

from sqlalchemy import case, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.models import Engagement, Payment, PaymentKind, Product, Project
from app.repositories.sums import CentsSum


async def offer_rows(session: AsyncSession, institution_id: uuid.UUID) -> list[Any]:
    """Every offer of the institution with its product, its project's grouping keys and
    figures, and its payments summed in cents (``disbursed_cents``, ``repaid_cents``)."""
    paid = (
        select(
            Payment.engagement_id.label("engagement_id"),
            CentsSum(case((Payment.kind == PaymentKind.disbursement, Payment.amount))).label(
                "disbursed_cents"
            ),
            CentsSum(case((Payment.kind == PaymentKind.repayment, Payment.amount))).label(
                "repaid_cents"
            ),
        )
        .group_by(Payment.engagement_id)
        .subquery("paid")
    )
    stmt = (
        select(
            Engagement.id,
            Engagement.status,
            Engagement.created_at,
            Engagement.financed_amount,
            Engagement.financed_rate,
            Engagement.product_id,
            Product.name.label("product_name"),
            Project.primary_category,
            Project.region_code,
            Project.total_investment,
            Project.annual_emission_reduction_tco2e,
            Project.annual_carbon_sink_tco2e,
            Project.verified_reports,
            Project.verified_emission_reduction_tco2e,
            Project.verified_carbon_sink_tco2e,
            Project.status.label("project_status"),
            Project.exit_reason,
            paid.c.disbursed_cents,
            paid.c.repaid_cents,
        )
        .select_from(Engagement)
        .join(Product, Product.id == Engagement.product_id)
        .join(Project, Project.id == Engagement.project_id)
        .outerjoin(paid, paid.c.engagement_id == Engagement.id)
        .where(Engagement.institution_id == institution_id)
        .order_by(Engagement.created_at, Engagement.id)
    )
    return list((await session.execute(stmt)).all())
