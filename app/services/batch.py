"""The batch upsert: many projects by the region's ``external_ref`` at once.

Each item is read as a single create (services/batch_items) and decided under the rules of single
writes (services/batch_plan). The batch is built for throughput: one query loads every stored
project the batch names (locked ``FOR UPDATE`` on PostgreSQL; SQLite's request already holds the
write lock), the rules run in Python, and the writes are one executemany per statement. Only the
database can still refuse something after that (a concurrent batch creating the same
``external_ref``): the repository leaves those rows out (repositories/project_writes.insert_new),
so that only the clashing items become errors and the rest still lands. An item that fails never
leaves a partial row.
"""

import asyncio
from collections.abc import Sequence
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from app.auth import Principal
from app.errors import AppError
from app.models.base import utcnow
from app.repositories import engagements as engagements_repo
from app.repositories import project_writes
from app.repositories import revisions as revisions_repo
from app.schemas.batch import MAX_BATCH
from app.schemas.project import ProjectCreate
from app.services import audit, pilot_membership, revisions, webhooks
from app.services.batch_items import Entry, ItemResult, Locator, parse, raw_ref, summarize
from app.services.batch_plan import LOADED_COLUMNS, Plan

Pending = list[tuple[int, ProjectCreate]]
YIELD_EVERY = 100


async def run_batch(
    session: AsyncSession, principal: Principal, items: Sequence[Any]
) -> dict[str, Any]:
    """Upsert the batch's items; the per-item results and their summary."""
    entries = [Entry(i, None, raw) for i, raw in enumerate(items)]
    results = await upsert(session, principal, entries)
    return {"results": results, "summary": summarize(results)}


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
    locator = Locator(for_import)
    results: list[ItemResult | None] = [None] * len(entries)
    pending = await _admit(entries, locator, set() if seen is None else seen, results)
    plan = await _plan(session, principal, locator, entries, pending, results)
    await project_writes.update_many(session, plan.updates)
    await revisions.add_many(session, plan.revisions)
    await audit.record(session, *plan.steps)
    await webhooks.emit(session, *plan.steps)
    clashed = await _insert(session, plan.inserts, results, entries, locator)
    answered = [r.as_json() for r in results if r is not None]
    if clashed and retry:
        # The concurrent writer's rows held our inserts until it committed, so a second pass finds
        # them stored: those items become updates (or unchanged), as if sent after it.
        again = [entries[p] for p in clashed]
        repeated = await upsert(session, principal, again, for_import=for_import, retry=False)
        for position, result in zip(clashed, repeated, strict=True):
            answered[position] = result
    return answered


async def _admit(
    entries: Sequence[Entry], locator: Locator, seen: set[str], results: list[ItemResult | None]
) -> Pending:
    """The readable items with an external_ref not seen before; the others are answered."""
    pending: Pending = []
    for position, entry in enumerate(entries):
        await _share_the_loop(position)
        parsed = parse(entry, locator)
        if isinstance(parsed, AppError):
            results[position] = ItemResult.refused(entry, raw_ref(entry.raw), parsed)
            continue
        ref = parsed.external_ref
        assert ref is not None  # noqa: S101 - parse refuses items without one
        if ref in seen:
            detail = f"external_ref {ref!r} appears more than once; only its first item is applied."
            duplicate = locator.duplicate(entry, detail, "Repeated.")
            results[position] = ItemResult.refused(entry, ref, duplicate)
            continue
        seen.add(ref)
        pending.append((position, parsed))
    return pending


async def _plan(
    session: AsyncSession,
    principal: Principal,
    locator: Locator,
    entries: Sequence[Entry],
    pending: Pending,
    results: list[ItemResult | None],
) -> Plan:
    """Each admitted item decided against the stored project of its external_ref, if any."""
    assert principal.scope is not None  # noqa: S101 - checked by upsert
    refs = [data.external_ref or "" for _, data in pending]
    existing = await project_writes.lock_by_external_refs(
        session, principal.scope, refs, LOADED_COLUMNS
    )
    # Every pilot an item can name or be given: the stated ones, the key's, the full codes'.
    full = await pilot_membership.full_codes(session)
    named = [data.pilot_id for _, data in pending] + [principal.pilot_id]
    named += [pilot_id for pilot_id, _ in full.rows]
    pilots = await pilot_membership.load(session, named)
    ids = [row["id"] for row in existing.values()]
    recorded = await engagements_repo.financed_totals(session, ids)
    open_revisions = await revisions_repo.open_among(session, ids)
    plan = Plan(principal, locator, utcnow(), pilots, full, open_revisions)
    for count, (position, data) in enumerate(pending):
        await _share_the_loop(count)
        stored = existing.get(data.external_ref or "")
        if stored is None:
            results[position] = plan.create(position, entries[position], data)
        else:
            found = recorded.get(stored["id"])
            results[position] = plan.update(entries[position], data, stored, found)
    return plan


async def _share_the_loop(count: int) -> None:
    # Reading and deciding 1,000 items is most of a second of CPU on a busy machine: let other
    # requests of the process (another region's single create) run every YIELD_EVERY items.
    if count and count % YIELD_EVERY == 0:
        await asyncio.sleep(0)


async def _insert(
    session: AsyncSession,
    inserts: list[tuple[int, dict[str, Any], dict[str, Any]]],
    results: list[ItemResult | None],
    entries: Sequence[Entry],
    locator: Locator,
) -> list[int]:
    """Insert the new projects with their "create" steps, but those whose external_ref was taken.

    Returns the positions whose external_ref a concurrent writer took (now error results).
    """
    rows, steps = [row for _, row, _ in inserts], [step for _, _, step in inserts]
    clashed: list[int] = []
    for index in await project_writes.insert_new(session, rows, steps):
        position, row, _ = inserts[index]
        ref = row["external_ref"]
        detail = f"This region already has a project with external_ref {ref!r}."
        clash = locator.duplicate(entries[position], detail, "Taken.")
        results[position] = ItemResult.refused(entries[position], ref, clash)
        clashed.append(position)
    return clashed
