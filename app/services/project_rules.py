"""What a region may change in a project, and when: the edit rules of single and bulk writes.

Only the region whose scope holds a project changes it (``not_project_owner``), and only while the
project is a draft, returned, or in the library (``not_editable``, naming the actions still open).
In the library a region keeps the progress fields up to date freely; a change to any other field is
a screening change: the project goes back to review (a "resubmit" step), once its 两高 screening
passes again.
"""

import uuid
from collections.abc import Iterable
from typing import NamedTuple

from app.auth import Principal
from app.errors import Conflict, Forbidden, Unauthorized
from app.models import ProjectStatus
from app.repositories.projects import can_edit
from app.services import lifecycle

EDITABLE = frozenset({ProjectStatus.draft, ProjectStatus.returned, ProjectStatus.in_library})
PROGRESS_FIELDS = frozenset(
    {"construction_status", "financing_secured", "contact", "start_date", "end_date"}
)


class Step(NamedTuple):
    """A lifecycle step an edit brings about."""

    action: str
    to_status: ProjectStatus
    reason: str


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


def resubmission(status: ProjectStatus, changed_fields: Iterable[str]) -> Step | None:
    """The step back to review that changing these fields brings about, if any."""
    if status != ProjectStatus.in_library:
        return None
    screening = sorted(set(changed_fields) - PROGRESS_FIELDS)
    if not screening:
        return None
    reason = "Screening fields changed: " + ", ".join(screening)
    return Step("resubmit", ProjectStatus.submitted, reason)
