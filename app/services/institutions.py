"""Financial institutions (金融机构): registered by administrators, read by anyone."""

import uuid

from sqlalchemy.ext.asyncio import AsyncSession

from app.auth import Principal
from app.errors import Conflict, NotFound, RuleViolation, field_error
from app.models import Institution
from app.reference import uscc as uscc_code
from app.repositories import institutions as repo
from app.schemas.common import Page
from app.schemas.institution import InstitutionCreate, InstitutionRead
from app.services import audit


def normalise_uscc(value: str, loc: list[str | int]) -> str:
    """The compact, checksum-valid USCC, or a 422 naming the field."""
    try:
        return str(uscc_code.validate(value))
    except uscc_code.ValidationError as exc:
        message = f"Not a valid unified social credit code: {exc}"
        raise RuleViolation(
            message, code="invalid_uscc", errors=[field_error(loc, "invalid_uscc", message)]
        ) from exc


async def create(
    session: AsyncSession, principal: Principal, body: InstitutionCreate
) -> InstitutionRead:
    """Register an institution; its USCC must be valid and not registered yet."""
    code = normalise_uscc(body.uscc, ["body", "uscc"])
    if await repo.by_uscc(session, code) is not None:
        raise Conflict(
            "An institution with that USCC is already registered.", code="institution_exists"
        )
    institution = Institution(
        name=body.name, uscc=code, type=body.type, open_data_consent=body.open_data_consent
    )
    await repo.add(session, institution)
    registered = {
        "name": body.name,
        "uscc": code,
        "type": body.type,
        "open_data_consent": body.open_data_consent,
    }
    await audit.record(
        session,
        audit.event(
            principal,
            "create",
            "institution",
            institution.id,
            changes=audit.changes({}, registered, registered),
        ),
    )
    return InstitutionRead.model_validate(institution)


async def get(session: AsyncSession, institution_id: uuid.UUID) -> InstitutionRead:
    """One institution."""
    institution = await repo.get(session, institution_id)
    if institution is None:
        raise NotFound("No institution with that id.", code="institution_not_found")
    return InstitutionRead.model_validate(institution)


async def page(
    session: AsyncSession, *, type_: str | None, q: str | None, cursor: str | None, limit: int
) -> Page[InstitutionRead]:
    """A page of registered institutions, oldest first (``q``: text in the name)."""
    rows, next_cursor = await repo.page(session, type_=type_, q=q, cursor=cursor, limit=limit)
    return Page[InstitutionRead](
        items=[InstitutionRead.model_validate(r) for r in rows], next_cursor=next_cursor
    )
