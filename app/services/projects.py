"""The project library's workflows: create, read, list, update, transitions, history."""

import uuid
from collections.abc import Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any

import pydantic
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession
from sqlalchemy.orm.exc import StaleDataError

from app.auth import ANONYMOUS, Principal
from app.errors import (
    Conflict,
    Forbidden,
    NotFound,
    PreconditionFailed,
    RuleViolation,
    Unauthorized,
    field_error,
    field_errors,
)
from app.ids import new_id
from app.models import AuditEvent, Project, ProjectRevision, ProjectStatus
from app.models.base import utcnow
from app.models.project_query import ProjectFilters
from app.repositories import engagements as engagements_repo
from app.repositories import project_writes
from app.repositories import projects as repo
from app.repositories import revisions as revisions_repo
from app.schemas.project import (
    ProjectCreate,
    ProjectFields,
    ProjectUpdate,
)
from app.schemas.project_transition import TransitionCreate
from app.schemas.revision import RevisionAction, RevisionStep
from app.services import (
    integrity,
    lifecycle,
    pilot_membership,
    preconditions,
    project_rules,
    revisions,
    validation,
)
from app.services.project_rows import (
    as_input,
    column_values,
    columns_of,
    field_changes,
    public_answers,
    to_json,
)

# ---- reading ----------------------------------------------------------------------------------


def etag(version: int) -> str:
    return f'"{version}"'


async def _visible(session: AsyncSession, principal: Principal, project_id: uuid.UUID) -> Project:
    project = await repo.get_readable(session, principal, project_id)
    if project is None:
        raise NotFound(
            "No such project, or it is not visible to this key.", code="project_not_found"
        )
    return project


async def present(session: AsyncSession, principal: Principal, project: Project) -> dict[str, Any]:
    granted = project.id in await repo.contact_grants(session, principal, [project.id])
    return to_json(columns_of(project), principal, granted=granted)


async def get(session: AsyncSession, principal: Principal, project_id: uuid.UUID) -> dict[str, Any]:
    """One project as the caller may see it."""
    return await present(session, principal, await _visible(session, principal, project_id))


async def list_projects(
    session: AsyncSession,
    principal: Principal,
    filters: ProjectFilters,
    *,
    sort: str,
    cursor: str | None,
    limit: int,
) -> tuple[dict[str, Any], datetime | None]:
    """One page of the projects the caller may see, filtered and sorted; with ``updated_since``
    also the read's watermark, the next read's ``updated_since`` (app/repositories/feed.py)."""
    filters = await integrity.resolve_filter(session, principal, filters)
    rows, after, until = await repo.list_rows(
        session, principal, filters, sort=sort, cursor=cursor, limit=limit
    )
    at = repo.ID_INDEX
    granted = await repo.contact_grants(session, principal, [r[at] for r in rows])
    page = {
        "items": [to_json(r, principal, granted=r[at] in granted) for r in rows],
        "next_cursor": after,
    }
    return page, until


async def list_public(
    connection: AsyncConnection,
    filters: ProjectFilters,
    *,
    sort: str,
    cursor: str | None,
    limit: int,
) -> tuple[dict[str, Any], datetime | None]:
    """``list_projects`` for the public, on a connection of its own (no session: the public is
    granted no contact and holds no key)."""
    rows, raw, after, until = await repo.list_raw_on(
        connection, ANONYMOUS, filters, sort=sort, cursor=cursor, limit=limit
    )
    page = {"items": public_answers(rows, raw), "next_cursor": after}
    return page, until


async def feed_bound(session: AsyncSession, filters: ProjectFilters) -> ProjectFilters:
    """The filters with their ``updated_since`` read's watermark fixed, for a read of many
    pages in sessions of their own (the export)."""
    return await repo.feed_bound(session, filters)


async def history(
    session: AsyncSession,
    principal: Principal,
    project_id: uuid.UUID,
    *,
    cursor: str | None,
    limit: int,
) -> tuple[list[AuditEvent], str | None]:
    """Every step and field change of a project; for those who see the project in full."""
    if principal.is_anonymous:
        # Never the public's, whichever project: answered before looking, so nothing leaks.
        raise Unauthorized("The history of a project needs an API key.")
    project = await _visible(session, principal, project_id)
    if not repo.can_see_full(principal, project.region_code, project.pilot_id, project.status):
        raise Forbidden(
            "Only the project's region, reviewer and the administrator read its history."
        )
    return await repo.history(session, project_id, cursor=cursor, limit=limit)


# ---- writing ----------------------------------------------------------------------------------


def assign_fields(project: Project, data: ProjectFields) -> None:
    """Copy validated input onto the project and store its 两高 screening."""
    for key, value in column_values(data).items():
        setattr(project, key, value)


async def _ensure_external_ref_free(
    session: AsyncSession, scope: str, external_ref: str | None, project_id: uuid.UUID | None
) -> None:
    if external_ref is None:
        return
    holder = await project_writes.holder_of_external_ref(session, scope, external_ref)
    if holder is not None and holder != project_id:
        raise _duplicate_external_ref(external_ref)


def _duplicate_external_ref(external_ref: str | None) -> Conflict:
    return Conflict(
        f"This region already has a project with external_ref {external_ref!r}.",
        code="duplicate_external_ref",
        errors=[field_error(["body", "external_ref"], "duplicate_external_ref", "Taken.")],
    )


async def create(session: AsyncSession, principal: Principal, data: ProjectCreate) -> Project:
    """Create a draft project in the region's scope (a pilot key's project is its pilot's)."""
    today = utcnow().date()
    data = pilot_membership.assign(
        data, principal, await pilot_membership.full_codes(session), today
    )
    pilots = await pilot_membership.load(session, [data.pilot_id, principal.pilot_id])
    validation.ensure_valid(data, principal, pilots=pilots, created_on=today)
    assert principal.scope is not None  # a region key always has a scope  # noqa: S101
    await _ensure_external_ref_free(session, principal.scope, data.external_ref, None)
    project = Project(
        id=new_id(),
        source_scope=principal.scope,
        status=ProjectStatus.draft,
        created_by=principal.key_id,
    )
    assign_fields(project, data)
    session.add(project)
    try:
        await session.flush()
    except IntegrityError as exc:
        # Two creations with one external_ref raced past the check above; the index decides.
        raise _duplicate_external_ref(data.external_ref) from exc
    await lifecycle.record(session, principal, project, "create", None)
    return project


async def _writable(
    session: AsyncSession, principal: Principal, project_id: uuid.UUID, if_match: str | None
) -> Project:
    project = await _visible(session, principal, project_id)
    project_rules.ensure_owner(principal, project.region_code, project.pilot_id)
    preconditions.check_if_match(etag(project.version), if_match, "project")
    return project


async def _flush(session: AsyncSession) -> None:
    try:
        await session.flush()
    except StaleDataError as exc:
        # Another writer committed between our read and our write: the ETag is stale now.
        raise PreconditionFailed(
            "The project changed concurrently; read it again.", code="stale_etag"
        ) from exc


def _changed(before: dict[str, Any], after: dict[str, Any], sent: Sequence[str]) -> set[str]:
    return {name for name in sent if before.get(name) != after.get(name)}


async def _ensure_financing_floor(
    session: AsyncSession, project_id: uuid.UUID, secured: Decimal
) -> None:
    recorded = (await engagements_repo.financed_totals(session, [project_id])).get(project_id)
    refusal = project_rules.below_recorded(secured, recorded, ["body"])
    if refusal is not None:
        raise refusal


async def update(
    session: AsyncSession,
    principal: Principal,
    project_id: uuid.UUID,
    patch: ProjectUpdate,
    if_match: str | None,
) -> tuple[Project, ProjectRevision | None]:
    """Change the fields sent. In the library, screening fields are not changed but proposed:
    a revision is opened for them (and returned; the progress fields sent apply at once)."""
    project = await _writable(session, principal, project_id, if_match)
    project_rules.ensure_editable(project.status)
    sent = patch.model_dump(exclude_unset=True)
    stored = as_input(project)
    if "categories" in sent and "primary_category" not in sent:
        # New categories without the stored primary one: the first listed becomes primary.
        if stored["primary_category"] not in (sent["categories"] or ()):
            sent["primary_category"] = None
    before = ProjectFields.model_validate(stored).model_dump()
    merged = _validated({**stored, **sent})
    created_on = project.created_at.date()
    if "pilot_id" in sent or merged.region_code != project.region_code:
        # Moved without naming a pilot: the stated pilot stays while its codes hold the place.
        keep = (
            None if "pilot_id" in sent else await pilot_membership.load(session, [merged.pilot_id])
        )
        full = await pilot_membership.full_codes(session)
        merged = pilot_membership.assign(merged, principal, full, created_on, keep=keep)
        sent = {**sent, "pilot_id": merged.pilot_id}
    after = merged.model_dump()
    changed = _changed(before, after, list(sent))
    if not changed:
        return project, None
    pilots = await pilot_membership.load(session, [merged.pilot_id, principal.pilot_id])
    validation.ensure_valid(
        merged,
        principal,
        new_region="region_code" in changed,
        new_pilot=bool({"region_code", "pilot_id"} & changed),
        pilots=pilots,
        created_on=created_on,
    )
    await _ensure_external_ref_free(session, project.source_scope, merged.external_ref, project.id)
    if "financing_secured" in changed:
        await _ensure_financing_floor(session, project.id, merged.financing_secured)
    proposed = project_rules.screening_changes(project.status, changed)
    applied = merged
    if proposed:
        changed -= set(proposed)
        # What the project becomes now: its approved fields with the progress fields sent.
        applied = _validated({**stored, **{name: sent[name] for name in changed}})
        validation.ensure_valid(
            applied, principal, new_region=False, new_pilot=False, created_on=created_on
        )
    if changed:
        assign_fields(project, applied)
        await _flush(session)
        changes = field_changes(before, applied.model_dump(), changed)
        await lifecycle.record(session, principal, project, "update", project.status, None, changes)
    revision = None
    if proposed:
        revision = await revisions.open_revision(session, principal, project, merged, proposed)
    return project, revision


def _validated(values: dict[str, Any]) -> ProjectFields:
    try:
        return ProjectFields.model_validate(values)
    except pydantic.ValidationError as exc:
        errors = field_errors(exc.errors(), ["body"])
        raise RuleViolation("The project breaks the schema.", errors=errors) from exc


async def _revisable(session: AsyncSession, principal: Principal, project_id: uuid.UUID) -> Project:
    """The project whose revisions the caller reads or reviews: those who see it in full."""
    if principal.is_anonymous:
        raise Unauthorized("The revisions of a project need an API key.")
    project = await _visible(session, principal, project_id)
    if not repo.can_see_full(principal, project.region_code, project.pilot_id, project.status):
        raise Forbidden(
            "Only the project's region, reviewer and the administrator read its revisions."
        )
    return project


async def list_revisions(
    session: AsyncSession,
    principal: Principal,
    project_id: uuid.UUID,
    *,
    cursor: str | None,
    limit: int,
) -> tuple[list[ProjectRevision], str | None]:
    """The project's revisions, oldest first."""
    project = await _revisable(session, principal, project_id)
    return await revisions_repo.of_project(session, project.id, cursor=cursor, limit=limit)


async def revision_step(
    session: AsyncSession,
    principal: Principal,
    project_id: uuid.UUID,
    revision_id: uuid.UUID,
    action: RevisionAction,
    body: RevisionStep,
) -> ProjectRevision:
    """Recommend, approve, return or reject a revision of a library project."""
    project = await _revisable(session, principal, project_id)
    revision = await revisions.step(session, principal, project, revision_id, action, body.reason)
    await _flush(session)
    return revision


async def transition(
    session: AsyncSession,
    principal: Principal,
    project_id: uuid.UUID,
    body: TransitionCreate,
    if_match: str | None,
) -> Project:
    """Move a project along its lifecycle."""
    project = await _visible(session, principal, project_id)
    lifecycle.authorize(principal, project, body.action, body.reason, body.reason_code)
    preconditions.check_if_match(etag(project.version), if_match, "project")
    await lifecycle.apply(session, principal, project, body.action, body.reason, body.reason_code)
    await _flush(session)
    return project
