"""The batch upsert (DESIGN §7, §8, §9): many projects by the region's ``external_ref`` at once.

Each item is validated exactly as a single create (same codes), and an item for a stored project
follows the PATCH rules (what its status allows; a screening change in the library sends it back to
review). The batch is built for throughput: one query loads every stored project the batch names
(locked ``FOR UPDATE`` on PostgreSQL; SQLite's request already holds the write lock), the rules run
in Python, and the writes are one executemany per statement. Only the database can still refuse
something after that (a concurrent batch creating the same ``external_ref``): the inserts run in a
SAVEPOINT, and if it fails they are replayed one savepoint per item so that only the clashing items
become errors and the rest still lands. An item that fails never leaves a partial row.

Updates replace the project with the item as sent (the item is the region's full record of the
project, fields left out take their defaults), so re-sending a spreadsheet is idempotent.
"""

import asyncio
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import pydantic
from sqlalchemy import String, Table, and_, bindparam, func, insert, select, update
from sqlalchemy.dialects import postgresql
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from app.auth import Principal
from app.errors import (
    AppError,
    Conflict,
    FieldError,
    RuleViolation,
    field_error,
    field_errors,
)
from app.models import Project, ProjectStatus, ProjectTransition
from app.models.base import utcnow
from app.schemas.batch import MAX_BATCH, ItemStatus
from app.schemas.project import ProjectCreate
from app.services import project_rules, tabular, validation
from app.services.project_rows import FIELD_OF_COLUMN, STORED_COLUMNS, column_values
from app.services.screening import screen

Loc = list[str | int]


def _table(model: type[Project] | type[ProjectTransition]) -> Table:
    table = model.__table__
    assert isinstance(table, Table)  # noqa: S101 - narrows the type for Core statements
    return table


_PROJECTS = _table(Project)
_TRANSITIONS = _table(ProjectTransition)

_LOADED = (
    _PROJECTS.c.id,
    _PROJECTS.c.status,
    _PROJECTS.c.version,
    *(_PROJECTS.c[name] for name in STORED_COLUMNS),
)

MAX_IMPORT_ROWS = 100_000
MAX_IMPORT_BYTES = 50 * 1024 * 1024


class PayloadTooLarge(AppError):
    status = 413
    default_code = "payload_too_large"
    title = "Payload too large"


@dataclass
class Entry:
    """One item of a batch: its position, its spreadsheet row (imports), the JSON sent."""

    index: int
    row: int | None
    raw: Any


@dataclass
class _Pending:
    entry: Entry
    data: ProjectCreate
    values: dict[str, Any]


class _Locator:
    """Where an item's errors point: ["body", "items", i, ...] or, for imports, ["file", row, ...]
    with nested fields named as their spreadsheet columns (owner.uscc → owner_uscc)."""

    def __init__(self, for_import: bool) -> None:
        self.for_import = for_import

    def prefix(self, entry: Entry) -> Loc:
        if self.for_import:
            return ["file", entry.row if entry.row is not None else entry.index]
        return ["body", "items", entry.index]

    def at(self, entry: Entry, path: Sequence[str | int]) -> Loc:
        rest = list(path)
        if (
            self.for_import
            and len(rest) > 1
            and rest[0] in ("owner", "contact")
            and isinstance(rest[1], str)
        ):
            rest = [f"{rest[0]}_{rest[1]}", *rest[2:]]
        return [*self.prefix(entry), *rest]

    def relocate(self, entry: Entry, errors: Iterable[FieldError], strip: int) -> list[FieldError]:
        """Errors located for a single request (``strip`` leading parts) moved onto the item."""
        return [field_error(self.at(entry, e.loc[strip:]), e.code, e.message) for e in errors]

    def relocated(self, entry: Entry, error: AppError, strip: int) -> AppError:
        """The error with its field errors moved onto the item."""
        error.errors = self.relocate(entry, error.errors or [], strip)
        return error


def _schema_error(entry: Entry, exc: pydantic.ValidationError, locator: _Locator) -> AppError:
    # The codes a single create answers: its request validation maps pydantic's errors alike.
    errors = field_errors(exc.errors())
    return RuleViolation(
        "The request does not satisfy the schema.",
        code="validation_error",
        errors=locator.relocate(entry, errors, 0),
    )


def _parse(entry: Entry, locator: _Locator) -> ProjectCreate | AppError:
    try:
        data = ProjectCreate.model_validate(entry.raw)
    except pydantic.ValidationError as exc:
        return _schema_error(entry, exc, locator)
    if data.external_ref is None:
        return RuleViolation(
            "A batch item needs an external_ref: it is the key the upsert goes by.",
            code="external_ref_required",
            errors=[
                field_error(
                    locator.at(entry, ["external_ref"]), "external_ref_required", "Required."
                )
            ],
        )
    return data


def _raw_ref(raw: Any) -> str | None:
    ref = raw.get("external_ref") if isinstance(raw, dict) else None
    return ref.strip() if isinstance(ref, str) else None


class _Result:
    __slots__ = ("entry", "external_ref", "id", "problem", "status")

    def __init__(
        self,
        entry: Entry,
        status: ItemStatus,
        external_ref: str | None,
        id_: uuid.UUID | None = None,
        problem: dict[str, Any] | None = None,
    ) -> None:
        self.entry = entry
        self.status = status
        self.external_ref = external_ref
        self.id = id_
        self.problem = problem

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
        return out


async def _load_existing(
    session: AsyncSession, scope: str, refs: Sequence[str]
) -> dict[str, dict[str, Any]]:
    """The stored projects of these external_refs in the caller's source scope, locked."""
    if not refs:
        return {}
    if session.get_bind().dialect.name == "postgresql":
        # A join with the unnested array probes the (source_scope, external_ref) index once per
        # ref under any plan; an IN list of 1,000 parameters turns into a scan of the region's
        # rows once PostgreSQL switches the prepared statement to its generic plan.
        wanted = (
            func.unnest(bindparam("refs", list(refs), type_=postgresql.ARRAY(String)))
            .table_valued("ref")
            .render_derived(name="wanted")
        )
        stmt = select(*_LOADED).select_from(
            wanted.join(
                _PROJECTS,
                and_(_PROJECTS.c.source_scope == scope, _PROJECTS.c.external_ref == wanted.c.ref),
            )
        )
    else:
        stmt = select(*_LOADED).where(
            _PROJECTS.c.source_scope == scope, _PROJECTS.c.external_ref.in_(refs)
        )
    # PostgreSQL: the rows stay ours until commit, so the updates below need no version check.
    # SQLite renders no FOR UPDATE: the request already holds the database's write lock.
    rows = (await session.execute(stmt.with_for_update(of=_PROJECTS))).mappings().all()
    return {row["external_ref"]: dict(row) for row in rows}


def _transition(
    principal: Principal,
    project_id: uuid.UUID,
    action: str,
    from_status: ProjectStatus | None,
    to_status: ProjectStatus,
    reason: str | None,
    at: datetime,
) -> dict[str, Any]:
    return {
        "id": uuid.uuid4(),
        "project_id": project_id,
        "action": action,
        "from_status": from_status,
        "to_status": to_status,
        "reason": reason,
        "actor_role": principal.role.value if principal.role else "anonymous",
        "actor_scope": principal.scope,
        "actor_key_id": principal.key_id,
        "at": at,
    }


class _Plan:
    """The writes a batch decides on, item by item, before any of them is made."""

    def __init__(self, principal: Principal, locator: _Locator, now: datetime) -> None:
        self.principal = principal
        self.locator = locator
        self.now = now
        self.inserts: list[tuple[int, dict[str, Any], dict[str, Any]]] = []
        self.updates: list[dict[str, Any]] = []
        self.steps: list[dict[str, Any]] = []

    def _error(self, entry: Entry, ref: str | None, error: AppError) -> _Result:
        return _Result(entry, ItemStatus.error, ref, problem=error.problem())

    def create(self, position: int, entry: Entry, data: ProjectCreate) -> _Result:
        """A new draft, validated as POST /projects validates it."""
        ref = data.external_ref
        found = validation.check(data, self.principal, loc=self.locator.prefix(entry))
        if found:
            return self._error(entry, ref, _rules_error(entry, found, self.locator))
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
            "updated_at": self.now,
        }
        step = _transition(
            self.principal, project_id, "create", None, ProjectStatus.draft, None, self.now
        )
        self.inserts.append((position, row, step))
        return _Result(entry, ItemStatus.created, ref, project_id)

    def update(self, entry: Entry, data: ProjectCreate, stored: dict[str, Any]) -> _Result:
        """The stored project replaced by the item, under the PATCH rules of its status."""
        ref = data.external_ref
        project_id = stored["id"]
        status = ProjectStatus(stored["status"])
        values = column_values(data)
        changed = {c for c in STORED_COLUMNS if values[c] != stored[c]}
        if not changed:
            return _Result(entry, ItemStatus.unchanged, ref, project_id)
        try:
            project_rules.ensure_owner(self.principal, stored["region_code"])
            project_rules.ensure_editable(status)
        except AppError as refused:
            return self._error(entry, ref, refused)
        found = validation.check(
            data,
            self.principal,
            loc=self.locator.prefix(entry),
            new_region="region_code" in changed,
        )
        if found:
            return self._error(entry, ref, _rules_error(entry, found, self.locator))
        new_status = status
        fields = {FIELD_OF_COLUMN[c] for c in changed if c in FIELD_OF_COLUMN}
        step = project_rules.resubmission(status, fields)
        if step is not None:
            categories = [c.value for c in data.categories]
            refusal = screen(data.industry_code, data.nature, categories).refusal()
            if refusal is not None:
                return self._error(entry, ref, self.locator.relocated(entry, refusal, 1))
            new_status = step.to_status
            self.steps.append(
                _transition(
                    self.principal,
                    project_id,
                    step.action,
                    status,
                    new_status,
                    step.reason,
                    self.now,
                )
            )
        self.updates.append(
            {
                **values,
                "_id": project_id,
                "status": new_status,
                "version": stored["version"] + 1,
                "updated_at": self.now,
            }
        )
        return _Result(entry, ItemStatus.updated, ref, project_id)


async def upsert(
    session: AsyncSession,
    principal: Principal,
    entries: Sequence[Entry],
    *,
    for_import: bool = False,
    seen: set[str] | None = None,
    retry: bool = True,
) -> list[dict[str, Any]]:
    """Create or update each entry by external_ref; one result per entry, in order.

    ``seen``: external_refs taken by earlier chunks of the same import (a second row with one is
    an error, as within one batch). ``retry``: items whose insert lost a race are looked up again.
    """
    assert principal.scope is not None  # a region key always has a scope  # noqa: S101
    assert len(entries) <= MAX_BATCH  # noqa: S101 - callers chunk
    locator = _Locator(for_import)
    seen = set() if seen is None else seen
    results: list[_Result | None] = [None] * len(entries)
    pending: list[tuple[int, ProjectCreate]] = []

    for position, entry in enumerate(entries):
        parsed = _parse(entry, locator)
        if isinstance(parsed, AppError):
            results[position] = _Result(
                entry, ItemStatus.error, _raw_ref(entry.raw), problem=parsed.problem()
            )
            continue
        ref = parsed.external_ref
        assert ref is not None  # noqa: S101 - _parse refuses items without one
        if ref in seen:
            duplicate = Conflict(
                f"external_ref {ref!r} appears more than once; only its first item is applied.",
                code="duplicate_external_ref",
                errors=[
                    field_error(
                        locator.at(entry, ["external_ref"]), "duplicate_external_ref", "Repeated."
                    )
                ],
            )
            results[position] = _Result(entry, ItemStatus.error, ref, problem=duplicate.problem())
            continue
        seen.add(ref)
        pending.append((position, parsed))

    existing = await _load_existing(
        session, principal.scope, [data.external_ref or "" for _, data in pending]
    )
    plan = _Plan(principal, locator, utcnow())
    for position, data in pending:
        stored = existing.get(data.external_ref or "")
        if stored is None:
            results[position] = plan.create(position, entries[position], data)
        else:
            results[position] = plan.update(entries[position], data, stored)

    if plan.updates:
        stmt = update(_PROJECTS).where(_PROJECTS.c.id == bindparam("_id"))
        await session.execute(stmt, plan.updates)
    if plan.steps:
        await session.execute(insert(_TRANSITIONS), plan.steps)
    answered = [r.as_json() for r in results if r is not None]
    if plan.inserts:
        clashed = await _insert(session, plan.inserts, results, entries, locator)
        answered = [r.as_json() for r in results if r is not None]
        if clashed and retry:
            # The concurrent writer's rows held our inserts until it committed, so a second pass
            # finds them stored: those items become updates (or unchanged), as if sent after it.
            again = await upsert(
                session,
                principal,
                [entries[p] for p in clashed],
                for_import=for_import,
                retry=False,
            )
            for position, result in zip(clashed, again, strict=True):
                answered[position] = result
    return answered


def _rules_error(entry: Entry, found: list[FieldError], locator: _Locator) -> AppError:
    errors = found
    if locator.for_import:
        # check() located them under the import prefix already; only nested names need flattening.
        errors = locator.relocate(entry, found, 2)
    return RuleViolation(
        f"The project breaks {len(found)} rule(s).", code="validation_error", errors=errors
    )


async def _insert(
    session: AsyncSession,
    inserts: list[tuple[int, dict[str, Any], dict[str, Any]]],
    results: list[_Result | None],
    entries: Sequence[Entry],
    locator: _Locator,
) -> list[int]:
    """Insert the new projects with their "create" steps: in one go, or item by item if refused.

    Returns the positions whose external_ref a concurrent writer took (now error results).
    """
    try:
        async with session.begin_nested():
            await session.execute(insert(_PROJECTS), [row for _, row, _ in inserts])
            await session.execute(insert(_TRANSITIONS), [step for _, _, step in inserts])
        return []
    except IntegrityError:
        pass
    clashed: list[int] = []
    # A concurrent writer created one of these external_refs since they were looked up: replay one
    # savepoint per item so that only the clashing items fail.
    for position, row, step in inserts:
        try:
            async with session.begin_nested():
                await session.execute(insert(_PROJECTS), [row])
                await session.execute(insert(_TRANSITIONS), [step])
        except IntegrityError:
            entry = entries[position]
            clash = Conflict(
                f"This region already has a project with external_ref {row['external_ref']!r}.",
                code="duplicate_external_ref",
                errors=[
                    field_error(
                        locator.at(entry, ["external_ref"]), "duplicate_external_ref", "Taken."
                    )
                ],
            )
            results[position] = _Result(
                entry, ItemStatus.error, row["external_ref"], problem=clash.problem()
            )
            clashed.append(position)
    return clashed


def summarize(results: Iterable[dict[str, Any]]) -> dict[str, int]:
    counts = dict.fromkeys((s.value for s in ItemStatus), 0)
    for result in results:
        counts[result["status"]] += 1
    return counts


async def run_batch(
    session: AsyncSession, principal: Principal, items: Sequence[Any]
) -> dict[str, Any]:
    """Upsert the batch's items; the per-item results and their summary."""
    entries = [Entry(i, None, raw) for i, raw in enumerate(items)]
    results = await upsert(session, principal, entries)
    return {"results": results, "summary": summarize(results)}


def _read_rows(
    data: bytes, filename: str | None, content_type: str | None
) -> list[tuple[int, dict[str, Any]]]:
    rows = []
    for row in tabular.read_table(data, filename, content_type):
        rows.append(row)
        if len(rows) > MAX_IMPORT_ROWS:
            raise PayloadTooLarge(
                f"A file holds at most {MAX_IMPORT_ROWS} projects; split it.", code="too_many_rows"
            )
    return rows


async def run_import(
    session: AsyncSession,
    principal: Principal,
    data: bytes,
    filename: str | None,
    content_type: str | None,
) -> dict[str, Any]:
    """Upsert the rows of a CSV or XLSX file, 1,000 at a time; results carry the row numbers."""
    try:
        # Parsing a large workbook is seconds of CPU: keep it off the event loop.
        rows = await asyncio.to_thread(_read_rows, data, filename, content_type)
    except tabular.TabularError as exc:
        raise RuleViolation(
            str(exc),
            code="unreadable_file",
            errors=[field_error(["body", "file"], "unreadable_file", str(exc))],
        ) from exc
    if not rows:
        raise RuleViolation(
            "The file has a header row but no project rows.",
            code="empty_file",
            errors=[field_error(["body", "file"], "empty_file", "No rows.")],
        )
    entries = [Entry(i, row, item) for i, (row, item) in enumerate(rows)]
    seen: set[str] = set()
    results: list[dict[str, Any]] = []
    for start in range(0, len(entries), MAX_BATCH):
        chunk = entries[start : start + MAX_BATCH]
        results.extend(await upsert(session, principal, chunk, for_import=True, seen=seen))
    return {"results": results, "summary": summarize(results)}
