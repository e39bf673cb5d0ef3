"""Deciding a batch's writes, item by item, before any of them is made.

A new item becomes a draft, validated as POST /projects validates it. An item for a stored project
replaces it (the item is the region's full record of the project: fields left out take their
defaults, so re-sending a spreadsheet changes nothing) under the edit rules of a PATCH
(services/project_rules): nothing changed is ``unchanged`` whatever the status; otherwise only the
project's region edits it, only in a status that takes edits, and a screening change in the library
sends it back to review.
"""

import uuid
from datetime import datetime
from typing import Any

from app.auth import Principal
from app.errors import AppError
from app.models import ProjectStatus
from app.schemas.batch import ItemStatus
from app.schemas.project import ProjectCreate
from app.services import lifecycle, pilot_membership, project_rules, validation
from app.services.batch_items import Entry, ItemResult, Locator
from app.services.pilot_membership import FullCodes, Pilots
from app.services.project_rows import FIELD_OF_COLUMN, STORED_COLUMNS, column_values
from app.services.screening import screen_fields

# What the plan reads of a stored project: the columns it compares, and what an update bumps.
LOADED_COLUMNS = ("id", "status", "version", "created_at", *STORED_COLUMNS)


class Plan:
    """The writes a batch decides on: rows to insert (with their "create" steps), rows to update,
    and the steps updates bring about."""

    def __init__(
        self,
        principal: Principal,
        locator: Locator,
        now: datetime,
        pilots: Pilots,
        full: FullCodes,
    ) -> None:
        self.principal = principal
        self.locator = locator
        self.now = now
        self.pilots = pilots
        self.full = full
        self.inserts: list[tuple[int, dict[str, Any], dict[str, Any]]] = []
        self.updates: list[dict[str, Any]] = []
        self.steps: list[dict[str, Any]] = []

    def create(self, position: int, entry: Entry, data: ProjectCreate) -> ItemResult:
        """A new draft, validated as POST /projects validates it."""
        ref = data.external_ref
        data = pilot_membership.assign(data, self.principal, self.full, self.now.date())
        found = validation.check(
            data, self.principal, loc=self.locator.prefix(entry), pilots=self.pilots
        )
        if found:
            return ItemResult.refused(entry, ref, self.locator.rules_error(entry, found))
        project_id = uuid.uuid4()
        row = {
            **column_values(data),
            "id": project_id,
            "source_scope": self.principal.scope,
            "status": ProjectStatus.draft,
            "version": 1,
            "library_code": None,
            "approved_at": None,
            "created_by": self.principal.key_id,
            "created_at": self.now,
        }
        step = self._step(project_id, "create", None, ProjectStatus.draft, None, row["screening"])
        self.inserts.append((position, row, step))
        return ItemResult(entry, ItemStatus.created, ref, project_id)

    def update(self, entry: Entry, data: ProjectCreate, stored: dict[str, Any]) -> ItemResult:
        """The stored project replaced by the item, under the PATCH rules of its status."""
        ref, project_id = data.external_ref, stored["id"]
        created_on = stored["created_at"].date()
        data = pilot_membership.assign(data, self.principal, self.full, created_on)
        status = ProjectStatus(stored["status"])
        data = data.keeping_primary(stored["primary_category"])
        values = column_values(data)
        changed = {c for c in STORED_COLUMNS if values[c] != stored[c]}
        if not changed:
            return ItemResult(entry, ItemStatus.unchanged, ref, project_id)
        try:
            project_rules.ensure_owner(self.principal, stored["region_code"], stored["pilot_id"])
            project_rules.ensure_editable(status)
        except AppError as refused:
            return ItemResult.refused(entry, ref, refused)
        loc = self.locator.prefix(entry)
        new_region = "region_code" in changed
        found = validation.check(
            data,
            self.principal,
            loc=loc,
            new_region=new_region,
            new_pilot=bool({"region_code", "pilot_id"} & changed),
            pilots=self.pilots,
            created_on=created_on,
        )
        if found:
            return ItemResult.refused(entry, ref, self.locator.rules_error(entry, found))
        fields = {FIELD_OF_COLUMN[c] for c in changed if c in FIELD_OF_COLUMN}
        new_status = self._resubmitted(project_id, status, fields, data)
        if isinstance(new_status, AppError):
            return ItemResult.refused(entry, ref, self.locator.relocated(entry, new_status, 1))
        self.updates.append(
            {
                **values,
                "_id": project_id,
                "status": new_status,
                "version": stored["version"] + 1,
            }
        )
        return ItemResult(entry, ItemStatus.updated, ref, project_id)

    def _resubmitted(
        self, project_id: uuid.UUID, status: ProjectStatus, fields: set[str], data: ProjectCreate
    ) -> ProjectStatus | AppError:
        """The status after changing these fields (a step back to review, when they say so), or
        the 两高 refusal that keeps the change out."""
        step = project_rules.resubmission(status, fields)
        if step is None:
            return status
        result = screen_fields(data)
        refusal = result.refusal()
        if refusal is not None:
            return refusal
        self.steps.append(
            self._step(
                project_id, step.action, status, step.to_status, step.reason, result.as_json()
            )
        )
        return step.to_status

    def _step(
        self,
        project_id: uuid.UUID,
        action: str,
        from_status: ProjectStatus | None,
        to_status: ProjectStatus,
        reason: str | None,
        screening: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        return lifecycle.step_values(
            self.principal, project_id, action, from_status, to_status, reason, self.now, screening
        )
