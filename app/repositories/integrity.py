"""Integrity flags in SQL: the figures the rules compare, and each rule as a WHERE clause for the
list filter ``flag=`` (app/services/integrity.py holds the rules and their thresholds).

Whose projects are checked: an administrator's, every project; a reviewer's, the projects of its
province it sees in full (from submission on: ``flaggable_clause``). The list applies the
caller's ``readable_clause`` besides, as it always does.

``verified_clause`` is the one place where verified monitoring figures come in: a project with at
least one verified monitoring report (the count its verifications keep on the project).
"""

import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Float,
    and_,
    case,
    cast,
    false,
    func,
    not_,
    or_,
    select,
    true,
)
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from app.auth import Principal
from app.models import Project, ProjectStatus, Role
from app.models.flags import CATEGORIES
from app.models.project import has_verified_results
from app.reference.category_industry import industry_fits
from app.repositories.reach import reach_clause

P = Project
LIBRARY = (ProjectStatus.in_library, ProjectStatus.exited)


def stated_tco2e() -> ColumnElement[Any]:
    """A project's stated annual tCO2e: emission reduction plus carbon sink (0 without either)."""
    return func.coalesce(P.annual_emission_reduction_tco2e, 0.0) + func.coalesce(
        P.annual_carbon_sink_tco2e, 0.0
    )


def verified_clause() -> ColumnElement[bool]:
    """Whether a project has a verified monitoring report (MRV): the count the verification
    keeps on the project (app/repositories/monitoring.py)."""
    return has_verified_results()


def flaggable_clause(principal: Principal) -> ColumnElement[bool]:
    """The projects whose flags this caller reads: all for an administrator, for a reviewer those
    of its province from submission on (what it sees in full); none for anyone else."""
    if principal.role is Role.admin:
        return true()
    if principal.role is Role.reviewer:
        return and_(reach_clause(principal), P.status != ProjectStatus.draft)
    return false()


def in_category(code: str) -> ColumnElement[bool]:
    """The primary category is ``code`` (first level) or one of its second-level codes."""
    return or_(P.primary_category == code, P.primary_category.startswith(code + "."))


# ---- the figures the rules compare -------------------------------------------------------------


async def library_intensities(session: AsyncSession) -> list[Any]:
    """(primary_category, stated tCO2e, total investment) of every library project (in_library or
    exited) with a stated mitigation figure and an investment: the distributions outliers are
    judged against."""
    figure = stated_tco2e()
    stmt = select(
        P.primary_category, figure.label("tco2e"), cast(P.total_investment, Float).label("ti")
    ).where(P.status.in_(LIBRARY), figure > 0, P.total_investment > 0)
    return list((await session.execute(stmt)).all())


async def same_owner(
    session: AsyncSession, visible: ColumnElement[bool], project_id: uuid.UUID, owner_uscc: str
) -> list[Any]:
    """The other projects of the same owner USCC (withdrawn ones aside), each with whether it
    meets ``visible`` (the caller's ``readable_clause``: this module cannot import it, as the
    project list imports this one)."""
    stmt = (
        select(
            P.id,
            P.name,
            P.status,
            case((visible, True), else_=False).label("visible"),
        )
        .where(P.owner_uscc == owner_uscc, P.id != project_id, P.status != ProjectStatus.withdrawn)
        .order_by(P.created_at, P.id)
    )
    return list((await session.execute(stmt)).all())


async def same_owner_pairs(session: AsyncSession, principal: Principal) -> list[Any]:
    """(id, name, other name) for each caller-flaggable project and each other project of the
    same owner USCC (withdrawn ones aside): a self-join on the owner code."""
    other = aliased(Project)
    stmt = (
        select(P.id, P.name, other.name.label("other_name"))
        .join(other, and_(other.owner_uscc == P.owner_uscc, other.id != P.id))
        .where(flaggable_clause(principal), other.status != ProjectStatus.withdrawn)
    )
    return list((await session.execute(stmt)).all())


async def is_verified(session: AsyncSession, project_id: uuid.UUID) -> bool:
    stmt = select(P.id).where(P.id == project_id, verified_clause())
    return (await session.execute(stmt)).first() is not None


# ---- the list filter ---------------------------------------------------------------------------


@dataclass(frozen=True)
class FlagBasis:
    """What one flag's WHERE clause needs, computed once per read by the service: the caller
    (whose projects are checked), and per rule its figures."""

    code: str
    principal: Principal
    # benefit_intensity_outlier: first-level category → (low, high) tCO2e per 10,000 CNY
    bounds: Mapping[str, tuple[float, float]] = field(default_factory=dict)
    # likely_duplicate: the flagged projects' ids (name similarity is not SQL)
    ids: frozenset[uuid.UUID] = frozenset()
    # large_unverified_claim: the stated tCO2e a year above which a claim is large
    threshold_tco2e: float = 0.0


def _outlier(bounds: Mapping[str, tuple[float, float]]) -> ColumnElement[bool]:
    figure = stated_tco2e() * 10_000
    investment = cast(P.total_investment, Float)
    per_category = [
        and_(in_category(code), or_(figure > high * investment, figure < low * investment))
        for code, (low, high) in bounds.items()
    ]
    return and_(P.total_investment > 0, stated_tco2e() > 0, or_(false(), *per_category))


def _mismatch() -> ColumnElement[bool]:
    fitting = []
    for code, fit in industry_fits().items():
        has = P.categories_mask.op("&")(CATEGORIES.exact_mask([code])) != 0
        if fit.any_industry:
            fitting.append(has)
        else:
            fitting.append(and_(has, or_(*(P.industry_code.startswith(p) for p in fit.prefixes))))
    return not_(or_(*fitting))


def flag_clause(basis: FlagBasis | None) -> ColumnElement[bool]:
    """The projects that raise the flag, among those whose flags the caller reads; none when
    the service has not resolved the filter (a flag filter never widens a list)."""
    if basis is None:
        return false()
    rules: dict[str, Any] = {
        "benefit_intensity_outlier": lambda: _outlier(basis.bounds),
        "category_industry_mismatch": _mismatch,
        "likely_duplicate": lambda: P.id.in_(basis.ids) if basis.ids else false(),
        "large_unverified_claim": lambda: and_(
            stated_tco2e() > basis.threshold_tco2e, not_(verified_clause())
        ),
    }
    return and_(flaggable_clause(basis.principal), rules[basis.code]())
