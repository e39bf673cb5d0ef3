"""Revisions of library projects (项目变更): the review of the project lifecycle applied to a
proposed change (docs/architecture.md, *Revisions*).

A change to a screening field of an ``in_library`` project does not take it out of the library:
it opens a revision holding the proposed values, and the project stays public with its approved
fields (offers on it go on). The revision is reviewed as a submission is: the province's reviewer
recommends it (or returns or rejects it), the administrator approves it (or returns or rejects
it). Approval applies the fields, screened again by today's 两高 rules; a returned or rejected
revision leaves the project as it was. One revision per project is open at a time. Each step is
an event of the project's history (``revision_open``, ``revision_recommend``, …).
"""

import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import pydantic
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from app.auth import Principal
from app.errors import (
    Conflict,
    Forbidden,
    NotFound,
    RuleViolation,
    Unauthorized,
    field_errors,
)
from app.ids import new_id
from app.models import Project, ProjectRevision, ProjectStatus, RevisionStatus, Role
from app.models.base import utcnow
from app.repositories import revisions as repo
from app.schemas.project import ProjectFields
from app.schemas.revision import RevisionAction
from app.services import audit, lifecycle, pilot_membership, validation, webhooks
from app.services.project_rows import as_input, column_values, field_changes
from app.services.screening import screen_fields

R = RevisionStatus
A = RevisionAction


def _reviewer(p: Principal, project: Project) -> bool:
    return p.role is Role.reviewer and project.region_code.startswith(p.region_prefixes)


def _admin(p: Principal, project: Project) -> bool:
    return p.role is Role.admin


@dataclass(frozen=True)
class Rule:
    sources: frozenset[RevisionStatus]
    target: RevisionStatus
    who: Callable[[Principal, Project], bool]
    who_text: str
    needs_reason: bool = False


_ADMIN_OR_REVIEWER = "the province's reviewer at submitted, the administrator at either"
_UNDER_REVIEW = frozenset({R.submitted, R.recommended})
RULES: dict[RevisionAction, Rule] = {
    A.recommend: Rule(
        frozenset({R.submitted}), R.recommended, _reviewer, "the reviewer of the project's province"
    ),
    A.approve: Rule(frozenset({R.recommended}), R.approved, _admin, "the administrator"),
    A.return_: Rule(_UNDER_REVIEW, R.returned, _reviewer, _ADMIN_OR_REVIEWER, needs_reason=True),
    A.reject: Rule(_UNDER_REVIEW, R.rejected, _reviewer, _ADMIN_OR_REVIEWER, needs_reason=True),
}


def _may(principal: Principal, project: Project, revision: ProjectRevision, rule: Rule) -> bool:
    if rule.needs_reason:
        # As for submissions: the reviewer at submitted, the administrator at either.
        return principal.role is Role.admin or (
            revision.status == R.submitted and _reviewer(principal, project)
        )
    return rule.who(principal, project)


def allowed_actions(status: str) -> list[str]:
    return [action.value for action, rule in RULES.items() if status in rule.sources]


def _merged(project: Project, proposed: Mapping[str, Any]) -> ProjectFields:
    try:
        return ProjectFields.model_validate({**as_input(project), **proposed})
    except pydantic.ValidationError as exc:
        errors = field_errors(exc.errors(), ["body"])
        raise RuleViolation("The revised project breaks the schema.", errors=errors) from exc


def _event(
    principal: Principal,
    project: Project,
    action: str,
    reason: str | None,
    changes: audit.Changes | None = None,
    screening: Any = None,
) -> dict[str, Any]:
    return audit.event(
        principal,
        action,
        "project",
        project.id,
        changes=changes,
        from_status=project.status,
        to_status=project.status,
        reason=reason,
        screening=screening,
    )


async def ensure_none_open(session: AsyncSession, project_id: uuid.UUID) -> None:
    if await repo.open_of(session, project_id) is not None:
        raise already_open()


def already_open() -> Conflict:
    return Conflict(
        "The project already has a revision under review; wait for its decision.",
        code="revision_open",
    )


async def add_many(session: AsyncSession, rows: Sequence[dict[str, Any]]) -> None:
    """Store the revisions a batch opened (409 if another request opened one meanwhile)."""
    if not await repo.insert_many(session, rows):
        raise already_open()


def proposal(merged: ProjectFields, fields: Sequence[str]) -> tuple[dict[str, Any], dict[str, Any]]:
    """The proposed values of ``fields`` (JSON, as stored) and their 两高 screening; a refused
    screening is refused now, as at a submission."""
    result = screen_fields(merged)
    refusal = result.refusal()
    if refusal is not None:
        raise refusal
    values = merged.model_dump(mode="json", include=set(fields))
    return values, result.as_json()


async def open_revision(
    session: AsyncSession,
    principal: Principal,
    project: Project,
    merged: ProjectFields,
    fields: Sequence[str],
) -> ProjectRevision:
    """Open a revision proposing ``merged``'s values of ``fields`` for the library project."""
    await ensure_none_open(session, project.id)
    values, screening = proposal(merged, fields)
    before = as_input(project)
    revision = ProjectRevision(
        id=new_id(),
        project_id=project.id,
        status=R.submitted,
        fields=values,
        screening=screening,
        created_by=principal.key_id,
        created_at=utcnow(),
    )
    session.add(revision)
    try:
        async with session.begin_nested():
            await session.flush()
    except IntegrityError as exc:
        # A concurrent request opened one first; the partial unique index decided.
        raise already_open() from exc
    changes = field_changes(before, merged.model_dump(), fields)
    reason = f"Revision {revision.id} proposes: " + ", ".join(sorted(fields))
    await audit.record(
        session, _event(principal, project, "revision_open", reason, changes, screening)
    )
    return revision


async def step(
    session: AsyncSession,
    principal: Principal,
    project: Project,
    revision_id: uuid.UUID,
    action: RevisionAction,
    reason: str | None,
) -> ProjectRevision:
    """Move a revision of this visible project along its review."""
    revision = await repo.get(session, project.id, revision_id)
    if revision is None:
        raise NotFound("No such revision of this project.", code="revision_not_found")
    rule = RULES[action]
    if project.status != ProjectStatus.in_library and revision.status in _UNDER_REVIEW:
        raise Conflict(
            "The project left the library; its open revision can no longer move.",
            code="project_not_in_library",
        )
    if revision.status not in rule.sources:
        allowed = allowed_actions(revision.status)
        raise lifecycle.not_possible(action.value, revision.status, allowed)
    if not _may(principal, project, revision, rule):
        if principal.is_anonymous:
            raise Unauthorized("Reviewing a revision needs an API key.")
        raise Forbidden(f"'{action.value}' is for {rule.who_text}.", code="transition_not_allowed")
    if rule.needs_reason:
        lifecycle.ensure_reason(action.value, reason)
    changes: audit.Changes | None = None
    screening: Any = None
    if action is A.approve:
        changes, screening = await _apply(session, project, revision, principal)
    revision.status = rule.target
    revision.reason = reason
    if rule.target is not R.recommended:
        revision.decided_at = utcnow()
    await session.flush()
    text = f"Revision {revision.id}" + (f": {reason}" if reason else "")
    event = _event(principal, project, f"revision_{action.value}", text, changes, screening)
    await audit.record(session, event)
    await webhooks.emit(session, event)
    return revision


async def _apply(
    session: AsyncSession, project: Project, revision: ProjectRevision, principal: Principal
) -> tuple[audit.Changes, Any]:
    """Apply an approved revision's fields onto the project as it is now (its progress fields
    may have moved since), screened and validated again."""
    merged = _merged(project, revision.fields)
    validation.ensure_valid(
        merged,
        principal,
        new_region=False,
        new_pilot=bool({"region_code", "pilot_id"} & set(revision.fields)),
        pilots=await pilot_membership.load(session, [merged.pilot_id]),
        created_on=project.created_at.date(),
    )
    values, screening = proposal(merged, list(revision.fields))
    before = as_input(project)
    for key, value in column_values(merged).items():
        setattr(project, key, value)
    return field_changes(before, merged.model_dump(), list(values)), screening
