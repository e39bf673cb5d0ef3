"""The project lifecycle (入库流程): who may move a project from which state to which.

The states and steps are drawn in docs/architecture.md, *The domain model*.

Every transition is kept (who, when, from, to, why) as an event of the audit store
(services/audit.py). Approval gives the library code
``CIF-<region>-<year>-<5 digits>``, gap-free per region and year: the counter row is bumped with
one INSERT … ON CONFLICT DO UPDATE … RETURNING inside the approval's own transaction, so racing
approvals queue on that row and a rolled-back approval gives its number back.
"""

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from app.auth import Principal
from app.errors import Conflict, Forbidden, RuleViolation, Unauthorized, field_error
from app.models import ExitReason, Project, ProjectStatus, Role
from app.models.base import utcnow
from app.repositories import engagements as engagements_repo
from app.repositories import project_writes
from app.repositories.projects import can_edit
from app.schemas.project_transition import TransitionAction
from app.services import audit, webhooks
from app.services.screening import screen_fields

S = ProjectStatus
A = TransitionAction


def _is_region_owner(p: Principal, project: Project) -> bool:
    return can_edit(p, project.region_code, project.pilot_id)


def _is_province_reviewer(p: Principal, project: Project) -> bool:
    return p.role is Role.reviewer and project.region_code.startswith(p.region_prefixes)


def _is_admin(p: Principal, project: Project) -> bool:
    return p.role is Role.admin


def _reviewer_at_submitted_or_admin(p: Principal, project: Project) -> bool:
    if p.role is Role.admin:
        return True
    return project.status == S.submitted and _is_province_reviewer(p, project)


def _admin_or_region(p: Principal, project: Project) -> bool:
    return p.role is Role.admin or _is_region_owner(p, project)


@dataclass(frozen=True)
class Rule:
    sources: frozenset[ProjectStatus]
    target: ProjectStatus
    who: Callable[[Principal, Project], bool]
    who_text: str
    needs_reason: bool = False


RULES: dict[TransitionAction, Rule] = {
    A.submit: Rule(frozenset({S.draft, S.returned}), S.submitted, _is_region_owner, "the region"),
    A.recommend: Rule(
        frozenset({S.submitted}),
        S.recommended,
        _is_province_reviewer,
        "the reviewer of the project's province",
    ),
    A.approve: Rule(frozenset({S.recommended}), S.in_library, _is_admin, "the administrator"),
    A.return_: Rule(
        frozenset({S.submitted, S.recommended}),
        S.returned,
        _reviewer_at_submitted_or_admin,
        "the province's reviewer at submitted, the administrator at either",
        needs_reason=True,
    ),
    A.reject: Rule(
        frozenset({S.submitted, S.recommended}),
        S.rejected,
        _reviewer_at_submitted_or_admin,
        "the province's reviewer at submitted, the administrator at either",
        needs_reason=True,
    ),
    A.withdraw: Rule(frozenset({S.draft, S.returned}), S.withdrawn, _is_region_owner, "the region"),
    A.exit: Rule(
        frozenset({S.in_library}), S.exited, _admin_or_region, "the administrator or region"
    ),
}


def allowed_actions(status: ProjectStatus) -> list[str]:
    return [action.value for action, rule in RULES.items() if status in rule.sources]


def step_values(
    principal: Principal,
    project_id: uuid.UUID,
    action: str,
    from_status: ProjectStatus | None,
    to_status: ProjectStatus,
    reason: str | None,
    at: datetime,
    screening: dict[str, Any] | None = None,
    changes: audit.Changes | None = None,
) -> dict[str, Any]:
    """One step of a project's history as an audit event: who, when, from, to, why, what
    changed, and the 两高 screening on the steps that screen (creation, submission,
    re-submission)."""
    return audit.event(
        principal,
        action,
        "project",
        project_id,
        changes=changes,
        from_status=from_status,
        to_status=to_status,
        reason=reason,
        screening=screening,
        at=at,
    )


SCREENING_STEPS = frozenset({"create", "submit"})
"""The lifecycle steps whose history entry keeps the screening: those where it is (re)checked
(revision steps keep theirs, services/revisions.py)."""


async def record(
    session: AsyncSession,
    principal: Principal,
    project: Project,
    action: str,
    from_status: ProjectStatus | None,
    reason: str | None = None,
    changes: audit.Changes | None = None,
) -> None:
    """Keep one step of the project's history (an event of the audit store)."""
    screening = project.screening if action in SCREENING_STEPS else None
    values = step_values(
        principal,
        project.id,
        action,
        from_status,
        project.status,
        reason,
        utcnow(),
        screening,
        changes,
    )
    await audit.record(session, values)
    await webhooks.emit(session, values)


def ensure_screening_passes(project: Project) -> None:
    """Refuse a ``two_high_refused`` project entering review (422 naming the rule).

    The project is screened again, by today's rules, and keeps that result: the review and the
    history step see what the submission was checked against.
    """
    result = screen_fields(project)
    refusal = result.refusal()
    if refusal is not None:
        raise refusal
    project.screening = result.as_json()
    project.is_two_high = result.is_two_high
    project.two_high_outcome = result.outcome


async def next_library_code(session: AsyncSession, region_code: str, year: int) -> str:
    """The next code of the region and year, counted in this transaction."""
    number = await project_writes.next_library_number(session, region_code, year)
    return f"CIF-{region_code}-{year}-{number:05d}"


def not_possible(action: str, status: str, allowed: list[str]) -> Conflict:
    """The 409 of an action its subject's status does not take, naming the ones it does."""
    return Conflict(
        f"'{action}' is not possible from {status}; allowed: {', '.join(allowed) or 'none'}.",
        code="invalid_transition",
        allowed_actions=allowed,
    )


def ensure_reason(action: str, reason: str | None) -> None:
    """Refuse (422) an action that needs a reason and was given none."""
    if not (reason and reason.strip()):
        raise RuleViolation(
            f"'{action}' needs a reason.",
            code="reason_required",
            errors=[field_error(["body", "reason"], "reason_required", "A reason is required.")],
        )


def authorize(
    principal: Principal,
    project: Project,
    action: TransitionAction,
    reason: str | None,
    reason_code: ExitReason | None = None,
) -> None:
    """Raise why ``action`` cannot happen to this visible project now (401/403/409/422)."""
    rule = RULES[action]
    # No transition is the public's: a caller without a key learns that first (401), not the
    # project's status (409).
    if principal.is_anonymous:
        raise Unauthorized("Transitions need an API key.")
    if project.status not in rule.sources:
        allowed = allowed_actions(project.status)
        raise not_possible(action.value, project.status, allowed)
    if not rule.who(principal, project):
        raise Forbidden(f"'{action.value}' is for {rule.who_text}.", code="transition_not_allowed")
    if rule.needs_reason:
        ensure_reason(action.value, reason)
    _check_reason_code(principal, action, reason_code)
    if rule.target is S.submitted:
        ensure_screening_passes(project)


def _check_reason_code(
    principal: Principal, action: TransitionAction, reason_code: ExitReason | None
) -> None:
    """``exit`` states why (422 without); only the administrator finds a project non-compliant."""
    loc = ["body", "reason_code"]
    if action is not A.exit:
        if reason_code is not None:
            message = "reason_code belongs to exit only."
            raise RuleViolation(
                message,
                code="reason_code_not_applicable",
                errors=[field_error(loc, "reason_code_not_applicable", message)],
            )
        return
    if reason_code is None:
        message = (
            "exit needs a reason_code: completed, financing_fulfilled, cancelled or non_compliant."
        )
        raise RuleViolation(
            message,
            code="reason_code_required",
            errors=[field_error(loc, "reason_code_required", message)],
        )
    if reason_code is ExitReason.non_compliant and principal.role is not Role.admin:
        raise Forbidden(
            "Only the administrator exits a project as non_compliant.",
            code="exit_reason_admin_only",
        )


async def ensure_no_open_offers(session: AsyncSession, project: Project) -> None:
    """A project leaves the library only once every offer on it has its outcome (409)."""
    open_offers = await engagements_repo.count_open_offers(session, project.id)
    if open_offers:
        raise Conflict(
            f"{open_offers} offer(s) on the project are still open: each is declined, "
            "financed or not financed before the project exits.",
            code="open_offers",
        )


async def apply(
    session: AsyncSession,
    principal: Principal,
    project: Project,
    action: TransitionAction,
    reason: str | None,
    reason_code: ExitReason | None = None,
) -> None:
    """Move a project by ``action``; ``authorize`` has said it may."""
    rule = RULES[action]
    if action is A.exit:
        await ensure_no_open_offers(session, project)
        project.exit_reason = reason_code
        # The history's reason says why: the words given, else the code.
        reason = reason or (reason_code.value if reason_code is not None else None)
    from_status = project.status
    project.status = rule.target
    if action is A.approve:
        now = utcnow()
        project.approved_at = now
        # A project sent back by a screening change and approved again keeps its code.
        if project.library_code is None:
            project.library_code = await next_library_code(session, project.region_code, now.year)
    await record(session, principal, project, action.value, from_status, reason)
