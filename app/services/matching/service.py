"""Matching endpoints' workflows: ranked lists both ways, explanation, preview.

How the matcher stays fresh and where its rules live: docs/architecture.md, *Matching*.
"""

import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from types import SimpleNamespace
from typing import Any

import numpy as np
from pydantic import TypeAdapter
from sqlalchemy.ext.asyncio import AsyncSession

from app.auth import Principal
from app.errors import BadRequest, Forbidden, NotFound, Unauthorized, field_error
from app.models import Product, Project, Role
from app.models.flags import CATEGORIES
from app.repositories import matching as repo
from app.repositories import projects as projects_repo
from app.repositories.pagination import SortKey, decode_cursor, encode_cursor
from app.schemas.common import Page
from app.schemas.matching import (
    ExplanationItem,
    MatchRead,
    PreviewRead,
    PreviewRequest,
    ProductCard,
    ProjectCard,
)
from app.services import products
from app.services.matching.criteria import CONSTRUCTION_CODES, OBJECTIVE_CODES, criteria_of
from app.services.matching.eligibility import eligible_positions, match_all, passes
from app.services.matching.explanation import Explanation, explain, explain_many
from app.services.matching.library import Library
from app.services.matching.scoring import (
    ClimateBest,
    Scored,
    climate_best,
    cursor_of,
    score,
    top,
)
from app.services.matching.store import ProductEntry, Snapshot, store_for
from app.services.product_criteria import check_criteria, criteria_values


def today() -> date:
    return datetime.now(UTC).date()


async def snapshot(session: AsyncSession) -> Snapshot:
    return await store_for(session).current(session)


def _project_card(row: Any) -> ProjectCard:
    return ProjectCard(
        id=row.id,
        name=row.name,
        library_code=row.library_code,
        region_code=row.region_code,
        objective=row.objective,
        categories=CATEGORIES.decode(row.categories_mask),
        construction_status=row.construction_status,
        financing_need=row.financing_need,
        financing_secured=row.financing_secured,
        remaining_need=row.financing_need - row.financing_secured,
        tenor_months=row.tenor_months,
    )


def _product_card(entry: ProductEntry | Product) -> ProductCard:
    return ProductCard(
        id=entry.id,
        name=entry.name,
        type=entry.type,
        institution_id=entry.institution_id,
        rate_min=entry.rate_min,
        rate_max=entry.rate_max,
    )


_EXPLANATION = TypeAdapter(list[ExplanationItem])


def _items(explanation: Explanation) -> list[ExplanationItem]:
    # One validation of the whole list runs in pydantic-core: 4× faster than model_construct
    # item by item, which dominated a ranked page (50 pairs × 15 items).
    return _EXPLANATION.validate_python(explanation.items)


# --- a product's ranked eligible projects -------------------------------------------------------

# Cursor of a ranked list: (score in hundredths, project id hex) of the last item served.
_PRODUCT_SORT = [SortKey(None, kind=int), SortKey(None, kind=str)]


@dataclass(frozen=True)
class ProjectFilters:
    region_code: str | None = None
    category: str | None = None
    objective: str | None = None
    construction_status: str | None = None
    min_score: float | None = None


def _filter(lib: Library, positions: Any, f: ProjectFilters) -> Any:
    keep = np.ones(len(positions), dtype=np.bool_)
    if f.region_code:
        lo = int(f.region_code) * 10 ** (6 - len(f.region_code))
        hi = (int(f.region_code) + 1) * 10 ** (6 - len(f.region_code))
        codes = lib.region[positions]
        keep &= (codes >= lo) & (codes < hi)
    if f.category:
        keep &= (lib.categories[positions] & CATEGORIES.bit(f.category)) != 0
    if f.objective:
        keep &= lib.objective[positions] == OBJECTIVE_CODES[f.objective]
    if f.construction_status:
        keep &= lib.cstatus[positions] == CONSTRUCTION_CODES[f.construction_status]
    return positions[keep]


def _uuid_of_hex(text: str) -> uuid.UUID:
    try:
        return uuid.UUID(hex=text)
    except ValueError as exc:
        raise BadRequest(
            "The cursor is not one this list gave out.",
            code="invalid_cursor",
            errors=[field_error(["query", "cursor"], "invalid_cursor", "Unreadable cursor.")],
        ) from exc


async def _own_product(
    session: AsyncSession, principal: Principal, product_id: uuid.UUID
) -> Product:
    if principal.is_anonymous:
        raise Unauthorized("This operation needs an API key.")
    product = await products.load(session, principal, product_id)
    if not principal.is_admin and principal.institution_id != product.institution_id:
        raise Forbidden("Only the owning institution reads a product's matches.", code="not_owner")
    return product


async def product_matches(
    session: AsyncSession,
    principal: Principal,
    product_id: uuid.UUID,
    *,
    filters: ProjectFilters,
    cursor: str | None,
    limit: int,
    with_explanation: bool,
) -> Page[MatchRead]:
    """The library projects the product accepts, best first (score, then id)."""
    product = await _own_product(session, principal, product_id)
    snap = await snapshot(session)
    lib = snap.library
    criteria = criteria_of(product)
    day = today()
    positions = eligible_positions(lib, criteria, day)
    best = climate_best(lib, positions)
    positions = _filter(lib, positions, filters)
    scored = score(lib, criteria, positions, best)
    if filters.min_score is not None:
        keep = scored.score_centi >= round(filters.min_score * 100)
        scored = Scored(positions=scored.positions[keep], score_centi=scored.score_centi[keep])
    after = None
    if cursor:
        score_centi, project_hex = decode_cursor(cursor, "score", _PRODUCT_SORT)
        after = cursor_of(score_centi, _uuid_of_hex(project_hex))
    chosen = top(lib, scored, after, limit + 1)
    page, more = chosen[:limit], len(chosen) > limit
    ids = [lib.ids[int(scored.positions[i])] for i in page]
    cards = await repo.project_cards(session, ids)
    page_positions = [int(scored.positions[i]) for i in page]
    explanations = (
        explain_many(lib, criteria, page_positions, day, best) if with_explanation else None
    )
    items = [
        MatchRead(
            project_id=pid,
            product_id=product.id,
            eligible=True,
            score=int(scored.score_centi[i]) / 100,
            explanation=_items(explanations[k]) if explanations is not None else [],
            project=_project_card(cards[pid]) if pid in cards else None,
        )
        for k, (i, pid) in enumerate(zip(page, ids, strict=True))
    ]
    next_cursor = None
    if more and page.size:
        last = page[-1]
        next_cursor = encode_cursor("score", [int(scored.score_centi[last]), ids[-1].hex])
    return Page[MatchRead](items=items, next_cursor=next_cursor)


# --- a project's ranked eligible products -------------------------------------------------------


def _climate_best(snap: Snapshot, entry: ProductEntry, day: date) -> ClimateBest:
    cached = snap.climate_best.get(entry.id)
    if cached is None:
        positions = eligible_positions(snap.library, entry.criteria, day)
        cached = snap.climate_best[entry.id] = climate_best(snap.library, positions)
    return cached


def rematch_snapshot(snap: Snapshot, day: date | None = None) -> dict[uuid.UUID, int]:
    """Re-match every active product against the whole library: eligible count per product.

    Also fills each product's climate denominators, so the per-project view answers from memory.
    """
    day = day or today()
    results = match_all(snap.library, [entry.criteria for entry in snap.products], day)
    counts = {}
    for entry, result in zip(snap.products, results, strict=True):
        snap.climate_best[entry.id] = result.climate_best
        counts[entry.id] = result.eligible
    return counts


async def rematch_all(session: AsyncSession) -> dict[uuid.UUID, int]:
    """Recompute everything: reload the library and the active products from the database,
    re-match every product against every project, and serve the result from now on.

    The app's startup runs it, so the first request finds the cache warm. Returns the number of
    eligible projects per active product.
    """
    snap = await store_for(session).rebuild(session)
    return rematch_snapshot(snap)


# Cursor of a project's list: (-score in hundredths, indicative rate_min, product id hex).
_PROJECT_SORT = [SortKey(None, kind=int), SortKey(None, kind=Decimal), SortKey(None, kind=str)]
_NO_RATE = Decimal("1000")  # products without an indicative rate sort after those with one


async def project_matches(
    session: AsyncSession,
    principal: Principal,
    project_id: uuid.UUID,
    *,
    cursor: str | None,
    limit: int,
) -> Page[MatchRead]:
    """The active products that accept the project, best first (score, lower rate, id)."""
    if principal.is_anonymous:
        raise Unauthorized("This operation needs an API key.")
    await _project_for_matches(session, principal, project_id)
    snap = await snapshot(session)
    after = tuple(decode_cursor(cursor, "score_rate", _PROJECT_SORT)) if cursor else None
    position = snap.library.position.get(project_id)
    if position is None:
        return Page[MatchRead](items=[])
    day = today()
    found: list[tuple[tuple[int, Decimal, str], ProductEntry, Explanation]] = []
    for entry in snap.products:
        if not entry.criteria.is_valid_on(day):
            continue
        if not passes(snap.library, entry.criteria, position, day):
            continue
        explanation = explain(
            snap.library,
            entry.criteria,
            position,
            day,
            best=_climate_best(snap, entry, day),
        )
        score_centi = round((explanation.score or 0.0) * 100)
        rate = entry.rate_min if entry.rate_min is not None else _NO_RATE
        key = (-score_centi, rate, entry.id.hex)
        if after is None or key > after:
            found.append((key, entry, explanation))
    found.sort(key=lambda t: t[0])
    items = [
        MatchRead(
            project_id=project_id,
            product_id=entry.id,
            eligible=True,
            score=explanation.score,
            explanation=_items(explanation),
            product=_product_card(entry),
        )
        for _key, entry, explanation in found[:limit]
    ]
    more = len(found) > limit
    next_cursor = encode_cursor("score_rate", list(found[limit - 1][0])) if more else None
    return Page[MatchRead](items=items, next_cursor=next_cursor)


# --- one pair, explained ------------------------------------------------------------------------


async def _project_for_matches(
    session: AsyncSession, principal: Principal, project_id: uuid.UUID
) -> Project:
    """The project whose matches the caller asks for: the owning region, admin or the province's
    reviewer. Visibility is the project repository's: invisible → 404; visible to the caller
    but not theirs (a library project seen as the public sees it) → 403."""
    project = await projects_repo.get_readable(session, principal, project_id)
    if project is None:
        raise NotFound("No project with that id.", code="project_not_found")
    if not projects_repo.can_see_full(
        principal, project.region_code, project.pilot_id, project.status
    ):
        raise Forbidden(
            "Only the owning region, its province's reviewer and the administrator read a "
            "project's matches.",
            code="not_owner",
        )
    return project


async def explain_pair(
    session: AsyncSession, principal: Principal, project_id: uuid.UUID, product_id: uuid.UUID
) -> MatchRead:
    """Why a pair matches or not: every criterion, the values compared, the points."""
    if principal.is_anonymous:
        raise Unauthorized("This operation needs an API key.")
    product = await products.load(session, principal, product_id)
    if principal.role is Role.institution:
        if principal.institution_id != product.institution_id:
            raise Forbidden("Only the owning institution explains its product.", code="not_owner")
        # An institution reads library projects as the public does.
        if await projects_repo.get_readable(session, principal, project_id) is None:
            raise NotFound("No project with that id.", code="project_not_found")
    else:
        await _project_for_matches(session, principal, project_id)
    snap = await snapshot(session)
    criteria = criteria_of(product)
    day = today()
    position = snap.library.position.get(project_id)
    if position is not None:
        explanation = explain(snap.library, criteria, position, day)
        items = _items(explanation)
    else:
        found = await repo.project_row(session, project_id)
        if found is None:
            raise NotFound("No project with that id.", code="project_not_found")
        project, row = found
        explanation = explain(Library.build([row]), criteria, 0, day)
        items = [
            ExplanationItem(
                criterion="project_in_library",
                passed=False,
                detail=f"project status {project.status}; only library projects are matched",
                points=None,
            ),
            *[i for i in _items(explanation) if i.points is None],
        ]
        explanation = Explanation(eligible=False, score=None, items=[])
    cards = await repo.project_cards(session, [project_id])
    return MatchRead(
        project_id=project_id,
        product_id=product.id,
        eligible=explanation.eligible,
        score=explanation.score,
        explanation=items,
        project=_project_card(cards[project_id]),
        product=_product_card(product),
    )


# --- preview of unsaved criteria ----------------------------------------------------------------


async def preview(session: AsyncSession, principal: Principal, body: PreviewRequest) -> PreviewRead:
    """How many library projects unsaved criteria admit, and the best of them."""
    values = criteria_values(body, set(body.model_fields_set) - {"limit"})
    check_criteria(values)
    draft = SimpleNamespace(
        **{
            "type": body.type,
            "status": "active",
            "valid_from": None,
            "valid_to": None,
            "objectives": None,
            "categories": None,
            "gfc_codes": None,
            "region_prefixes": None,
            "construction_statuses": None,
            "amount_min": None,
            "amount_max": None,
            "tenor_min_months": None,
            "tenor_max_months": None,
            "min_emission_reduction_tco2e": None,
            "requires_verification": False,
            "requires_verified_results": False,
            "accepts_two_high_transition": True,
            "weights": None,
            **values,
        }
    )
    criteria = criteria_of(draft, is_active=True)
    snap = await snapshot(session)
    lib = snap.library
    day = today()
    positions = eligible_positions(lib, criteria, day)
    best = climate_best(lib, positions)
    scored = score(lib, criteria, positions, best)
    chosen = top(lib, scored, None, body.limit)
    ids = [lib.ids[int(scored.positions[i])] for i in chosen]
    cards = await repo.project_cards(session, ids)
    explanations = explain_many(
        lib, criteria, [int(scored.positions[i]) for i in chosen], day, best
    )
    items = [
        MatchRead(
            project_id=pid,
            product_id=None,
            eligible=True,
            score=int(scored.score_centi[i]) / 100,
            explanation=_items(explanation),
            project=_project_card(cards[pid]) if pid in cards else None,
        )
        for i, pid, explanation in zip(chosen, ids, explanations, strict=True)
    ]
    return PreviewRead(count=len(positions), items=items)
