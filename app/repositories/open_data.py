"""What open data (the IATI export) reads besides the public project list: the money that moved
to each project. Only financed engagements count (a signed contract, and the disbursements made
under it); offers still open or not financed are never published. The institution comes with its
``open_data_consent``: the service names it only when it agreed (app/services/iati.py)."""

import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.models import (
    Engagement,
    EngagementStatus,
    Institution,
    Payment,
    PaymentKind,
    Project,
)


@dataclass(frozen=True, slots=True)
class Flow:
    """Money to a project: a signed amount (``commitment``) or a disbursement."""

    project_id: uuid.UUID
    kind: str  # "commitment" or "disbursement"
    amount: Decimal
    on: date
    institution_name: str
    institution_uscc: str
    open_data_consent: bool


async def flows(session: AsyncSession, project_ids: Iterable[uuid.UUID]) -> list[Flow]:
    """The commitments and disbursements of financed engagements on these projects, in date
    order (commitments first on a day)."""
    ids = list(project_ids)
    if not ids:
        return []
    financed = (
        select(
            Engagement.project_id,
            Engagement.financed_amount,
            Engagement.financed_on,
            Institution.name,
            Institution.uscc,
            Institution.open_data_consent,
        )
        .join(Institution, Institution.id == Engagement.institution_id)
        .where(Engagement.project_id.in_(ids), Engagement.status == EngagementStatus.financed)
    )
    paid = (
        select(
            Engagement.project_id,
            Payment.amount,
            Payment.paid_on,
            Institution.name,
            Institution.uscc,
            Institution.open_data_consent,
        )
        .join(Engagement, Engagement.id == Payment.engagement_id)
        .join(Institution, Institution.id == Engagement.institution_id)
        .where(
            Engagement.project_id.in_(ids),
            Engagement.status == EngagementStatus.financed,
            Payment.kind == PaymentKind.disbursement,
        )
    )
    out = [
        Flow(row[0], "commitment", _cents(row[1]), row[2], row[3], row[4], bool(row[5]))
        for row in await session.execute(financed)
        if row[1] is not None and row[2] is not None
    ]
    out += [
        Flow(row[0], "disbursement", _cents(row[1]), row[2], row[3], row[4], bool(row[5]))
        for row in await session.execute(paid)
    ]
    out.sort(key=lambda f: (f.on, f.kind != "commitment", f.institution_uscc, f.amount))
    return out


def _cents(value: object) -> Decimal:
    return Decimal(str(value)).quantize(Decimal("0.01"))


async def touch_financed_by(session: AsyncSession, institution_id: uuid.UUID) -> int:
    """Restamp the projects this institution financed (their ``updated_at`` by the database's
    clock, and their version), so that a feed read with ``updated_since`` (the IATI export, the
    project list) hands them out again after a change to how open data names the institution;
    the number of projects."""
    financed = select(Engagement.project_id).where(
        Engagement.institution_id == institution_id,
        Engagement.status == EngagementStatus.financed,
    )
    result = await session.execute(
        update(Project)
        .where(Project.id.in_(financed))
        .values(version=Project.version + 1)
        .execution_options(synchronize_session=False)
    )
    return int(result.rowcount or 0)  # type: ignore[attr-defined]
