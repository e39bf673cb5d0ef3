"""Statistics and the evaluation figures of pilots (定期评估; docs/architecture.md, *Statistics*).

What the public sees: the figures count exactly the projects the caller may read, so
the public and institutions get figures over every project that entered the library
(``in_library`` and ``exited``, split by status and exit reason): counts and sums, never a name,
owner or contact, and nothing about drafts or projects under review. A region key adds its own
projects in every status, a reviewer its province's from submission on, an administrator
everything; the answer's ``coverage`` says which applies.

What each figure means (in full: docs/architecture.md, *Statistics*): a project counts once in every
total; per category under its ``primary_category``, with every listed category in
``category_mentions``; climate benefits leave out exits as cancelled or non-compliant; money, tCO2e
and tce are exact decimals; financing separates offers, signed contracts, disbursed and outstanding
amounts. The measures themselves are one table, ``repo.MEASURES``.

How the public overview stays fast and current: ``PublicFigures`` below.
"""

import asyncio
import time
import uuid
import weakref
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from sqlalchemy import ColumnElement, FromClause
from sqlalchemy.ext.asyncio import AsyncSession

from app.auth import ANONYMOUS, Principal
from app.models import ProjectStatus, Role
from app.models.flags import CATEGORIES
from app.models.pilot import PilotStatus
from app.reference.regions import region_table
from app.reference.taxonomy import category_codes, category_parents, taxonomy
from app.repositories import matching as feed
from app.repositories import stats as repo
from app.repositories.projects import readable_clause
from app.schemas.stats import (
    Coverage,
    Figures,
    GroupFigures,
    OfferFunnel,
    Period,
    PilotEvaluation,
    StatsOverview,
)
from app.services import pilots

_CENT = Decimal("0.01")


def coverage(principal: Principal) -> Coverage:
    """Which projects the caller's figures count (the ones it may read)."""
    if principal.is_admin:
        return Coverage.all
    if (principal.region_prefixes or principal.pilot_id) and principal.role is Role.region:
        return Coverage.library_and_own
    if principal.region_prefixes and principal.role is Role.reviewer:
        return Coverage.library_and_province
    return Coverage.library


_KILOGRAM = Decimal("0.001")


def _money(cents: Any) -> Decimal:
    return (Decimal(int(cents or 0)) / 100).quantize(_CENT)


def _tonnes(kilograms: Any) -> Decimal:
    return (Decimal(int(kilograms or 0)) / 1000).quantize(_KILOGRAM)


_CONVERT = {"count": lambda n: int(n or 0), "cny": _money, "tonnes": _tonnes}


def _values(row: Mapping[Any, Any]) -> dict[str, Any]:
    """Each measure of repo.MEASURES from its summed whole units to the answer's value."""
    get = row.get
    return {m.name: _CONVERT[m.unit](get(m.name)) for m in repo.MEASURES}


def _groups(rows: Any, labels: dict[str, str] | None = None) -> list[GroupFigures]:
    out = []
    for row in rows:
        key = str(row.key)
        out.append(GroupFigures(key=key, label=(labels or {}).get(key), **_values(row._mapping)))
    return out


async def _offer_funnel(
    session: AsyncSession, where: ColumnElement[bool], members: FromClause | None = None
) -> OfferFunnel:
    """The offer funnel over the same counted projects as the other figures."""
    totals, payments, by_reason = await repo.offer_funnel(session, where, members)
    signed = _money(totals.signed_amount)
    disbursed, repaid = _money(payments.disbursed), _money(payments.repaid)
    return OfferFunnel(
        offers=int(totals.offers or 0),
        accepted=int(totals.accepted or 0),
        declined=int(totals.declined or 0),
        financed=int(totals.financed or 0),
        offered_amount=_money(totals.offered_amount),
        signed_amount=signed,
        financed_amount=signed,
        disbursed_amount=disbursed,
        repaid_amount=repaid,
        outstanding_amount=disbursed - repaid,
        not_financed_by_reason={str(row.reason or "unspecified"): int(row.n) for row in by_reason},
    )


def _category_labels() -> dict[str, str]:
    return {c["code"]: c["name_zh"] for c in taxonomy()["categories"]}


async def evaluate_pilot(
    session: AsyncSession, principal: Principal, pilot_id: uuid.UUID, period: Period
) -> PilotEvaluation:
    """Evaluation figures of one pilot from its projects (their pilot_id)."""
    pilot = await pilots.ensure_exists(session, pilot_id)
    where = readable_clause(principal)
    members = repo.pilot_members(pilot.id)
    (totals,) = await repo.figures(session, where, members=members)
    by_status = await repo.figures(session, where, key=repo.P.status, members=members)
    by_period = await repo.figures(
        session, where, key=repo.approval_period(period), members=repo.pilot_members(pilot.id)
    )
    return PilotEvaluation(
        pilot_id=pilot.id,
        pilot_name=pilot.name,
        pilot_status=PilotStatus(pilot.status),
        period=period,
        coverage=coverage(principal),
        totals=Figures(**_values(totals._mapping)),
        by_status=_groups(by_status),
        by_period=_groups(by_period),
        offers=await _offer_funnel(session, where, repo.pilot_members(pilot.id)),
    )


Sums = dict[str, Any]


def _add(into: Sums, row: Mapping[str, Any]) -> None:
    """Add a group's figures to a running total (a NULL sum is an empty group: nothing).

    The groups' sums are whole units (counts, cents, kilograms): integers add exactly."""
    for measure in repo.MEASURES:
        value = row[measure.name]
        if value is not None:
            into[measure.name] = into.get(measure.name, 0) + int(value)


def _rollup(rows: Iterable[Any], dimension: str) -> dict[str, Sums]:
    """Figures per value of one dimension, from groups keyed by several (NULL keys left out)."""
    out: dict[str, Sums] = {}
    for row in rows:
        mapping = row._mapping
        key = mapping[dimension]
        if key is not None:
            _add(out.setdefault(str(key), {}), mapping)
    return out


def _sorted_groups(
    sums: dict[str, Sums], labels: dict[str, str] | None = None
) -> list[GroupFigures]:
    return [
        GroupFigures(key=key, label=(labels or {}).get(key), **_values(sums[key]))
        for key in sorted(sums)
    ]


def _by_province(rows: Iterable[Any]) -> dict[str, Sums]:
    """Figures per province (the code's first two digits) from groups per region code."""
    out: dict[str, Sums] = {}
    for row in rows:
        _add(out.setdefault(row.key[:2], {}), row._mapping)
    return out


def _by_category(rows: Iterable[Any]) -> tuple[dict[str, Sums], dict[str, Sums]]:
    """Figures per first-level category, from groups per (categories mask, primary category):
    each project once under its primary category (a second-level one under its parent: M2.1 counts
    as M2), and once under every first-level category it lists or implies (its mentions)."""
    parents = category_parents()
    first_level = set(category_codes())
    primary: dict[str, Sums] = {}
    mentions: dict[str, Sums] = {}
    for row in rows:
        _add(primary.setdefault(parents.get(row.primary, row.primary), {}), row._mapping)
        for code in CATEGORIES.expand(row.mask):
            if code in first_level:
                _add(mentions.setdefault(code, {}), row._mapping)
    return primary, mentions


def _by_pilot(rows: Iterable[Any]) -> dict[str, Sums]:
    """Figures per pilot from groups per (region code, pilot_id): a project counts for the one
    pilot it belongs to, never by where its code lies."""
    out: dict[str, Sums] = {}
    for row in rows:
        if row.pilot_id is not None:
            _add(out.setdefault(str(row.pilot_id), {}), row._mapping)
    return out


async def overview(session: AsyncSession, principal: Principal, period: Period) -> StatsOverview:
    """The overview the caller may read: the public one from the figures kept current, a key that
    sees more (an administrator, a region, a reviewer) computed on demand."""
    if coverage_is_public(principal):
        return (await public_figures(session).current(session, period)).value
    return await compute_overview(session, principal, period)


async def public_overview_json(session: AsyncSession, period: Period) -> bytes:
    """The public overview as the JSON the route answers, encoded once per recomputation."""
    return (await public_figures(session).current(session, period)).body


def coverage_is_public(principal: Principal) -> bool:
    """Whether the caller reads exactly the public's projects (``readable_clause``'s public
    branch): anonymous callers and institutions."""
    return principal.role not in (Role.admin, Role.region, Role.reviewer)


@dataclass
class _Kept:
    """One period's public overview, the change log's position it reflects, and since when
    (``time.monotonic``) it is known to reflect every committed write."""

    value: StatsOverview
    body: bytes
    """``value`` as JSON, exactly as the route's response model encodes it."""
    position: feed.FeedPosition
    verified_at: float


class PublicFigures:
    """The public overview, kept per process and recomputed only when a counted write happened.

    The change log (``matching_changes``: the matcher's entries plus the ``figures`` entries of
    migration 0020) records, in the writing transaction, every write that can move a public figure.
    A request reads the log past the kept figures' position (one indexed query, at most one row):

    - nothing new: the kept figures reflect every write committed before the request started;
      they are answered as they are, and confirmed current from that moment.
    - something new: one task at a time recomputes (a lock); the others wait for it and get its
      result, unless a recomputation is already under way and the kept figures were confirmed
      current less than ``LAST_VALUE_SECONDS`` before they arrived: those get the kept figures
      without touching the database, which still keeps the rule that a GET starting 1 s or more
      after a write's 2xx reflects it (docs/architecture.md, *Speed and freshness targets*).

    A request that arrives less than ``REUSE_SECONDS`` after the kept figures were last confirmed
    current is answered without reading the log at all: a dashboard polling many times a second
    costs no query. So 32 concurrent readers never each run the aggregate, and a write shows
    within ``REUSE_SECONDS`` (the rule allows a second). The position is read before the
    aggregates, so the figures are at least as new as it.
    """

    REUSE_SECONDS = 0.25
    LAST_VALUE_SECONDS = 0.5

    def __init__(self) -> None:
        self._lock = asyncio.Lock()
        self._kept: dict[Period, _Kept] = {}
        self.recomputed = 0
        """How many times the figures were computed (for tests and the benchmark)."""

    async def current(self, session: AsyncSession, period: Period) -> _Kept:
        """The figures of ``period`` reflecting every write committed before this call."""
        started = time.monotonic()
        kept = self._kept.get(period)
        if kept is not None:
            age = started - kept.verified_at
            if age < self.REUSE_SECONDS or (self._lock.locked() and age < self.LAST_VALUE_SECONDS):
                return kept
            changes = await feed.changes_since(session, kept.position, 0)
            if changes.complete:  # with a limit of 0: nothing at all past the position
                kept.verified_at = max(kept.verified_at, started)
                return kept
        async with self._lock:
            kept = self._kept.get(period)
            if kept is not None and kept.verified_at >= started:
                return kept  # recomputed by another request since this one started
            verified_at = time.monotonic()
            position = (await feed.changes_since(session, None, 0)).position
            value = await compute_overview(session, ANONYMOUS, period)
            body = value.model_dump_json().encode()
            kept = self._kept[period] = _Kept(value, body, position, verified_at)
            self.recomputed += 1
            return kept


_KEPT: "weakref.WeakKeyDictionary[Any, PublicFigures]" = weakref.WeakKeyDictionary()


def public_figures(session: AsyncSession) -> PublicFigures:
    """The kept public figures of the session's database (one per engine and process)."""
    engine = session.get_bind()
    kept = _KEPT.get(engine)
    if kept is None:
        kept = _KEPT[engine] = PublicFigures()
    return kept


async def compute_overview(
    session: AsyncSession, principal: Principal, period: Period
) -> StatsOverview:
    """Counts and sums by status, exit reason, objective, category, province, pilot and period."""
    where = readable_clause(principal)
    grid = await repo.figures_grid(session, where, period)
    by_region = await repo.figures_by_region(session, where)
    by_categories = await repo.figures_by_categories(session, where)
    totals: Sums = {}
    for row in grid:
        _add(totals, row._mapping)
    exits: dict[str, Sums] = {}
    for row in grid:
        if row.status == ProjectStatus.exited:
            _add(exits.setdefault(row.exit_reason or "unspecified", {}), row._mapping)

    province_labels = {r.code[:2]: r.name for r in region_table().provinces() if r.is_current}
    category_labels = _category_labels()
    primary, mentions = _by_category(by_categories)
    # Every pilot appears, with zeros where it has no counted project.
    found = _by_pilot(by_region)
    by_pilot = []
    for pilot_id, name in await repo.pilot_names(session):
        values = _values(found.get(str(pilot_id), {}))
        by_pilot.append(GroupFigures(key=str(pilot_id), label=name, **values))
    return StatsOverview(
        period=period,
        coverage=coverage(principal),
        totals=Figures(**_values(totals)),
        by_status=_sorted_groups(_rollup(grid, "status")),
        by_exit_reason=_sorted_groups(exits),
        by_objective=_sorted_groups(_rollup(grid, "objective")),
        by_category=_category_groups(primary, category_labels),
        category_mentions=_category_groups(mentions, category_labels),
        by_province=_sorted_groups(_by_province(by_region), province_labels),
        by_pilot=by_pilot,
        by_period=_sorted_groups(_rollup(grid, "period")),
        offers=await _offer_funnel(session, where),
    )


def _category_groups(sums: dict[str, Sums], labels: dict[str, str]) -> list[GroupFigures]:
    """Every first-level category in taxonomy order (zeros where none counts), then any other
    stored code."""
    order = list(category_codes()) + sorted(set(sums) - set(category_codes()))
    return [
        GroupFigures(key=code, label=labels.get(code), **_values(sums.get(code, {})))
        for code in order
    ]
