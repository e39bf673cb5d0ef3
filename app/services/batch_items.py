"""The items of a batch: what each one is, where its errors point, and how it is answered.

An item is read exactly as a single create reads its body (same codes), and an item that fails
answers with the problem document that request would have answered, its field errors located on
the item: ``["body", "items", i, …]`` in a batch, ``["file", row, …]`` in an import, where the
fields of a nested model are named as their spreadsheet columns (owner.uscc → owner_uscc).
"""

import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import pydantic

from app.errors import AppError, Conflict, FieldError, RuleViolation, field_error, field_errors
from app.schemas.batch import ItemStatus
from app.schemas.project import ProjectCreate
from app.services.tabular import COLUMN_AT

Loc = list[str | int]


@dataclass
class Entry:
    """One item of a batch: its position, its spreadsheet row (imports), the JSON sent."""

    index: int
    row: int | None
    raw: Any


class Locator:
    """Where the errors of a batch's items point (see the module docstring)."""

    def __init__(self, for_import: bool) -> None:
        self.for_import = for_import

    def prefix(self, entry: Entry) -> Loc:
        if self.for_import:
            return ["file", entry.row if entry.row is not None else entry.index]
        return ["body", "items", entry.index]

    def at(self, entry: Entry, path: Sequence[str | int]) -> Loc:
        rest = list(path)
        column = COLUMN_AT.get(tuple(rest[:2])) if self.for_import else None
        if column is not None:
            rest = [column, *rest[2:]]
        return [*self.prefix(entry), *rest]

    def relocate(self, entry: Entry, errors: Iterable[FieldError], strip: int) -> list[FieldError]:
        """Errors located for a single request (``strip`` leading parts) moved onto the item."""
        return [field_error(self.at(entry, e.loc[strip:]), e.code, e.message) for e in errors]

    def relocated(self, entry: Entry, error: AppError, strip: int) -> AppError:
        """The error, its field errors moved onto the item."""
        error.errors = self.relocate(entry, error.errors or [], strip)
        return error

    def rules_error(self, entry: Entry, found: list[FieldError]) -> AppError:
        """The 422 of the rules an item breaks (``validation.check`` located them on the item)."""
        # Under the import prefix only nested names still need flattening.
        errors = self.relocate(entry, found, 2) if self.for_import else found
        return RuleViolation(
            f"The project breaks {len(found)} rule(s).", code="validation_error", errors=errors
        )

    def duplicate(self, entry: Entry, detail: str, message: str) -> AppError:
        """The 409 of an external_ref already taken (by another item, or another writer)."""
        loc = self.at(entry, ["external_ref"])
        return Conflict(
            detail,
            code="duplicate_external_ref",
            errors=[field_error(loc, "duplicate_external_ref", message)],
        )


class ItemResult:
    """What became of one item: created, updated, unchanged, or refused with its problem."""

    __slots__ = ("entry", "external_ref", "id", "problem", "revision_id", "status")

    def __init__(
        self,
        entry: Entry,
        status: ItemStatus,
        external_ref: str | None,
        id_: uuid.UUID | None = None,
        problem: dict[str, Any] | None = None,
        revision_id: uuid.UUID | None = None,
    ) -> None:
        self.entry = entry
        self.revision_id = revision_id
        self.status = status
        self.external_ref = external_ref
        self.id = id_
        self.problem = problem

    @classmethod
    def refused(cls, entry: Entry, external_ref: str | None, error: AppError) -> "ItemResult":
        return cls(entry, ItemStatus.error, external_ref, problem=error.problem())

    def as_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "index": self.entry.index,
            "status": self.status.value,
            "id": str(self.id) if self.id is not None else None,
            "external_ref": self.external_ref,
            "problem": self.problem,
        }
        if self.entry.row is not None:
            out["row"] = self.entry.row
        if self.revision_id is not None:
            out["revision_id"] = str(self.revision_id)
        return out


def parse(entry: Entry, locator: Locator) -> ProjectCreate | AppError:
    """The item as a single create would read it; it also needs its external_ref."""
    try:
        data = ProjectCreate.model_validate(entry.raw)
    except pydantic.ValidationError as exc:
        return RuleViolation(
            "The request does not satisfy the schema.",
            code="validation_error",
            errors=locator.relocate(entry, field_errors(exc.errors()), 0),
        )
    if data.external_ref is None:
        loc = locator.at(entry, ["external_ref"])
        return RuleViolation(
            "A batch item needs an external_ref: it is the key the upsert goes by.",
            code="external_ref_required",
            errors=[field_error(loc, "external_ref_required", "Required.")],
        )
    return data


def raw_ref(raw: Any) -> str | None:
    """The external_ref an unreadable item was sent with, to name it in its result."""
    ref = raw.get("external_ref") if isinstance(raw, dict) else None
    return ref.strip() if isinstance(ref, str) else None


def summarize(results: Iterable[dict[str, Any]]) -> dict[str, int]:
    counts = dict.fromkeys((s.value for s in ItemStatus), 0)
    for result in results:
        counts[result["status"]] += 1
    return counts
