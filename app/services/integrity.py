"""Integrity flags: hints for reviewers and administrators that a project's figures
or identity deserve a second look. A flag refuses nothing; it names its rule and the figures it
compared. The rules, each with a stable code:

- ``benefit_intensity_outlier``: the project's stated tCO2e a year per 10,000 CNY of total
  investment lies far outside its primary category's distribution among library projects
  (in_library or exited, with a stated figure). On the logarithm of the intensity, with the
  category's median and median absolute deviation (MAD), the robust z-score is
  0.6745 × (x − median) / MAD; the flag needs |z| > 5 *and* an intensity at least three times
  above or below the median (so a tightly grouped category does not flag small differences):
  the bounds are median ± max(5 × MAD / 0.6745, ln 3). A category with fewer than 10 library
  projects is not judged. Categories are the primary one at the first level (M2.1 under M2).
- ``category_industry_mismatch``: none of the project's categories fits its GB/T 4754 industry
  by the table in app/reference/category_industry.json.
- ``likely_duplicate``: another project (not withdrawn) of the same owner USCC whose name is at
  least 0.8 similar (difflib's SequenceMatcher ratio on the names casefolded, whitespace
  removed). The other project is named only when the caller may see it, otherwise counted.
- ``large_unverified_claim``: stated annual tCO2e (emission reduction + carbon sink) above
  1,000,000 with no verified monitoring report (``verified_clause`` in
  app/repositories/integrity.py, the one place that says what verified means here).

Who reads them: administrators for every project, a reviewer for the projects of its province
it sees in full (from submission on); other keys 403, no key 401. ``GET /projects?flag=<code>``
lists the visible projects that raise one flag, for the same callers and with the same 403
(``integrity_for_reviewers``) for others: the rules are computed per request, the outlier
distributions once per request, duplicates by a self-join on the owner code.
"""

import math
import statistics
import uuid
from collections import defaultdict
from dataclasses import dataclass, replace
from difflib import SequenceMatcher
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from app.auth import Principal
from app.errors import Forbidden, NotFound, Unauthorized
from app.models import Project, Role
from app.models.flags import CATEGORIES
from app.models.project_query import ProjectFilters
from app.reference.category_industry import industry_fits
from app.repositories import integrity as repo
from app.repositories import projects as projects_repo
from app.schemas.integrity import FlagCode, IntegrityFlag, IntegrityReport

OUTLIER_Z = 5.0
OUTLIER_MIN_FACTOR = 3.0
OUTLIER_MIN_PROJECTS = 10
MAD_TO_SIGMA = 0.6745  # a normal distribution's MAD in standard deviations
DUPLICATE_SIMILARITY = 0.8
LARGE_CLAIM_TCO2E = 1_000_000.0

RULES: dict[FlagCode, str] = {
    FlagCode.benefit_intensity_outlier: (
        "Stated tCO2e a year per 10,000 CNY of total investment far outside the primary "
        f"category's distribution among library projects: robust z-score of its logarithm "
        f"(median, MAD) beyond ±{OUTLIER_Z:g} and at least {OUTLIER_MIN_FACTOR:g} times above or "
        f"below the median; categories with {OUTLIER_MIN_PROJECTS} library projects or more."
    ),
    FlagCode.category_industry_mismatch: (
        "None of the project's categories fits its GB/T 4754 industry (the category–industry "
        "table of the reference data)."
    ),
    FlagCode.likely_duplicate: (
        "Another project (not withdrawn) of the same owner USCC with a name similarity of at "
        f"least {DUPLICATE_SIMILARITY:g}."
    ),
    FlagCode.large_unverified_claim: (
        f"Stated emission reduction plus carbon sink above {LARGE_CLAIM_TCO2E:,.0f} tCO2e a year "
        "with no verified monitoring report."
    ),
}


def ensure_reviewer_or_admin(principal: Principal) -> None:
    if principal.is_anonymous:
        raise Unauthorized("Integrity flags need an API key.")
    if principal.role not in (Role.admin, Role.reviewer):
        raise Forbidden(
            "Integrity flags are for reviewers and administrators.",
            code="integrity_for_reviewers",
        )


# ---- the rules' figures ------------------------------------------------------------------------


@dataclass(frozen=True)
class CategoryStats:
    """The distribution of log intensity in one category, and the bounds a project must keep."""

    category: str
    projects: int
    median: float
    mad: float

    @property
    def spread(self) -> float:
        return max(OUTLIER_Z * self.mad / MAD_TO_SIGMA, math.log(OUTLIER_MIN_FACTOR))

    @property
    def low(self) -> float:
        return math.exp(self.median - self.spread)

    @property
    def high(self) -> float:
        return math.exp(self.median + self.spread)


def first_level(category: str) -> str:
    return category.split(".")[0]


def intensity(tco2e: float, total_investment: float) -> float:
    """tCO2e a year per 10,000 CNY (万元) of total investment."""
    return tco2e * 10_000 / total_investment


async def category_stats(session: AsyncSession) -> dict[str, CategoryStats]:
    """Per first-level category with enough library projects, its log-intensity distribution."""
    logs: dict[str, list[float]] = defaultdict(list)
    for row in await repo.library_intensities(session):
        logs[first_level(row.primary_category)].append(
            math.log(intensity(float(row.tco2e), float(row.ti)))
        )
    out = {}
    for category, values in logs.items():
        if len(values) < OUTLIER_MIN_PROJECTS:
            continue
        median = statistics.median(values)
        mad = statistics.median(abs(v - median) for v in values)
        out[category] = CategoryStats(category, len(values), median, mad)
    return out


def similarity(a: str, b: str) -> float:
    """How alike two names are, 0 to 1: difflib's ratio, casefolded, whitespace removed."""
    return SequenceMatcher(None, _plain(a), _plain(b)).ratio()


def is_similar(a: str, b: str) -> bool:
    """Whether two names are at least ``DUPLICATE_SIMILARITY`` alike. difflib's cheap upper
    bounds of the ratio go first: most pairs of one owner's projects fail them, and the list's
    self-join may hand over many pairs for an owner with many projects."""
    matcher = SequenceMatcher(None, _plain(a), _plain(b))
    return (
        matcher.real_quick_ratio() >= DUPLICATE_SIMILARITY
        and matcher.quick_ratio() >= DUPLICATE_SIMILARITY
        and matcher.ratio() >= DUPLICATE_SIMILARITY
    )


def _plain(name: str) -> str:
    return "".join(name.casefold().split())


def _stated(project: Project) -> float:
    return (project.annual_emission_reduction_tco2e or 0.0) + (
        project.annual_carbon_sink_tco2e or 0.0
    )


def _flag(code: FlagCode, **figures: Any) -> IntegrityFlag:
    return IntegrityFlag(code=code, rule=RULES[code], figures=figures)


def _outlier(
    project: Project, stats: dict[str, CategoryStats]
) -> tuple[bool, IntegrityFlag | None]:
    """Whether the rule can judge the project (a mitigation figure, an investment, a category
    with enough library projects), and the flag if it raises it."""
    tco2e, investment = _stated(project), float(project.total_investment)
    category = first_level(project.primary_category)
    if tco2e <= 0 or investment <= 0 or category not in stats:
        return False, None
    s = stats[category]
    value = intensity(tco2e, investment)
    if s.low <= value <= s.high:
        return True, None
    z = math.inf if s.mad == 0 else MAD_TO_SIGMA * (math.log(value) - s.median) / s.mad
    return True, _flag(
        FlagCode.benefit_intensity_outlier,
        intensity_tco2e_per_10k_cny=f"{value:.6g}",
        category=category,
        library_projects=s.projects,
        category_median=f"{math.exp(s.median):.6g}",
        mad_log=f"{s.mad:.4f}",
        robust_z="inf" if math.isinf(z) else f"{z:.2f}",
        low=f"{s.low:.6g}",
        high=f"{s.high:.6g}",
    )


def _mismatch(project: Project) -> IntegrityFlag | None:
    fits = industry_fits()
    codes = CATEGORIES.decode(project.categories_mask)
    firsts = sorted({first_level(c) for c in codes} & fits.keys())
    if any(fits[c].fits(project.industry_code) for c in firsts):
        return None
    return _flag(
        FlagCode.category_industry_mismatch,
        categories=project.categories,
        industry_code=project.industry_code,
        fitting_industries={c: list(fits[c].prefixes) for c in firsts},
    )


async def _duplicate(
    session: AsyncSession, principal: Principal, project: Project
) -> IntegrityFlag | None:
    others = await repo.same_owner(
        session, projects_repo.readable_clause(principal), project.id, project.owner_uscc
    )
    alike = [
        (o, similarity(project.name, o.name)) for o in others if is_similar(project.name, o.name)
    ]
    if not alike:
        return None
    return _flag(
        FlagCode.likely_duplicate,
        owner_uscc=project.owner_uscc,
        similarity_threshold=f"{DUPLICATE_SIMILARITY:.2f}",
        duplicates=[
            {"project_id": str(o.id), "name": o.name, "status": o.status, "similarity": f"{s:.2f}"}
            for o, s in alike
            if o.visible
        ],
        hidden_duplicates=sum(1 for o, _ in alike if not o.visible),
    )


async def _large_claim(session: AsyncSession, project: Project) -> IntegrityFlag | None:
    stated = _stated(project)
    if stated <= LARGE_CLAIM_TCO2E or await repo.is_verified(session, project.id):
        return None
    return _flag(
        FlagCode.large_unverified_claim,
        stated_annual_tco2e=f"{stated:.3f}",
        threshold_tco2e=f"{LARGE_CLAIM_TCO2E:.0f}",
        has_verified_report=False,
    )


async def project_flags(
    session: AsyncSession, principal: Principal, project_id: uuid.UUID
) -> IntegrityReport:
    """The integrity flags of one project (reviewers of its province, administrators)."""
    ensure_reviewer_or_admin(principal)
    project = await projects_repo.get_readable(session, principal, project_id)
    if project is None:
        raise NotFound("No project with that id.", code="project_not_found")
    if not projects_repo.can_see_full(
        principal, project.region_code, project.pilot_id, project.status
    ):
        raise Forbidden(
            "A reviewer reads the integrity flags of its own province's projects.",
            code="integrity_for_reviewers",
        )
    judged, outlier = _outlier(project, await category_stats(session))
    results = [
        outlier,
        _mismatch(project),
        await _duplicate(session, principal, project),
        await _large_claim(session, project),
    ]
    checked = [
        code for code in FlagCode if judged or code is not FlagCode.benefit_intensity_outlier
    ]
    flags = [f for f in results if f is not None]
    return IntegrityReport(project_id=project.id, flags=flags, checked=checked)


# ---- the list filter ---------------------------------------------------------------------------


async def resolve_filter(
    session: AsyncSession, principal: Principal, filters: ProjectFilters
) -> ProjectFilters:
    """The list's filters with what a ``flag`` filter's SQL needs (401/403 for callers who may not
    read flags); unchanged without one, or when already resolved (a later page of an export)."""
    if filters.flag is None or filters.flag_basis is not None:
        return filters
    ensure_reviewer_or_admin(principal)
    code = FlagCode(filters.flag)
    basis = repo.FlagBasis(code=code.value, principal=principal)
    if code is FlagCode.benefit_intensity_outlier:
        stats = await category_stats(session)
        basis = replace(basis, bounds={c: (s.low, s.high) for c, s in stats.items()})
    elif code is FlagCode.likely_duplicate:
        pairs = await repo.same_owner_pairs(session, principal)
        ids = {p.id for p in pairs if is_similar(p.name, p.other_name)}
        basis = replace(basis, ids=frozenset(ids))
    elif code is FlagCode.large_unverified_claim:
        basis = replace(basis, threshold_tco2e=LARGE_CLAIM_TCO2E)
    return replace(filters, flag_basis=basis)
