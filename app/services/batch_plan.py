"""Deciding a batch's writes, item by item, before any of them is made.

A new item becomes a draft, validated as POST /projects validates it. An item for a stored project
replaces it (the item is the region's full record of the project: fields left out take their
defaults, so re-sending a spreadsheet changes nothing) under the edit rules of a PATCH
(services/project_rules): nothing changed is ``unchanged`` whatever the status; otherwise only the
project's region edits it, only in a status that takes edits, ``financing_secured`` never below
what financed offers recorded, and a screening change in the library opens a revision for that
project (services/revisions.py; its id in the item's result) while the item's progress fields are
applied at once. Every update and revision appends its event, with the fields' before and after.
"""

import uuid
from datetime import datetime
from decimal import Decimal
from types import SimpleNamespace
from typing import Any

import pydantic

from app.auth import Principal
from app.errors import AppError, RuleViolation, field_errors
from app.ids import new_id
from app.models import ProjectStatus, RevisionStatus
from app.schemas.batch import ItemStatus
from app.schemas.project import ProjectCreate, ProjectFields
from app.services import lifecycle, pilot_membership, project_rules, revisions, validation
from app.services.batch_items import Entry, ItemResult, Locator
from app.services.pilot_membership import FullCodes, Pilots
from app.services.project_rows import (
    FIELD_OF_COLUMN,
    STORED_COLUMNS,
    as_input,
    column_values,
    field_changes,
)

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
        open_revisions: set[uuid.UUID] | None = None,
    ) -> None:
        self.principal = principal
        self.open_revisions = set() if open_revisions is None else open_revisions
        self.revisions: list[dict[str, Any]] = []
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
        project_id = new_id()
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

    def update(
        self,
        entry: Entry,
        data: ProjectCreate,
        stored: dict[str, Any],
        recorded: Decimal | None = None,
    ) -> ItemResult:
        """The stored project replaced by the item, under the PATCH rules of its status.

        ``recorded``: what financed offers have recorded on the project (the floor of
        ``financing_secured``)."""
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
        if "financing_secured" in fields:
            below = project_rules.below_recorded(data.financing_secured, recorded, ["body"])
            if below is not None:
                return ItemResult.refused(entry, ref, self.locator.relocated(entry, below, 1))
        before = as_input(SimpleNamespace(**stored))
        proposed = project_rules.screening_changes(status, fields)
        if not proposed:
            self._update(stored, values, before, data.model_dump(), fields)
            return ItemResult(entry, ItemStatus.updated, ref, project_id)
        try:
            revision_id = self._revise(entry, data, stored, before, fields, proposed)
        except AppError as refused:
            return ItemResult.refused(entry, ref, refused)
        return ItemResult(entry, ItemStatus.updated, ref, project_id, revision_id=revision_id)

    def _update(
        self,
        stored: dict[str, Any],
        values: dict[str, Any],
        before: dict[str, Any],
        after: dict[str, Any],
        fields: set[str],
    ) -> None:
        project_id, status = stored["id"], ProjectStatus(stored["status"])
        self.updates.append(
            {**values, "_id": project_id, "status": status, "version": stored["version"] + 1}
        )
        changes = field_changes(before, after, fields)
        self.steps.append(self._step(project_id, "update", status, status, None, changes=changes))

    def _revise(
        self,
        entry: Entry,
        data: ProjectCreate,
        stored: dict[str, Any],
        before: dict[str, Any],
        fields: set[str],
        proposed: list[str],
    ) -> uuid.UUID:
        """Open a revision for the item's screening fields of a library project (and apply its
        progress fields at once), as a PATCH does; the revision's id."""
        project_id, status = stored["id"], ProjectStatus(stored["status"])
        if project_id in self.open_revisions:
            raise revisions.already_open()
        try:
            values, screening = revisions.proposal(data, proposed)
        except AppError as refused:
            raise self.locator.relocated(entry, refused, 1) from None
        progress = fields - set(proposed)
        if progress:
            kept = {name: getattr(data, name) for name in progress}
            try:
                now = ProjectFields.model_validate({**before, **kept})
            except pydantic.ValidationError as exc:
                errors = field_errors(exc.errors(), self.locator.prefix(entry))
                raise RuleViolation("The project breaks the schema.", errors=errors) from exc
            loc = self.locator.prefix(entry)
            found = validation.check(
                now, self.principal, loc=loc, new_region=False, new_pilot=False, pilots=self.pilots
            )
            if found:
                raise self.locator.rules_error(entry, found)
            self._update(stored, column_values(now), before, now.model_dump(), progress)
        revision_id = new_id()
        self.revisions.append(
            {
                "id": revision_id,
                "project_id": project_id,
                "status": RevisionStatus.submitted,
                "fields": values,
                "screening": screening,
                "reason": None,
                "created_by": self.principal.key_id,
                "created_at": self.now,
                "decided_at": None,
            }
        )
        self.open_revisions.add(project_id)
        changes = field_changes(before, data.model_dump(), proposed)
        reason = f"Revision {revision_id} proposes: " + ", ".join(proposed)
        self.steps.append(
            self._step(project_id, "revision_open", status, status, reason, screening, changes)
        )
        return revision_id

    def _step(
        self,
        project_id: uuid.UUID,
        action: str,
        from_status: ProjectStatus | None,
        to_status: ProjectStatus,
        reason: str | None,
        screening: dict[str, Any] | None = None,
        changes: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        return lifecycle.step_values(
            self.principal,
            project_id,
            action,
            from_status,
            to_status,
            reason,
            self.now,
            screening,
            changes,
        )
