"""What a region may change in a project, and when: the edit rules of single and bulk writes.

Only the region whose scope holds a project changes it (``not_project_owner``), and only while the
project is a draft, returned, or in the library (``not_editable``, naming the actions still open).
In the library a region keeps the progress fields up to date freely; a change to any other field is
a screening change: it opens a revision (services/revisions.py), reviewed while the project stays
in the library with its approved fields. ``financing_secured`` never goes below what financed offers
have recorded (``financing_below_recorded``).
"""

import uuid
from collections.abc import Iterable
from decimal import Decimal

from app.auth import Principal
from app.errors import Conflict, Forbidden, RuleViolation, Unauthorized, field_error
from app.models import ProjectStatus
from app.repositories.projects import can_edit
from app.services import lifecycle

EDITABLE = frozenset({ProjectStatus.draft, ProjectStatus.returned, ProjectStatus.in_library})
PROGRESS_FIELDS = frozenset(
    {
        "construction_status",
        "financing_secured",
        "contact",
        "start_date",
        "end_date",
        # Open-data fields (English text, a point on the map): screening and review read none.
        "name_en",
        "summary_en",
        "location",
    }
)


def ensure_owner(principal: Principal, region_code: str, pilot_id: uuid.UUID | None) -> None:
    """Refuse anyone but the project's region (401 without a key, 403 otherwise)."""
    if can_edit(principal, region_code, pilot_id):
        return
    if principal.is_anonymous:
        raise Unauthorized("Changing a project needs an API key.")
    raise Forbidden("Only the project's region changes it.", code="not_project_owner")


def ensure_editable(status: ProjectStatus) -> None:
    """Refuse an edit in a status that does not take one (409 with the actions still allowed)."""
    if status not in EDITABLE:
        raise Conflict(
            f"A {status} project cannot be edited.",
            code="not_editable",
            allowed_actions=lifecycle.allowed_actions(status),
        )


def screening_changes(status: ProjectStatus, changed_fields: Iterable[str]) -> list[str]:
    """The changed fields that need a revision: the non-progress ones of a library project."""
    if status != ProjectStatus.in_library:
        return []
    return sorted(set(changed_fields) - PROGRESS_FIELDS)


def below_recorded(
    secured: Decimal, recorded: Decimal | None, loc: list[str | int]
) -> RuleViolation | None:
    """The refusal of a ``financing_secured`` below what financed offers recorded, if it is."""
    if recorded is None or secured >= recorded:
        return None
    message = f"Financed offers have recorded {recorded:.2f}; financing_secured cannot be less."
    return RuleViolation(
        message,
        code="financing_below_recorded",
        errors=[field_error([*loc, "financing_secured"], "financing_below_recorded", message)],
    )
