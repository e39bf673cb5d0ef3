"""What open data (the IATI export) reads besides the public project list: the money that moved
to each project. Only financed engagements count (a signed contract, and the disbursements made
under it); offers still open or not financed are never published. The institution comes with its
``open_data_consent``: the service names it only when it agreed (app/services/iati.py)."""

import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any

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


# What a project's IATI activity holds besides its own row: its financed engagements'
# commitments (the financing step restamps the project itself, app/repositories/engagements.py
# ``add_secured``), their disbursements (``touch_activity``), the verified monitoring figures (the
# verification's UPDATE of the project stamps ``updated_at``) and how open data names the
# institutions that financed it (``touch_financed_by``). Documents and repayments are not
# exported, so they restamp nothing.


async def _restamp(session: AsyncSession, project_ids: Any) -> int:
    """Restamp these projects (``updated_at`` by the database's clock, the column's onupdate,
    and the version) so that a feed read with ``updated_since`` (the IATI export, the project
    list) hands them out again; the number of projects. The version moves with ``updated_at``
    because a writing key's ETag is the version and its view shows ``updated_at``: a restamp
    left at the same version would answer that key a 304 with a stale body."""
    result = await session.execute(
        update(Project)
        .where(Project.id.in_(project_ids))
        .values(version=Project.version + 1)
        .execution_options(synchronize_session=False)
    )
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


async def touch_activity(session: AsyncSession, project_id: uuid.UUID) -> None:
    """Restamp a project whose activity changed without a write to its row (a disbursement)."""
    await _restamp(session, [project_id])


async def touch_financed_by(session: AsyncSession, institution_id: uuid.UUID) -> int:
    """Restamp the projects this institution financed, after a change to how open data names
    the institution; the number of projects."""
    financed = select(Engagement.project_id).where(
        Engagement.institution_id == institution_id,
        Engagement.status == EngagementStatus.financed,
    )
    return await _restamp(session, financed)
