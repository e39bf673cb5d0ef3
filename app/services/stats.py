"""Statistics and the evaluation figures of pilots (定期评估; docs/architecture.md, *Statistics*).

What the public sees: the figures count exactly the projects the caller may read, so
the public and institutions get figures over ``in_library`` projects only: counts and sums, never a
name, owner or contact, and nothing about drafts or projects under review. A region key adds its
own projects in every status, a reviewer its province's from submission on, an administrator
everything; the answer's ``coverage`` says which applies.
"""

import uuid
from collections.abc import Iterable, Mapping
from decimal import Decimal
from typing import Any

from sqlalchemy import ColumnElement, FromClause
from sqlalchemy.ext.asyncio import AsyncSession

from app.auth import Principal
from app.models import Role
from app.models.flags import CATEGORIES
from app.models.pilot import PilotStatus
from app.reference.regions import region_table
from app.reference.taxonomy import taxonomy
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


def _money(cents: Any) -> Decimal:
    return (Decimal(str(cents or 0)) / 100).quantize(_CENT)


def _values(row: Mapping[Any, Any]) -> dict[str, Any]:
    get = row.get
    return {
        "projects": int(get("projects") or 0),
        "total_investment": _money(get("total_investment")),
        "financing_need": _money(get("financing_need")),
        "financing_secured": _money(get("financing_secured")),
        "annual_emission_reduction_tco2e": float(get("annual_emission_reduction_tco2e") or 0),
        "annual_carbon_sink_tco2e": float(get("annual_carbon_sink_tco2e") or 0),
        "annual_energy_saving_tce": float(get("annual_energy_saving_tce") or 0),
    }


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
    totals, by_reason = await repo.offer_funnel(session, where, members)
    return OfferFunnel(
        offers=int(totals.offers or 0),
        accepted=int(totals.accepted or 0),
        declined=int(totals.declined or 0),
        financed=int(totals.financed or 0),
        offered_amount=_money(totals.offered_amount),
        financed_amount=_money(totals.financed_amount),
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
    """Add a group's figures to a running total (a NULL sum is an empty group: nothing)."""
    for measure in repo.MEASURES:
        value = row[measure]
        if value is not None:
            into[measure] = into.get(measure, 0) + value


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


def _by_category(rows: Iterable[Any]) -> dict[str, Sums]:
    """Figures per category from groups per categories mask: a project counts in each of its."""
    out: dict[str, Sums] = {code: {} for code in CATEGORIES.codes}
    for row in rows:
        for code in CATEGORIES.decode(row.key):
            _add(out[code], row._mapping)
    return out


def _by_pilot(rows: Iterable[Any]) -> dict[str, Sums]:
    """Figures per pilot from groups per (region code, pilot_id): a project counts for the one
    pilot it belongs to, never by where its code lies."""
    out: dict[str, Sums] = {}
    for row in rows:
        if row.pilot_id is not None:
            _add(out.setdefault(str(row.pilot_id), {}), row._mapping)
    return out


async def overview(session: AsyncSession, principal: Principal, period: Period) -> StatsOverview:
    """Counts and sums by status, objective, category, province, pilot and period of approval."""
    where = readable_clause(principal)
    grid = await repo.figures_grid(session, where, period)
    by_region = await repo.figures_by_region(session, where)
    by_mask = await repo.figures_by_categories_mask(session, where)
    totals: Sums = {}
    for row in grid:
        _add(totals, row._mapping)

    province_labels = {r.code[:2]: r.name for r in region_table().provinces() if r.is_current}
    category_labels = _category_labels()
    categories = _by_category(by_mask)
    by_category = [
        GroupFigures(key=code, label=category_labels.get(code), **_values(categories[code]))
        for code in CATEGORIES.codes
    ]
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
        by_objective=_sorted_groups(_rollup(grid, "objective")),
        by_category=by_category,
        by_province=_sorted_groups(_by_province(by_region), province_labels),
        by_pilot=by_pilot,
        by_period=_sorted_groups(_rollup(grid, "period")),
        offers=await _offer_funnel(session, where),
    )
