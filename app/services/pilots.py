"""Pilots (气候投融资试点): designation, the codes they cover, their status and history.

Section 三 of the policy: a place applies, its province reviews and recommends, the ministries
approve it, and after the pilot period it is accepted (验收合格) or loses the title (取消资格).
"""

import uuid
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from app.auth import Principal, region_prefixes_of
from app.errors import Conflict, FieldError, NotFound, RuleViolation, field_error
from app.ids import new_id
from app.models.base import db_now
from app.models.pilot import Pilot, PilotCoverage, PilotKind, PilotRegion, PilotStatus
from app.reference.regions import Region, RegionLevel, region_table
from app.repositories import audit as audit_repo
from app.repositories import pilots as repo
from app.schemas.common import Page
from app.schemas.pilot import (
    PilotAction,
    PilotCodesChange,
    PilotCodesReplace,
    PilotCreate,
    PilotHistoryAction,
    PilotRead,
    PilotRegionIn,
    PilotRegionRead,
    PilotTransitionCreate,
    PilotTransitionRead,
    PilotUpdate,
)
from app.services import audit

TRANSITIONS: dict[PilotStatus, dict[PilotAction, PilotStatus]] = {
    PilotStatus.applying: {PilotAction.submit: PilotStatus.provincial_review},
    PilotStatus.provincial_review: {PilotAction.approve: PilotStatus.approved},
    PilotStatus.approved: {
        PilotAction.accept: PilotStatus.accepted,
        PilotAction.disqualify: PilotStatus.disqualified,
    },
}
_REASON_REQUIRED = frozenset({PilotAction.disqualify})
# The document references an administrator may edit, and what the audit keeps of a creation.
_REFS = ("designation_ref", "work_plan_ref", "implementation_plan_ref")
_FIELDS = ("name", "kind", "province_code", "batch", *_REFS)


def allowed_actions(status: PilotStatus) -> list[PilotAction]:
    return list(TRANSITIONS.get(status, {}))


def _region_read(region: PilotRegion) -> PilotRegionRead:
    known = region_table().get(region.region_code)
    return PilotRegionRead(
        code=region.region_code,
        name=known.name if known else None,
        level=known.level if known else None,
        is_current=known is not None and known.is_current,
        coverage=PilotCoverage(region.coverage),
        is_partial=region.is_partial,
        valid_from=region.valid_from,
        valid_to=region.valid_to,
    )


def _read(pilot: Pilot, regions: list[PilotRegion]) -> PilotRead:
    province = region_table().get(pilot.province_code + "0000")
    status = PilotStatus(pilot.status)
    return PilotRead(
        id=pilot.id,
        name=pilot.name,
        kind=PilotKind(pilot.kind),
        province=pilot.province_code,
        province_name=province.name if province else None,
        batch=pilot.batch,
        status=status,
        designation_ref=pilot.designation_ref,
        work_plan_ref=pilot.work_plan_ref,
        implementation_plan_ref=pilot.implementation_plan_ref,
        # Full codes first, then the partly covered ones, each in code order.
        regions=[
            _region_read(r) for r in sorted(regions, key=lambda r: (r.is_partial, r.region_code))
        ],
        allowed_actions=allowed_actions(status),
        created_at=pilot.created_at,
        updated_at=pilot.updated_at,
    )


async def list_pilots(
    session: AsyncSession,
    *,
    status: PilotStatus | None,
    province: str | None,
    kind: PilotKind | None,
    batch: int | None,
    updated_since: datetime | None,
    cursor: str | None,
    limit: int,
) -> tuple[Page[PilotRead], datetime | None]:
    """List pilots by province and name, with the codes each covers; with ``updated_since``
    also the read's watermark, the next read's ``updated_since`` (app/repositories/feed.py)."""
    rows, next_cursor, until = await repo.list_pilots(
        session,
        status=status,
        province=province,
        kind=kind,
        batch=batch,
        updated_since=updated_since,
        cursor=cursor,
        limit=limit,
    )
    regions = await repo.regions_of(session, [p.id for p in rows])
    page = Page[PilotRead](items=[_read(p, regions[p.id]) for p in rows], next_cursor=next_cursor)
    return page, until


async def _get_pilot(session: AsyncSession, pilot_id: uuid.UUID) -> Pilot:
    pilot = await repo.get(session, pilot_id)
    if pilot is None:
        raise NotFound("No pilot with that id.", code="pilot_not_found")
    return pilot


async def get(session: AsyncSession, pilot_id: uuid.UUID) -> PilotRead:
    """One pilot with the codes it covers."""
    pilot = await _get_pilot(session, pilot_id)
    regions = await repo.regions_of(session, [pilot.id])
    return _read(pilot, regions[pilot.id])


async def ensure_exists(session: AsyncSession, pilot_id: uuid.UUID) -> Pilot:
    """The pilot, or 404."""
    return await _get_pilot(session, pilot_id)


def _check_province(province: str) -> list[FieldError]:
    region = region_table().get(province + "0000")
    if region is None or region.level is not RegionLevel.province or not region.is_current:
        message = "Not a current GB/T 2260 province code."
        return [field_error(["body", "province"], "unknown_province", message)]
    return []


def _last_day(code: str, region: Region) -> date | None:
    """The last day a retired code was in force (the day before its abolition where known)."""
    abolition = region_table().abolished.get(code)
    if abolition is not None:
        return abolition.on - timedelta(days=1)
    return date(region.valid_to, 12, 31) if region.valid_to is not None else None


def _first_day(code: str, region: Region) -> date | None:
    established = region_table().established.get(code)
    if established is not None:
        return established
    return date(region.valid_from, 1, 1) if region.valid_from is not None else None


def _check_code(province: str, item: PilotRegionIn) -> tuple[str, str] | None:
    """The first rule one code breaks: (code, why), or None."""
    region = region_table().get(item.code)
    if region is None:
        return "unknown_region", f"{item.code} is not a GB/T 2260 code."
    if not item.code.startswith(province):
        return "region_outside_province", f"{item.code} is not in province {province}."
    if item.valid_from and item.valid_to and item.valid_to < item.valid_from:
        return "invalid_validity", "valid_to is before valid_from."
    last = _last_day(item.code, region)
    # A retired code stays only as history: covered up to its end, never beyond.
    if last is not None and (item.valid_to is None or item.valid_to > last):
        return (
            "retired_region",
            f"{item.code} {region.name} was retired in {region.valid_to}; keep it only with "
            f"valid_to on or before {last}.",
        )
    first = _first_day(item.code, region)
    if first is not None and item.valid_from is not None and item.valid_from < first:
        return "validity_before_region", f"{item.code} {region.name} exists from {first}."
    return None


def _check_regions(
    province: str, items: list[PilotRegionIn], field: str = "regions"
) -> list[FieldError]:
    errors: list[FieldError] = []
    seen: dict[str, int] = {}
    for i, item in enumerate(items):
        loc: list[str | int] = ["body", field, i, "code"]
        broken = _check_code(province, item)
        if broken is not None:
            errors.append(field_error(loc, *broken))
        elif item.code in seen:
            errors.append(field_error(loc, "duplicate_region", f"{item.code} is listed twice."))
        seen.setdefault(item.code, i)
    # A code inside another of the same pilot's codes would count its projects twice.
    prefixes = {code: region_prefixes_of(code) for code in seen}
    for code, i in seen.items():
        for other in seen:
            if other != code and prefixes[code].startswith(prefixes[other]):
                errors.append(
                    field_error(
                        ["body", field, i, "code"],
                        "overlapping_regions",
                        f"{code} already lies within {other}.",
                    )
                )
    return errors


def _rows(pilot_id: uuid.UUID, items: list[PilotRegionIn]) -> list[PilotRegion]:
    return [
        PilotRegion(
            pilot_id=pilot_id,
            region_code=item.code,
            coverage=item.stated_coverage,
            valid_from=item.valid_from,
            valid_to=item.valid_to,
        )
        for item in items
    ]


def _codes_json(rows: list[PilotRegion]) -> list[dict[str, Any]]:
    return [
        {
            "code": r.region_code,
            "coverage": str(r.coverage),
            "valid_from": r.valid_from.isoformat() if r.valid_from else None,
            "valid_to": r.valid_to.isoformat() if r.valid_to else None,
        }
        for r in sorted(rows, key=lambda r: r.region_code)
    ]


async def _replace_codes(
    session: AsyncSession,
    admin: Principal,
    pilot: Pilot,
    items: list[PilotRegionIn],
    reason: str | None,
) -> None:
    """Replace the pilot's codes and keep the edit, before and after, in the audit store (its
    history is a view of it).

    The one place a pilot's codes change after creation. Projects keep their pilot_id:
    membership is the project's own statement.
    """
    before = _codes_json((await repo.regions_of(session, [pilot.id]))[pilot.id])
    rows = _rows(pilot.id, items)
    await repo.replace_regions(session, pilot.id, rows)
    status = PilotStatus(pilot.status)
    await audit.record(
        session,
        audit.event(
            admin,
            PilotHistoryAction.replace_codes,
            "pilot",
            pilot.id,
            changes={"codes": {"before": before, "after": _codes_json(rows)}},
            from_status=status,
            to_status=status,
            reason=reason,
        ),
    )
    # updated_since must find the pilot when only its codes changed.
    pilot.updated_at = db_now()
    await session.flush()


async def replace_codes(
    session: AsyncSession, admin: Principal, pilot_id: uuid.UUID, body: PilotCodesReplace
) -> PilotRead:
    """Replace a pilot's codes with their coverage and validity; kept in its history."""
    pilot = await _get_pilot(session, pilot_id)
    errors = _check_regions(pilot.province_code, body.codes, "codes")
    if errors:
        raise RuleViolation(
            "The pilot's codes are not valid.", code="invalid_regions", errors=errors
        )
    await _replace_codes(session, admin, pilot, body.codes, body.reason)
    return await get(session, pilot.id)


async def create(session: AsyncSession, admin: Principal, body: PilotCreate) -> PilotRead:
    """Register a pilot in status ``applying`` with the current GB/T 2260 codes it covers."""
    errors = _check_province(body.province) + _check_regions(body.province, body.regions)
    if errors:
        raise RuleViolation(
            "The pilot's province or region codes are not valid.",
            code="invalid_regions",
            errors=errors,
        )
    if await repo.name_taken(session, body.name, body.batch):
        raise Conflict("A pilot with this name exists in this batch.", code="pilot_exists")
    pilot = Pilot(
        id=new_id(),
        name=body.name,
        kind=body.kind,
        province_code=body.province,
        batch=body.batch,
        status=PilotStatus.applying,
        designation_ref=body.designation_ref,
        work_plan_ref=body.work_plan_ref,
        implementation_plan_ref=body.implementation_plan_ref,
    )
    regions = _rows(pilot.id, body.regions)
    try:
        await repo.add(session, pilot, regions)
    except IntegrityError as exc:
        # Lost a race with an identical creation that committed first.
        raise Conflict("A pilot with this name exists in this batch.", code="pilot_exists") from exc
    created = {name: getattr(pilot, name) for name in _FIELDS} | {"codes": _codes_json(regions)}
    await audit.record(
        session,
        audit.event(
            admin,
            "create",
            "pilot",
            pilot.id,
            changes=audit.changes({}, created, created),
            to_status=PilotStatus.applying,
        ),
    )
    return _read(pilot, regions)


async def update(
    session: AsyncSession, admin: Principal, pilot_id: uuid.UUID, body: PilotUpdate
) -> PilotRead:
    """Change a pilot's document references or the codes it covers; omitted fields stay."""
    pilot = await _get_pilot(session, pilot_id)
    sent = body.model_fields_set
    if "regions" in sent:
        if body.regions is None:
            message = "A pilot covers at least one code."
            raise RuleViolation(
                message, errors=[field_error(["body", "regions"], "required", message)]
            )
        errors = _check_regions(pilot.province_code, body.regions)
        if errors:
            raise RuleViolation(
                "The pilot's region codes are not valid.", code="invalid_regions", errors=errors
            )
        await _replace_codes(session, admin, pilot, body.regions, None)
    refs = [field for field in _REFS if field in sent]
    before = {field: getattr(pilot, field) for field in refs}
    for field in refs:
        setattr(pilot, field, getattr(body, field))
    changed = audit.changes(before, {field: getattr(pilot, field) for field in refs}, refs)
    if changed:
        await audit.record(
            session, audit.event(admin, "update", "pilot", pilot.id, changes=changed)
        )
    if sent:
        # Also when only the codes changed: updated_since must find the pilot.
        pilot.updated_at = db_now()
        await session.flush()
    return await get(session, pilot.id)


async def transition(
    session: AsyncSession, admin: Principal, pilot_id: uuid.UUID, body: PilotTransitionCreate
) -> PilotRead:
    """Apply one step of section 三; the step is kept in the pilot's history."""
    pilot = await _get_pilot(session, pilot_id)
    current = PilotStatus(pilot.status)
    target = TRANSITIONS.get(current, {}).get(body.action)
    if target is None:
        allowed = allowed_actions(current)
        raise Conflict(
            f"A pilot in status {current.value} cannot {body.action.value}; "
            f"allowed: {', '.join(a.value for a in allowed) or 'none'}.",
            code="invalid_transition",
            allowed_actions=[a.value for a in allowed],
        )
    if body.action in _REASON_REQUIRED and not body.reason:
        raise RuleViolation(
            f"A reason is required to {body.action.value}.",
            code="reason_required",
            errors=[field_error(["body", "reason"], "reason_required", "State the reason.")],
        )
    if not await repo.move(session, pilot.id, current, target):
        raise Conflict(
            "The pilot's status changed meanwhile; read it again.", code="concurrent_transition"
        )
    await audit.record(
        session,
        audit.event(
            admin,
            body.action,
            "pilot",
            pilot.id,
            from_status=current,
            to_status=target,
            reason=body.reason,
        ),
    )
    return await get(session, pilot.id)


async def history(
    session: AsyncSession, pilot_id: uuid.UUID, *, cursor: str | None, limit: int
) -> Page[PilotTransitionRead]:
    """The pilot's transitions and edits of its codes, oldest first: a view of the audit store
    (its events of those actions; the entry's id is the event's id as a UUID)."""
    await _get_pilot(session, pilot_id)
    rows, next_cursor = await audit_repo.of_object(
        session, "pilot", pilot_id, cursor=cursor, limit=limit, actions=list(PilotHistoryAction)
    )
    items = [
        PilotTransitionRead(
            id=uuid.UUID(int=e.id),
            action=PilotHistoryAction(e.action),
            from_status=PilotStatus(str(e.from_status)),
            to_status=PilotStatus(str(e.to_status)),
            reason=e.reason,
            codes=PilotCodesChange.model_validate(e.changes["codes"])
            if e.changes and "codes" in e.changes
            else None,
            actor_role=e.actor_role,
            at=e.at,
        )
        for e in rows
    ]
    return Page[PilotTransitionRead](items=items, next_cursor=next_cursor)
