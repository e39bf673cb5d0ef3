"""Which pilot a project belongs to: the rules on a project's ``pilot_id``.

A project belongs to a pilot only by its explicit ``pilot_id``, never by where its region code
lies at the time of a count. The id is set when the project is written (``assign``): a
`pilot:<id>` key's projects get their pilot's id; a project in a pilot's ``full`` code gets that
pilot unless it states one; a region may state a pilot whose codes held the project's region code
on the day the project was created (a code covered in part counts only so: by the project's own
statement). A disqualified pilot takes no new members. The single and the bulk write both load
what they need (``load``, ``full_codes``) and run ``check``.
"""

import uuid
from collections.abc import Collection, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import date
from typing import TYPE_CHECKING, Any

from sqlalchemy.ext.asyncio import AsyncSession

from app.auth import Principal, region_prefixes_of
from app.models.pilot import PilotStatus
from app.repositories import pilots as pilots_repo

if TYPE_CHECKING:
    from app.schemas.project import ProjectFields


@dataclass(frozen=True, slots=True)
class PilotCode:
    code: str
    valid_from: date | None
    valid_to: date | None

    def holds(self, region_code: str, on: date) -> bool:
        """Whether this code covers ``region_code`` (at or below it) on the day ``on``."""
        if not region_code.startswith(region_prefixes_of(self.code)):
            return False
        return (self.valid_from is None or self.valid_from <= on) and (
            self.valid_to is None or on <= self.valid_to
        )


@dataclass(frozen=True, slots=True)
class PilotCodes:
    """A pilot as membership rules read it: its status and every code, full or partial."""

    id: uuid.UUID
    status: PilotStatus
    codes: tuple[PilotCode, ...]

    def holds(self, region_code: str, on: date) -> bool:
        return any(code.holds(region_code, on) for code in self.codes)


Pilots = Mapping[uuid.UUID, PilotCodes]


async def load(session: AsyncSession, pilot_ids: Collection[uuid.UUID | None]) -> Pilots:
    """The named pilots that exist, with their codes, in two queries."""
    ids = sorted({pilot_id for pilot_id in pilot_ids if pilot_id is not None})
    pilots = await pilots_repo.get_many(session, ids)
    regions = await pilots_repo.regions_of(session, [p.id for p in pilots])
    return {
        p.id: PilotCodes(
            p.id,
            PilotStatus(p.status),
            tuple(PilotCode(r.region_code, r.valid_from, r.valid_to) for r in regions[p.id]),
        )
        for p in pilots
    }


@dataclass(frozen=True, slots=True)
class FullCodes:
    """Every pilot's full codes (a few dozen rows): which pilot a region code belongs to whole."""

    rows: tuple[tuple[uuid.UUID, PilotCode], ...]
    # Answers already given: a batch asks for each of its items, mostly about a few districts.
    held: dict[tuple[str, date], uuid.UUID | None] = field(
        default_factory=dict, compare=False, hash=False, repr=False
    )

    def holder(self, region_code: str, on: date) -> uuid.UUID | None:
        """The pilot whose full code held ``region_code`` on ``on`` (the first in code order)."""
        key = (region_code, on)
        if key not in self.held:
            self.held[key] = next(
                (pid for pid, code in self.rows if code.holds(region_code, on)), None
            )
        return self.held[key]


async def full_codes(session: AsyncSession) -> FullCodes:
    """The full codes of every pilot that takes projects (not disqualified)."""
    rows = await pilots_repo.full_code_rows(session)
    return FullCodes(tuple((pid, PilotCode(code, vf, vt)) for pid, code, vf, vt in rows))


def assign(
    data: "ProjectFields",
    principal: Principal,
    full: FullCodes,
    on: date,
    *,
    keep: Pilots | None = None,
) -> Any:
    """The project with the pilot it belongs to, when it states none: a `pilot:<id>` key's own
    pilot, or the pilot whose full code holds its region. ``keep``: the stated pilot (loaded)
    stays only while its codes hold the region (a PATCH that moves the project)."""
    pilot_id: uuid.UUID | None
    if principal.pilot_id is not None:
        pilot_id = data.pilot_id or principal.pilot_id
    elif data.pilot_id is not None and keep is None:
        return data
    elif data.pilot_id is not None and keep is not None and data.pilot_id in keep:
        held = keep[data.pilot_id].holds(data.region_code, on)
        pilot_id = data.pilot_id if held else full.holder(data.region_code, on)
    else:
        pilot_id = full.holder(data.region_code, on)
    if pilot_id == data.pilot_id:
        return data
    return data.model_copy(update={"pilot_id": pilot_id})


def places(
    principal: Principal, pilot_id: uuid.UUID | None, region_code: str, pilots: Pilots, on: date
) -> bool:
    """Whether a `pilot:<id>` key may place its pilot's project in ``region_code``: any code of
    its pilot, a partial one included (the project then says it is the pilot's)."""
    if principal.pilot_id is None or pilot_id != principal.pilot_id:
        return False
    pilot = pilots.get(pilot_id)
    return pilot is not None and pilot.holds(region_code, on)


def check(
    pilot_id: uuid.UUID | None,
    region_code: str,
    principal: Principal | None,
    pilots: Pilots,
    on: date,
) -> Iterator[tuple[list[str | int], str, str]]:
    """The membership rules a stated ``pilot_id`` breaks: (field path, code, why)."""
    if pilot_id is None:
        return
    path: list[str | int] = ["pilot_id"]
    own = principal.pilot_id if principal is not None else None
    if own is not None and pilot_id != own:
        yield path, "pilot_out_of_scope", "A pilot key's projects belong to its own pilot."
        return
    pilot = pilots.get(pilot_id)
    if pilot is None:
        yield path, "unknown_pilot", f"No pilot {pilot_id} (see GET /api/v1/pilots)."
    elif pilot.status is PilotStatus.disqualified:
        yield (
            path,
            "pilot_disqualified",
            "The pilot lost its title (取消资格): it takes no projects.",
        )
    elif own is None and not pilot.holds(region_code, on):
        # For the pilot's own key, a code outside the pilot is region_out_of_scope already.
        message = f"The pilot's codes did not hold {region_code} on {on}."
        yield path, "pilot_not_covering_region", message
