"""The project library's workflows: create, read, list, update, transitions, history (DESIGN §4)."""

import uuid
from collections.abc import Sequence
from functools import lru_cache
from typing import Any

import pydantic
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm.exc import StaleDataError

from app.auth import Principal
from app.errors import (
    Conflict,
    Forbidden,
    NotFound,
    PreconditionFailed,
    PreconditionRequired,
    RuleViolation,
    Unauthorized,
    field_error,
    field_errors,
)
from app.models import Project, ProjectStatus, ProjectTransition
from app.models.flags import CATEGORIES, FINANCING_TYPES
from app.repositories import projects as repo
from app.repositories.projects import ProjectFilters
from app.schemas.project import ProjectCreate, ProjectFields, ProjectUpdate, TransitionCreate
from app.services import lifecycle, project_rules, validation
from app.services.screening import screen

# ---- reading ----------------------------------------------------------------------------------


def etag(version: int) -> str:
    return f'"{version}"'


_decode_categories = lru_cache(maxsize=None)(CATEGORIES.decode)
_decode_financing_types = lru_cache(maxsize=None)(FINANCING_TYPES.decode)


def to_json(
    values: Sequence[Any], principal: Principal, *, granted: bool = False
) -> dict[str, Any]:
    """A project as its JSON answer, as this principal may see it.

    ``values`` are the columns of ``repo.LIST_COLUMNS`` in order (a list row, or
    ``columns_of(project)``); unpacked by position because this runs for every listed row.
    """
    (
        id_,
        library_code,
        status,
        external_ref,
        name,
        summary,
        region_code,
        owner_name,
        owner_uscc,
        owner_type,
        objective,
        categories_mask,
        industry_code,
        nature,
        construction_status,
        start_date,
        end_date,
        total_investment,
        financing_need,
        financing_secured,
        financing_types_mask,
        tenor_months,
        annual_emission_reduction_tco2e,
        annual_energy_saving_tce,
        annual_carbon_sink_tco2e,
        adaptation_beneficiaries,
        adaptation_benefit,
        accounting_methodology,
        baseline,
        third_party_verified,
        verifier,
        disclosure_commitment,
        contact_name,
        contact_phone,
        contact_email,
        is_two_high,
        is_two_high_retrofit,
        screening,
        version,
        approved_at,
        created_at,
        updated_at,
    ) = values
    reasons = screening or []
    if is_two_high and any(r.get("code") == "two_high_project" for r in reasons):
        outcome = "refused"
    elif is_two_high_retrofit:
        outcome = "flagged"
    else:
        outcome = "clear"
    return {
        "id": str(id_),
        "library_code": library_code,
        "status": status,
        "external_ref": external_ref,
        "name": name,
        "summary": summary,
        "region_code": region_code,
        "owner": {"name": owner_name, "uscc": owner_uscc, "type": owner_type},
        "objective": objective,
        "categories": _decode_categories(categories_mask),
        "industry_code": industry_code,
        "nature": nature,
        "construction_status": construction_status,
        "start_date": start_date,
        "end_date": end_date,
        "total_investment": f"{total_investment:.2f}",
        "financing_need": f"{financing_need:.2f}",
        "financing_secured": f"{financing_secured:.2f}",
        "financing_types": _decode_financing_types(financing_types_mask),
        "tenor_months": tenor_months,
        "annual_emission_reduction_tco2e": annual_emission_reduction_tco2e,
        "annual_energy_saving_tce": annual_energy_saving_tce,
        "annual_carbon_sink_tco2e": annual_carbon_sink_tco2e,
        "adaptation_beneficiaries": adaptation_beneficiaries,
        "adaptation_benefit": adaptation_benefit,
        "accounting_methodology": accounting_methodology,
        "baseline": baseline,
        "third_party_verified": third_party_verified,
        "verifier": verifier,
        "disclosure_commitment": disclosure_commitment,
        "contact": (
            {"name": contact_name, "phone": contact_phone, "email": contact_email}
            if repo.can_see_contact(principal, region_code, status, granted=granted)
            else None
        ),
        "screening": {
            "is_two_high": is_two_high,
            "is_two_high_retrofit": is_two_high_retrofit,
            "outcome": outcome,
            "reasons": reasons,
        },
        "version": version,
        "approved_at": approved_at,
        "created_at": created_at,
        "updated_at": updated_at,
    }


def columns_of(project: Project) -> tuple[Any, ...]:
    """An ORM project's values in ``repo.LIST_COLUMNS`` order, for ``to_json``."""
    return tuple(getattr(project, column.key) for column in repo.LIST_COLUMNS)


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
) -> dict[str, Any]:
    """One page of the projects the caller may see, filtered and sorted."""
    rows, after = await repo.list_rows(
        session, principal, filters, sort=sort, cursor=cursor, limit=limit
    )
    granted = await repo.contact_grants(session, principal, [r.id for r in rows])
    return {
        "items": [to_json(r, principal, granted=r.id in granted) for r in rows],
        "next_cursor": after,
    }


async def history(
    session: AsyncSession,
    principal: Principal,
    project_id: uuid.UUID,
    *,
    cursor: str | None,
    limit: int,
) -> tuple[list[ProjectTransition], str | None]:
    """Every transition of a project; for those who see the project in full."""
    project = await _visible(session, principal, project_id)
    if not repo.can_see_full(principal, project.region_code, project.status):
        if principal.is_anonymous:
            raise Unauthorized("The history of a project needs an API key.")
        raise Forbidden(
            "Only the project's region, reviewer and the administrator read its history."
        )
    return await repo.history(session, project_id, cursor=cursor, limit=limit)


# ---- writing ----------------------------------------------------------------------------------


def column_values(data: ProjectFields) -> dict[str, Any]:
    """The project columns validated input sets, its 两高 screening included.

    Shared by single writes and the batch upsert, which compares them with the stored row to
    tell an unchanged item from an update and bulk-inserts them for new ones.
    """
    contact = data.contact
    categories = [c.value for c in data.categories]
    result = screen(data.industry_code, data.nature, categories)
    return {
        "external_ref": data.external_ref,
        "name": data.name,
        "summary": data.summary,
        "region_code": data.region_code,
        "owner_name": data.owner.name,
        "owner_uscc": data.owner.uscc,
        "owner_type": data.owner.type.value if data.owner.type else None,
        "objective": data.objective,
        "categories_mask": CATEGORIES.mask(categories),
        "industry_code": data.industry_code,
        "nature": data.nature,
        "construction_status": data.construction_status,
        "start_date": data.start_date,
        "end_date": data.end_date,
        "total_investment": data.total_investment,
        "financing_need": data.financing_need,
        "financing_secured": data.financing_secured,
        "financing_types_mask": FINANCING_TYPES.mask(t.value for t in data.financing_types),
        "tenor_months": data.tenor_months,
        "annual_emission_reduction_tco2e": data.annual_emission_reduction_tco2e,
        "annual_energy_saving_tce": data.annual_energy_saving_tce,
        "annual_carbon_sink_tco2e": data.annual_carbon_sink_tco2e,
        "adaptation_beneficiaries": data.adaptation_beneficiaries,
        "adaptation_benefit": data.adaptation_benefit,
        "accounting_methodology": data.accounting_methodology,
        "baseline": data.baseline,
        "third_party_verified": data.third_party_verified,
        "verifier": data.verifier,
        "disclosure_commitment": data.disclosure_commitment,
        "contact_name": contact.name if contact else None,
        "contact_phone": contact.phone if contact else None,
        "contact_email": contact.email if contact else None,
        "is_two_high": result.is_two_high,
        "is_two_high_retrofit": result.is_two_high_retrofit,
        "screening": result.as_json(),
    }


def assign_fields(project: Project, data: ProjectFields) -> None:
    """Copy validated input onto the project and store its 两高 screening."""
    for key, value in column_values(data).items():
        setattr(project, key, value)


def as_input(project: Project) -> dict[str, Any]:
    """The stored project in the shape of its input model (the base a PATCH is merged onto)."""
    contact = None
    if project.contact_name or project.contact_phone or project.contact_email:
        contact = {
            "name": project.contact_name,
            "phone": project.contact_phone,
            "email": project.contact_email,
        }
    return {
        "external_ref": project.external_ref,
        "name": project.name,
        "summary": project.summary,
        "region_code": project.region_code,
        "owner": {
            "name": project.owner_name,
            "uscc": project.owner_uscc,
            "type": project.owner_type,
        },
        "objective": project.objective,
        "categories": project.categories,
        "industry_code": project.industry_code,
        "nature": project.nature,
        "construction_status": project.construction_status,
        "start_date": project.start_date,
        "end_date": project.end_date,
        "total_investment": project.total_investment,
        "financing_need": project.financing_need,
        "financing_secured": project.financing_secured,
        "financing_types": project.financing_types,
        "tenor_months": project.tenor_months,
        "annual_emission_reduction_tco2e": project.annual_emission_reduction_tco2e,
        "annual_energy_saving_tce": project.annual_energy_saving_tce,
        "annual_carbon_sink_tco2e": project.annual_carbon_sink_tco2e,
        "adaptation_beneficiaries": project.adaptation_beneficiaries,
        "adaptation_benefit": project.adaptation_benefit,
        "accounting_methodology": project.accounting_methodology,
        "baseline": project.baseline,
        "third_party_verified": project.third_party_verified,
        "verifier": project.verifier,
        "disclosure_commitment": project.disclosure_commitment,
        "contact": contact,
    }


async def _ensure_external_ref_free(
    session: AsyncSession, scope: str, external_ref: str | None, project_id: uuid.UUID | None
) -> None:
    if external_ref is None:
        return
    stmt = select(Project.id).where(
        Project.source_scope == scope, Project.external_ref == external_ref
    )
    existing = (await session.execute(stmt)).scalar_one_or_none()
    if existing is not None and existing != project_id:
        raise _duplicate_external_ref(external_ref)


def _duplicate_external_ref(external_ref: str | None) -> Conflict:
    return Conflict(
        f"This region already has a project with external_ref {external_ref!r}.",
        code="duplicate_external_ref",
        errors=[field_error(["body", "external_ref"], "duplicate_external_ref", "Taken.")],
    )


async def create(session: AsyncSession, principal: Principal, data: ProjectCreate) -> Project:
    """Create a draft project in the region's scope."""
    validation.ensure_valid(data, principal)
    assert principal.scope is not None  # a region key always has a scope  # noqa: S101
    await _ensure_external_ref_free(session, principal.scope, data.external_ref, None)
    project = Project(
        id=uuid.uuid4(),
        source_scope=principal.scope,
        status=ProjectStatus.draft,
        created_by=principal.key_id,
    )
    assign_fields(project, data)
    session.add(project)
    lifecycle.record(session, principal, project, "create", None)
    try:
        await session.flush()
    except IntegrityError as exc:
        # Two creations with one external_ref raced past the check above; the index decides.
        raise _duplicate_external_ref(data.external_ref) from exc
    return project


def check_if_match(project: Project, if_match: str | None) -> None:
    """Writes carry the ETag they were based on: missing → 428, stale → 412."""
    if if_match is None:
        raise PreconditionRequired(
            f"Send If-Match with the project's ETag ({etag(project.version)}).",
            code="if_match_required",
        )
    tags = [t.strip().removeprefix("W/").strip('"') for t in if_match.split(",")]
    if "*" not in tags and str(project.version) not in tags:
        raise PreconditionFailed(
            f"The project changed since that ETag; the current one is {etag(project.version)}.",
            code="stale_etag",
            headers={"ETag": etag(project.version)},
        )


async def _writable(
    session: AsyncSession, principal: Principal, project_id: uuid.UUID, if_match: str | None
) -> Project:
    project = await _visible(session, principal, project_id)
    project_rules.ensure_owner(principal, project.region_code)
    check_if_match(project, if_match)
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


async def update(
    session: AsyncSession,
    principal: Principal,
    project_id: uuid.UUID,
    patch: ProjectUpdate,
    if_match: str | None,
) -> Project:
    """Change the fields sent; in the library, a screening change sends it back to review."""
    project = await _writable(session, principal, project_id, if_match)
    project_rules.ensure_editable(project.status)
    sent = patch.model_dump(exclude_unset=True)
    before = ProjectFields.model_validate(as_input(project)).model_dump()
    try:
        merged = ProjectFields.model_validate({**as_input(project), **sent})
    except pydantic.ValidationError as exc:
        errors = field_errors(exc.errors(), ["body"])
        raise RuleViolation("The project breaks the schema.", errors=errors) from exc
    changed = _changed(before, merged.model_dump(), list(sent))
    if not changed:
        return project
    validation.ensure_valid(merged, principal, new_region="region_code" in changed)
    await _ensure_external_ref_free(session, project.source_scope, merged.external_ref, project.id)
    assign_fields(project, merged)
    step = project_rules.resubmission(project.status, changed)
    if step is not None:
        lifecycle.ensure_screening_passes(project)
        from_status, project.status = project.status, step.to_status
        lifecycle.record(session, principal, project, step.action, from_status, step.reason)
    await _flush(session)
    return project


async def transition(
    session: AsyncSession,
    principal: Principal,
    project_id: uuid.UUID,
    body: TransitionCreate,
    if_match: str | None,
) -> Project:
    """Move a project along its lifecycle."""
    project = await _visible(session, principal, project_id)
    lifecycle.authorize(principal, project, body.action, body.reason)
    check_if_match(project, if_match)
    await lifecycle.apply(session, principal, project, body.action, body.reason)
    await _flush(session)
    return project
