"""Offers and the financing funnel, in the spirit of Huzhou's 绿贷通 (docs/architecture.md).

An institution offers terms on a library project its product matches; the owner's region accepts
or declines each competing offer; acceptance reveals the contact and starts a contact deadline;
the institution records contact, due diligence and the outcome. A financed amount raises the
project's ``financing_secured`` and the product's ``quota_used`` with conditional UPDATEs, so two
institutions financing at the same moment can never overshoot the need or the quota.
"""

import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from app.auth import Principal
from app.errors import Conflict, Forbidden, NotFound, RuleViolation, Unauthorized, field_error
from app.models import (
    Engagement,
    EngagementStatus,
    PaymentKind,
    ProductStatus,
    ProjectStatus,
    Role,
)
from app.repositories import engagements as repo
from app.repositories import projects as projects_repo
from app.repositories.engagements import CONTACT_STATUSES
from app.schemas.common import Page
from app.schemas.engagement import Contact, EngagementCreate, EngagementRead, EngagementTransition
from app.services import audit, products, webhooks
from app.services.matching.criteria import criteria_of
from app.services.matching.explanation import explain
from app.services.matching.service import snapshot, today

__all__ = ["create", "get", "list_engagements", "load", "transition"]

S = EngagementStatus

# action → (the party that takes it, the statuses it starts from, the status it leads to)
ACTIONS: dict[str, tuple[Role, frozenset[EngagementStatus], EngagementStatus]] = {
    "accept": (Role.region, frozenset({S.offered}), S.accepted),
    "decline": (Role.region, frozenset({S.offered, S.accepted}), S.declined),
    "contact": (Role.institution, frozenset({S.accepted}), S.contacted),
    "due_diligence": (Role.institution, frozenset({S.contacted}), S.due_diligence),
    "financed": (Role.institution, frozenset({S.contacted, S.due_diligence}), S.financed),
    "not_financed": (
        Role.institution,
        frozenset({S.accepted, S.contacted, S.due_diligence}),
        S.not_financed,
    ),
}


def _now() -> datetime:
    return datetime.now(UTC)


def is_lapsed(engagement: Engagement, now: datetime) -> bool:
    return (
        engagement.status == S.accepted
        and engagement.contact_deadline is not None
        and engagement.contact_deadline < now
    )


def allowed_actions(engagement: Engagement, now: datetime) -> list[str]:
    status = S(engagement.status)
    out = [a for a, (_role, sources, _to) in ACTIONS.items() if status in sources]
    if is_lapsed(engagement, now):
        out = [a for a in out if a != "contact"]
    return out


_ZERO = Decimal("0.00")


def _read(
    row: Any,
    principal: Principal,
    now: datetime,
    paid: dict[PaymentKind, Decimal] | None = None,
) -> EngagementRead:
    engagement, project, product_name, institution_name = row
    disbursed = (paid or {}).get(PaymentKind.disbursement, _ZERO)
    repaid = (paid or {}).get(PaymentKind.repayment, _ZERO)
    lapsed = is_lapsed(engagement, now)
    shows_contact = principal.role is not Role.institution or engagement.status in CONTACT_STATUSES
    contact = (
        Contact(name=project.contact_name, phone=project.contact_phone, email=project.contact_email)
        if shows_contact
        else None
    )
    return EngagementRead(
        id=engagement.id,
        project_id=engagement.project_id,
        product_id=engagement.product_id,
        institution_id=engagement.institution_id,
        status="lapsed" if lapsed else str(engagement.status),
        is_lapsed=lapsed,
        amount=engagement.amount,
        annual_rate=engagement.annual_rate,
        tenor_months=engagement.tenor_months,
        message=engagement.message,
        accepted_at=engagement.accepted_at,
        contact_deadline=engagement.contact_deadline,
        contacted_at=engagement.contacted_at,
        due_diligence_at=engagement.due_diligence_at,
        declined_at=engagement.declined_at,
        decline_reason=engagement.decline_reason,
        closed_at=engagement.closed_at,
        financed_amount=engagement.financed_amount,
        signed_amount=engagement.financed_amount,
        disbursed_amount=disbursed,
        repaid_amount=repaid,
        outstanding_amount=disbursed - repaid,
        financed_rate=engagement.financed_rate,
        financed_on=engagement.financed_on,
        not_financed_reason=engagement.not_financed_reason,
        project_name=project.name,
        project_region_code=project.region_code,
        product_name=product_name,
        institution_name=institution_name,
        contact=contact,
        created_at=engagement.created_at,
        updated_at=engagement.updated_at,
    )


def _require_key(principal: Principal) -> None:
    if principal.is_anonymous:
        raise Unauthorized("This operation needs an API key.")


async def create(
    session: AsyncSession, principal: Principal, body: EngagementCreate
) -> EngagementRead:
    """Make an offer on a library project that one of the caller's active products matches."""
    product = await products.load(session, principal, body.product_id)
    if product.institution_id != principal.institution_id:
        raise Forbidden("Offers are made with the caller's own products.", code="not_owner")
    if product.status != ProductStatus.active:
        raise Conflict("Only an active product can back an offer.", code="product_not_active")
    # An institution reads the library as the public does: the readable project is a library one.
    project = await projects_repo.get_readable(session, principal, body.project_id)
    if project is None or project.status != ProjectStatus.in_library:
        raise NotFound("No library project with that id.", code="project_not_found")
    snap = await snapshot(session)
    position = snap.library.position.get(project.id)
    if position is None:  # the library changed under us; the next request sees it
        raise Conflict("The project just left the library.", code="project_not_in_library")
    explanation = explain(snap.library, criteria_of(product), position, today())
    if not explanation.eligible:
        failed = [i for i in explanation.items if not i["passed"]]
        raise RuleViolation(
            "The product's criteria do not admit this project: "
            + ", ".join(i["criterion"] for i in failed),
            code="not_eligible",
            errors=[
                field_error(["body", "product_id"], f"failed_{i['criterion']}", i["detail"])
                for i in failed
            ],
        )
    remaining = project.financing_need - project.financing_secured
    if body.amount > remaining:
        message = f"The offer exceeds the project's remaining need ({remaining})."
        raise RuleViolation(
            message,
            code="amount_exceeds_need",
            errors=[field_error(["body", "amount"], "amount_exceeds_need", message)],
        )
    if await repo.open_offer_exists(session, project.id, product.id):
        raise Conflict(
            "This product already has an open offer on the project.", code="offer_exists"
        )
    engagement = Engagement(
        project_id=project.id,
        product_id=product.id,
        institution_id=product.institution_id,
        status=S.offered,
        amount=body.amount,
        annual_rate=body.annual_rate,
        tenor_months=body.tenor_months,
        message=body.message,
    )
    await repo.add(session, engagement)
    offered = {
        name: {"before": None, "after": audit.json_safe(value)}
        for name, value in body.model_dump(exclude_unset=True).items()
    }
    step = audit.event(
        principal, "offer", "engagement", engagement.id, changes=offered, to_status=S.offered
    )
    await audit.record(session, step)
    await webhooks.emit(session, step)
    return await get(session, principal, engagement.id)


async def load(
    session: AsyncSession,
    principal: Principal,
    engagement_id: uuid.UUID,
    *,
    for_update: bool = False,
) -> Any:
    """One engagement the caller is party to, with its project and the names shown with it."""
    row = await repo.get(session, principal, engagement_id, for_update=for_update)
    if row is None:
        raise NotFound("No engagement with that id.", code="engagement_not_found")
    return row


async def get(
    session: AsyncSession, principal: Principal, engagement_id: uuid.UUID
) -> EngagementRead:
    """One engagement the caller is party to."""
    _require_key(principal)
    row = await load(session, principal, engagement_id)
    paid = await repo.payment_totals(session, [engagement_id])
    return _read(row, principal, _now(), paid.get(engagement_id))


async def list_engagements(
    session: AsyncSession,
    principal: Principal,
    *,
    project_id: uuid.UUID | None,
    product_id: uuid.UUID | None,
    status: str | None,
    cursor: str | None,
    limit: int,
) -> Page[EngagementRead]:
    """The caller's engagements: an institution its offers, a region those on its projects."""
    _require_key(principal)
    rows, next_cursor = await repo.page(
        session,
        principal,
        project_id=project_id,
        product_id=product_id,
        status=status,
        cursor=cursor,
        limit=limit,
    )
    now = _now()
    paid = await repo.payment_totals(session, [row[0].id for row in rows])
    return Page[EngagementRead](
        items=[_read(row, principal, now, paid.get(row[0].id)) for row in rows],
        next_cursor=next_cursor,
    )


def _require(body: EngagementTransition, *names: str) -> None:
    missing = [n for n in names if getattr(body, n) is None]
    if missing:
        raise RuleViolation(
            f"{body.action} needs: {', '.join(missing)}.",
            code="required",
            errors=[field_error(["body", n], "required", f"{n} is required.") for n in missing],
        )


async def _secure(
    session: AsyncSession,
    principal: Principal,
    engagement: Engagement,
    project_status: str,
    amount: Decimal,
) -> None:
    """Add a signed amount to the project and the product: 422 above the project's remaining
    need, 409 above the product's remaining quota (conditional UPDATEs, see the repository:
    concurrent financing cannot overshoot either). The project's history records the change of
    its secured financing."""
    now = _now()
    secured = await repo.add_secured(session, engagement.project_id, amount)
    if secured is None:
        message = "The signed amount exceeds the project's remaining financing need."
        raise RuleViolation(
            message,
            code="exceeds_financing_need",
            errors=[field_error(["body", "amount"], "exceeds_financing_need", message)],
        )
    if not await repo.add_quota_used(session, engagement.product_id, amount, now):
        raise Conflict("The amount exceeds the product's remaining quota.", code="exceeds_quota")
    before = f"{secured - amount:.2f}"
    change = {"financing_secured": {"before": before, "after": f"{secured:.2f}"}}
    reason = f"Financed through offer {engagement.id}."
    step = audit.event(
        principal,
        "financing_recorded",
        "project",
        engagement.project_id,
        changes=change,
        from_status=project_status,
        to_status=project_status,
        reason=reason,
    )
    await audit.record(session, step)
    await webhooks.emit(session, step)


async def transition(
    session: AsyncSession,
    principal: Principal,
    engagement_id: uuid.UUID,
    body: EngagementTransition,
    *,
    contact_deadline_days: int,
) -> EngagementRead:
    """Move an offer along the funnel; the party and the current status decide what is allowed."""
    _require_key(principal)
    engagement, project, _product_name, _institution_name = await load(
        session, principal, engagement_id, for_update=True
    )
    role, _sources, target = ACTIONS[body.action]
    if principal.role is not role:
        who = "the project's region" if role is Role.region else "the offering institution"
        raise Forbidden(f"'{body.action}' is taken by {who}.", code="not_your_action")
    now = _now()
    allowed = allowed_actions(engagement, now)
    if body.action not in allowed:
        state = "lapsed" if is_lapsed(engagement, now) else engagement.status
        raise Conflict(
            f"'{body.action}' is not possible from {state}.",
            code="invalid_transition",
            allowed_actions=allowed,
        )
    if body.action == "accept":
        if project.status != ProjectStatus.in_library:
            raise Conflict(
                "The project is no longer in the library.", code="project_not_in_library"
            )
        engagement.accepted_at = now
        engagement.contact_deadline = now + timedelta(days=contact_deadline_days)
    elif body.action == "decline":
        engagement.declined_at = now
        engagement.decline_reason = body.reason
    elif body.action == "contact":
        engagement.contacted_at = now
    elif body.action == "due_diligence":
        engagement.due_diligence_at = now
    elif body.action == "financed":
        _require(body, "amount", "annual_rate", "date")
        if body.amount is None or body.date is None:  # narrowed by _require; for the type checker
            raise RuntimeError("unreachable")
        if body.date > today():
            message = "The financing date cannot be in the future."
            raise RuleViolation(
                message,
                code="date_in_future",
                errors=[field_error(["body", "date"], "date_in_future", message)],
            )
        await _secure(session, principal, engagement, project.status, body.amount)
        engagement.financed_amount = body.amount
        engagement.financed_rate = body.annual_rate
        engagement.financed_on = body.date
        engagement.closed_at = now
    elif body.action == "not_financed":
        _require(body, "reason_code")
        engagement.not_financed_reason = str(body.reason_code)
        engagement.closed_at = now
    from_status = engagement.status
    engagement.status = target
    await session.flush()
    step = audit.event(
        principal,
        body.action,
        "engagement",
        engagement.id,
        changes=_step_changes(body),
        from_status=from_status,
        to_status=target,
        reason=body.reason,
    )
    await audit.record(session, step)
    await webhooks.emit(session, step)
    return await get(session, principal, engagement.id)


def _step_changes(body: EngagementTransition) -> audit.Changes | None:
    """What a funnel step set on the offer, as the audit keeps it."""
    sent = body.model_dump(exclude_unset=True, exclude={"action", "reason"})
    return {name: {"before": None, "after": audit.json_safe(v)} for name, v in sent.items()} or None
