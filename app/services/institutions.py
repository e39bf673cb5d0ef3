"""Financial institutions (金融机构): registered by administrators, read by anyone.

Who changes an institution (``PATCH /institutions/{id}``): an administrator keeps the register
(name, type) as it registered it; ``open_data_consent`` is the institution's own agreement to open
publication (without it the IATI export never names it), so its own key may give or withdraw it too,
and an administrator may record one received otherwise. The institution's key changes nothing else
(403 ``admin_only_fields``), any other key none of it (403 ``not_your_institution``, even for an id
that does not exist, as its portfolio answers). ``uscc`` identifies the institution and never
changes (the body refuses it, 422).

The ETag of an institution is a hash of its answer, the same for every caller (an institution
reads alike for all); a PATCH sends it as ``If-Match`` (428 without, 412 when it changed).
"""

import hashlib
import uuid

import orjson
from sqlalchemy.ext.asyncio import AsyncSession

from app.auth import Principal
from app.errors import (
    Conflict,
    Forbidden,
    NotFound,
    RuleViolation,
    field_error,
)
from app.models import Institution, Role
from app.reference import uscc as uscc_code
from app.repositories import institutions as repo
from app.repositories import open_data
from app.schemas.common import Page
from app.schemas.institution import InstitutionCreate, InstitutionRead, InstitutionUpdate
from app.services import audit, preconditions

# What an institution's own key may change of itself: its agreement, nothing of the register.
SELF_FIELDS = frozenset({"open_data_consent"})


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


def etag(answer: InstitutionRead) -> str:
    """The ETag of an institution's answer: 128 bits of SHA-256 over its JSON, keys sorted."""
    body = orjson.dumps(answer.model_dump(mode="json"), option=orjson.OPT_SORT_KEYS)
    return f'"{hashlib.sha256(body).hexdigest()[:32]}"'


async def _load(
    session: AsyncSession, institution_id: uuid.UUID, *, for_update: bool = False
) -> Institution:
    institution = await repo.get(session, institution_id, for_update=for_update)
    if institution is None:
        raise NotFound("No institution with that id.", code="institution_not_found")
    return institution


async def get(session: AsyncSession, institution_id: uuid.UUID) -> InstitutionRead:
    """One institution."""
    return InstitutionRead.model_validate(await _load(session, institution_id))


def _ensure_writer(principal: Principal, institution_id: uuid.UUID, sent: set[str]) -> None:
    """The administrator changes any field; the institution's own key its consent only."""
    if principal.is_admin:
        return
    if principal.role is not Role.institution or principal.institution_id != institution_id:
        raise Forbidden(
            "An institution is changed by an administrator or by its own key.",
            code="not_your_institution",
        )
    others = sorted(sent - SELF_FIELDS)
    if others:
        message = f"Only an administrator changes {', '.join(others)}."
        raise Forbidden(
            message,
            code="admin_only_fields",
            errors=[field_error(["body", name], "admin_only_fields", message) for name in others],
        )


async def update(
    session: AsyncSession,
    principal: Principal,
    institution_id: uuid.UUID,
    body: InstitutionUpdate,
    if_match: str | None,
) -> InstitutionRead:
    """Change the fields sent. A change to what open data says of the institution (its consent,
    or the name it is published under) restamps the projects it financed, so that the IATI
    export read with ``updated_since`` hands their activities out again, as they now read."""
    sent = set(body.model_fields_set)
    _ensure_writer(principal, institution_id, sent)
    institution = await _load(session, institution_id, for_update=True)
    values = body.model_dump(include=sent)
    nulls = sorted(name for name, value in values.items() if value is None)
    if nulls:
        message = f"{', '.join(nulls)} cannot be null."
        raise RuleViolation(
            message,
            code="required",
            errors=[field_error(["body", name], "required", message) for name in nulls],
        )
    preconditions.check_if_match(
        etag(InstitutionRead.model_validate(institution)), if_match, "institution"
    )
    before = {name: getattr(institution, name) for name in values}
    changed = audit.changes(before, values, values)
    if not changed:
        return InstitutionRead.model_validate(institution)
    for name in changed:
        setattr(institution, name, values[name])
    await session.flush()
    await audit.record(
        session, audit.event(principal, "update", "institution", institution.id, changes=changed)
    )
    published = "open_data_consent" in changed or (
        "name" in changed and institution.open_data_consent
    )
    if published:
        await open_data.touch_financed_by(session, institution.id)
    return InstitutionRead.model_validate(institution)


async def page(
    session: AsyncSession, *, type_: str | None, q: str | None, cursor: str | None, limit: int
) -> Page[InstitutionRead]:
    """A page of registered institutions, oldest first (``q``: text in the name)."""
    rows, next_cursor = await repo.page(session, type_=type_, q=q, cursor=cursor, limit=limit)
    return Page[InstitutionRead](
        items=[InstitutionRead.model_validate(r) for r in rows], next_cursor=next_cursor
    )
