"""Money under a signed contract: disbursements (放款) and repayments of a financed engagement.

``financed`` records the signed contract (签约金额), not money paid out. The offering institution
records each disbursement and repayment as it happens; their sums never exceed what allows them
(disbursed ≤ signed, repaid ≤ disbursed), so ``outstanding = disbursed − repaid`` is never
negative. The engagement row is read locked first, so two payments recorded at once are checked
one after the other. A disbursement restamps the project (app/repositories/open_data.py): its
IATI activity gains a transaction, which the export's ``updated_since`` feed must hand out.
"""

import uuid
from decimal import Decimal

from sqlalchemy.ext.asyncio import AsyncSession

from app.auth import Principal
from app.errors import Conflict, Forbidden, NotFound, RuleViolation, Unauthorized, field_error
from app.models import Engagement, EngagementStatus, Payment, PaymentKind, Role
from app.repositories import engagements as repo
from app.repositories import open_data
from app.schemas.common import Page
from app.schemas.engagement import PaymentCreate, PaymentRead
from app.services.engagements import load
from app.services.matching.service import today

_ZERO = Decimal("0.00")


def _read(payment: Payment) -> PaymentRead:
    return PaymentRead(
        id=payment.id,
        engagement_id=payment.engagement_id,
        kind=PaymentKind(payment.kind),
        amount=payment.amount,
        date=payment.paid_on,
        created_at=payment.created_at,
    )


def _refuse(field: str, code: str, message: str) -> RuleViolation:
    return RuleViolation(message, code=code, errors=[field_error(["body", field], code, message)])


def _ensure_recorder(principal: Principal, engagement: Engagement) -> None:
    """Only the institution that made the offer records the money it moves."""
    if principal.role is not Role.institution or engagement.institution_id != (
        principal.institution_id
    ):
        raise Forbidden(
            "Disbursements and repayments are recorded by the offering institution.",
            code="not_your_action",
        )


def _ensure_fits(
    engagement: Engagement, body: PaymentCreate, disbursed: Decimal, repaid: Decimal
) -> None:
    signed = engagement.financed_amount or _ZERO
    if body.kind is PaymentKind.disbursement and disbursed + body.amount > signed:
        raise _refuse(
            "amount",
            "exceeds_signed_amount",
            f"Disbursements would reach {disbursed + body.amount}, above the signed amount "
            f"{signed} ({signed - disbursed} left to disburse).",
        )
    if body.kind is PaymentKind.repayment and repaid + body.amount > disbursed:
        raise _refuse(
            "amount",
            "exceeds_disbursed_amount",
            f"Repayments would reach {repaid + body.amount}, above the {disbursed} disbursed.",
        )
    if body.date > today():
        raise _refuse("date", "date_in_future", "The date cannot be in the future.")
    if engagement.financed_on is not None and body.date < engagement.financed_on:
        raise _refuse(
            "date",
            "date_before_signing",
            f"The date is before the contract was signed ({engagement.financed_on}).",
        )


async def record(
    session: AsyncSession, principal: Principal, engagement_id: uuid.UUID, body: PaymentCreate
) -> PaymentRead:
    """Record a disbursement or repayment on a financed engagement (404/403/409/422)."""
    if principal.is_anonymous:
        raise Unauthorized("This operation needs an API key.")
    engagement = (await load(session, principal, engagement_id, for_update=True))[0]
    _ensure_recorder(principal, engagement)
    if engagement.status != EngagementStatus.financed:
        raise Conflict(
            f"Money moves only under a signed contract; the engagement is {engagement.status}.",
            code="engagement_not_financed",
        )
    totals = (await repo.payment_totals(session, [engagement.id])).get(engagement.id, {})
    disbursed = totals.get(PaymentKind.disbursement, _ZERO)
    repaid = totals.get(PaymentKind.repayment, _ZERO)
    _ensure_fits(engagement, body, disbursed, repaid)
    payment = Payment(
        engagement_id=engagement.id,
        kind=body.kind,
        amount=body.amount,
        paid_on=body.date,
        created_by=principal.key_id,
    )
    await repo.add_payment(session, payment)
    if body.kind is PaymentKind.disbursement:  # the IATI activity's incoming funds
        await open_data.touch_activity(session, engagement.project_id)
    return _read(payment)


async def list_payments(
    session: AsyncSession,
    principal: Principal,
    engagement_id: uuid.UUID,
    *,
    cursor: str | None,
    limit: int,
) -> Page[PaymentRead]:
    """The engagement's disbursements and repayments, oldest recorded first, for its parties."""
    if principal.is_anonymous:
        raise Unauthorized("This operation needs an API key.")
    await load(session, principal, engagement_id)
    rows, next_cursor = await repo.payment_page(session, engagement_id, cursor=cursor, limit=limit)
    return Page[PaymentRead](items=[_read(p) for p in rows], next_cursor=next_cursor)


async def get(
    session: AsyncSession, principal: Principal, engagement_id: uuid.UUID, payment_id: uuid.UUID
) -> PaymentRead:
    """One disbursement or repayment, for the engagement's parties."""
    if principal.is_anonymous:
        raise Unauthorized("This operation needs an API key.")
    await load(session, principal, engagement_id)
    payment = await repo.get_payment(session, engagement_id, payment_id)
    if payment is None:
        raise NotFound("No payment with that id.", code="payment_not_found")
    return _read(payment)
