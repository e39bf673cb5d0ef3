"""Which projects a region or reviewer key holds: the one statement of a key's reach.

A region key holds the projects under its code; a `pilot:<id>` key holds its pilot's projects (their
``pilot_id``) and the projects in its pilot's ``full`` codes, never other projects of a code the
pilot covers only in part (those are that district's own: a key holds no more than its office
needs). A reviewer holds its province. The project and engagement repositories build on these two.
"""

import uuid

from sqlalchemy import ColumnElement, false, or_

from app.auth import Principal
from app.models import Project


def reach_clause(principal: Principal) -> ColumnElement[bool]:
    """The WHERE clause of the projects the key holds (before any status rule)."""
    held = [Project.region_code.startswith(p) for p in principal.region_prefixes]
    if principal.pilot_id is not None:
        held.append(Project.pilot_id == principal.pilot_id)
    return or_(*held) if held else false()


def in_reach(principal: Principal, region_code: str, pilot_id: uuid.UUID | None) -> bool:
    """``reach_clause`` for one project in hand."""
    if principal.pilot_id is not None and pilot_id == principal.pilot_id:
        return True
    return region_code.startswith(principal.region_prefixes)
