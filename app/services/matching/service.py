"""Matching endpoints' workflows: ranked lists both ways, explanation, preview.

How the matcher stays fresh and where its rules live: docs/architecture.md, *Matching*.
"""

import bisect
import functools
import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from types import SimpleNamespace
from typing import Any

import numpy as np
from numpy.typing import NDArray
from pydantic import TypeAdapter
from sqlalchemy.ext.asyncio import AsyncSession

from app.auth import Principal
from app.errors import BadRequest, Forbidden, NotFound, Unauthorized, field_error
from app.models import Product, Project, Role
from app.models.flags import CATEGORIES
from app.repositories import matching as repo
from app.repositories import projects as projects_repo
from app.repositories.pagination import SortKey, decode_cursor, encode_cursor
from app.schemas.common import money_str
from app.schemas.matching import (
    ExplanationItem,
    MatchRead,
    PreviewRead,
    PreviewRequest,
    ProductCard,
    ProjectCard,
)
from app.services import products
from app.services.matching.criteria import (
    CONSTRUCTION_CODES,
    OBJECTIVE_CODES,
    Criteria,
    criteria_of,
)
from app.services.matching.eligibility import (
    accepting,
    eligible_positions,
    eligible_slots,
    match_all,
)
from app.services.matching.explanation import (
    Explanation,
    explain,
    explain_accepted,
    explain_eligible,
    explain_many,
)
from app.services.matching.library import Columns, Library
from app.services.matching.readonly import ReadOnlyItem
from app.services.matching.scoring import (
    Bests,
    ClimateBest,
    Cursor,
    Scored,
    climate_best,
    cursor_of,
    score,
    score_bounded,
    score_products,
    top,
)
from app.services.matching.store import ProductEntry, Snapshot, Tiebreak, gc_paused, store_for
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


@functools.lru_cache(maxsize=4096)
def _categories_json(mask: int) -> tuple[str, ...]:
    # A page's projects repeat a few category masks; orjson writes the tuple as the list.
    return tuple(CATEGORIES.decode(mask))


def _project_card_json(row: Any) -> dict[str, Any]:
    """``_project_card`` as the JSON the response model writes (a ranked list's hot path)."""
    return {
        "id": str(row.id),
        "name": row.name,
        "library_code": row.library_code,
        "region_code": row.region_code,
        "objective": row.objective,
        "categories": _categories_json(row.categories_mask),
        "construction_status": row.construction_status,
        "financing_need": money_str(row.financing_need),
        "financing_secured": money_str(row.financing_secured),
        "remaining_need": money_str(row.financing_need - row.financing_secured),
        "tenor_months": row.tenor_months,
    }


def _rate(value: Decimal | None) -> str | None:
    return None if value is None else f"{value:.3f}"


def _product_card_json(entry: ProductEntry) -> dict[str, Any]:
    """``_product_card`` as the JSON the response model writes, built once per product version
    (every project's page listing the product shares it, so it refuses changes)."""
    card: dict[str, Any] | None = entry.memo.get("card")
    if card is None:
        card = entry.memo["card"] = ReadOnlyItem(_product_card_values(entry))
    return card


def _product_card_values(entry: ProductEntry) -> dict[str, Any]:
    return {
        "id": str(entry.id),
        "name": entry.name,
        "type": str(entry.type),
        "institution_id": str(entry.institution_id),
        "rate_min": _rate(entry.rate_min),
        "rate_max": _rate(entry.rate_max),
    }


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


def _filter(lib: Columns, positions: Any, f: ProjectFilters) -> Any:
    if not (f.region_code or f.category or f.objective or f.construction_status):
        return positions
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
) -> dict[str, Any]:
    """The library projects the product accepts, best first (score, then id): a page of
    ``MatchRead`` as plain JSON values (the route encodes them; a test holds them to the model).
    """
    product = await _own_product(session, principal, product_id)
    snap = await snapshot(session)
    lib = snap.library
    after = None
    if cursor:
        score_centi, project_hex = decode_cursor(cursor, "score", _PRODUCT_SORT)
        after = cursor_of(score_centi, _uuid_of_hex(project_hex))
    day = today()
    criteria, best = kept_product(snap, product.id, criteria_of(product), day)
    ranked = ranked_projects(lib, criteria, filters, after, limit, day, with_explanation, best=best)
    ids, more, explanations = ranked.ids, ranked.more, ranked.explanations
    cards = await repo.project_cards(session, ids)
    product_id_text = str(product.id)
    items = [
        {
            "project_id": str(pid),
            "product_id": product_id_text,
            "eligible": True,
            "score": score_centi / 100,
            "explanation": explanations[k].items if explanations is not None else [],
            "project": _project_card_json(cards[pid]) if pid in cards else None,
            "product": None,
        }
        for k, (score_centi, pid) in enumerate(zip(ranked.scores_centi, ids, strict=True))
    ]
    next_cursor = None
    if more and ids:
        next_cursor = encode_cursor("score", [ranked.scores_centi[-1], ids[-1].hex])
    return {"items": items, "next_cursor": next_cursor}


@dataclass(frozen=True)
class RankedProjects:
    """One page of a product's ranked projects, from the matcher's memory alone."""

    ids: list[uuid.UUID]
    scores_centi: list[int]
    explanations: list[Explanation] | None
    more: bool


def ranked_projects(
    lib: Library,
    criteria: Criteria,
    filters: ProjectFilters,
    after: Cursor | None,
    limit: int,
    day: date,
    with_explanation: bool = True,
    best: ClimateBest | None = None,
) -> RankedProjects:
    """The page after ``after`` of the projects ``criteria`` accept, best first (score, id).

    ``best``: the product's climate denominators when the caller has them (``kept_product``);
    otherwise they are computed over its eligible projects, which is what they are."""
    # Ranked over the region index's slots and its region-ordered columns: a product's
    # candidates are a few contiguous runs there, so the gathers stay within them (at 10^6
    # projects their positions are spread over the whole library), and the positions need no
    # sort (the order is by score and id). Only the page is mapped back to positions.
    index = lib.index
    cols = index.columns
    slots = eligible_slots(lib, criteria, day)
    if best is None:
        best = climate_best(cols, slots)
    slots = _filter(cols, slots, filters)
    # Only the candidates that can reach the page are scored in full (``score_bounded``).
    scored = score_bounded(cols, criteria, slots, best, after, limit + 1)
    if filters.min_score is not None:
        keep = scored.score_centi >= round(filters.min_score * 100)
        scored = Scored(positions=scored.positions[keep], score_centi=scored.score_centi[keep])
    chosen = top(cols, scored, after, limit + 1)
    page = chosen[:limit]
    page_positions = [int(index.order[scored.positions[i]]) for i in page]
    explanations = (
        explain_eligible(lib, criteria, page_positions, day, best) if with_explanation else None
    )
    return RankedProjects(
        ids=[lib.ids[i] for i in page_positions],
        scores_centi=[int(scored.score_centi[i]) for i in page],
        explanations=explanations,
        more=len(chosen) > limit,
    )


def kept_product(
    snap: Snapshot, product_id: uuid.UUID, criteria: Criteria, day: date
) -> tuple[Criteria, ClimateBest | None]:
    """What ``snap`` keeps of a product for its ranked page: its own criteria object when it
    equals ``criteria`` (what was derived from it, such as its explanation's texts, is kept with
    it; a request's fresh one would derive them again), and the climate denominators it keeps
    for a project's page (filled by the re-match, else by ``_climate_bests``), so the page does
    not take their maximum over the eligible projects again (at 10^6 projects it grew with the
    library). ``criteria`` and None when the snapshot holds other criteria for the product (it
    was read before or after the row the request loaded) or the product is not offered on
    ``day`` (the memo holds only offered products' figures)."""
    k = snap.product_position(product_id)
    if k is None:
        return criteria, None
    kept = snap.products[k].criteria
    if kept is not criteria and kept != criteria:
        return criteria, None
    if not kept.is_valid_on(day):
        return kept, None
    bests = _climate_bests(snap, np.array([k], dtype=np.intp), day)
    return kept, ClimateBest(float(bests.mitigation[0]), float(bests.adaptation[0]))


# --- a project's ranked eligible products -------------------------------------------------------


def _climate_bests(snap: Snapshot, products: NDArray[np.intp], day: date) -> Bests:
    """The climate denominators of some catalogue products offered on ``day``, as columns,
    memoised per snapshot (NaN: not known yet)."""
    if snap.bests is None:
        n = len(snap.products)
        snap.bests = (np.full(n, np.nan), np.full(n, np.nan))
    mitigation, adaptation = snap.bests
    for k in products[np.isnan(mitigation[products])]:
        positions = eligible_positions(snap.library, snap.products[int(k)].criteria, day)
        best = climate_best(snap.library, positions)
        mitigation[k], adaptation[k] = best.mitigation, best.adaptation
    return Bests(products, mitigation[products], adaptation[products])


def rematch_snapshot(snap: Snapshot, day: date | None = None) -> dict[uuid.UUID, int]:
    """Re-match every active product against the whole library: eligible count per product.

    Also fills the climate denominators of the products offered on ``day``, so the per-project
    view answers from memory. A product not offered that day accepts nothing, so its
    denominators came out 0; they are left unknown instead (filled on first use), since the day
    it is offered they are those of its eligible projects. The memo needs no day: eligibility
    reads the day only through the product's validity (``Criteria.is_valid_on``), so an offered
    product's denominators are the same on every day it is offered, and only an offered product
    is ever scored.
    """
    day = day or today()
    # no cycles are made; a collection over the library's million objects would cost more
    with gc_paused():
        results = match_all(snap.library, [entry.criteria for entry in snap.products], day)
    offered = np.array([entry.criteria.is_valid_on(day) for entry in snap.products], dtype=bool)
    counts = {
        entry.id: result.eligible for entry, result in zip(snap.products, results, strict=True)
    }
    mitigation = np.array([r.climate_best.mitigation for r in results], dtype=np.float64)
    adaptation = np.array([r.climate_best.adaptation for r in results], dtype=np.float64)
    mitigation[~offered] = adaptation[~offered] = np.nan
    snap.bests = (mitigation, adaptation)
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


async def project_matches(
    session: AsyncSession,
    principal: Principal,
    project_id: uuid.UUID,
    *,
    cursor: str | None,
    limit: int,
) -> dict[str, Any]:
    """The active products that accept the project, best first (score, lower rate, id): a page
    of ``MatchRead`` as plain JSON values, like ``product_matches``."""
    if principal.is_anonymous:
        raise Unauthorized("This operation needs an API key.")
    await _project_for_matches(session, principal, project_id)
    snap = await snapshot(session)
    after = tuple(decode_cursor(cursor, "score_rate", _PROJECT_SORT)) if cursor else None
    position = snap.library.position.get(project_id)
    if position is None:
        return {"items": [], "next_cursor": None}
    page, more = ranked_products(snap, position, after, limit, today())
    project_id_text = str(project_id)
    items = [
        {
            "project_id": project_id_text,
            "product_id": str(entry.id),
            "eligible": True,
            "score": explanation.score,
            "explanation": explanation.items,
            "project": None,
            "product": _product_card_json(entry),
        }
        for _key, entry, explanation in page
    ]
    next_cursor = encode_cursor("score_rate", list(page[-1][0])) if more else None
    return {"items": items, "next_cursor": next_cursor}


ProductKey = tuple[int, Decimal, str]
"""A project's list order: (-score in hundredths, indicative rate_min, product id hex)."""


def ranked_products(
    snap: Snapshot, position: int, after: Any, limit: int, day: date
) -> tuple[list[tuple[ProductKey, ProductEntry, Explanation]], bool]:
    """The page after ``after`` of the products that accept the project at ``position``, best
    first, each explained; and whether more follow."""
    lib = snap.library
    # Score every accepting product at once over the catalogue's columns (the same points as
    # ``score``), rank, and explain only the page: with 20,000 products a project has
    # thousands of eligible ones.
    bests = _climate_bests(snap, accepting(snap.catalogue, lib, position, day), day)
    neg = -score_products(snap.catalogue, lib, position, bests)
    # The order is (-score, rate, id): (rate, id) is a rank per product kept per snapshot, so
    # the page is chosen and ordered in numpy, and only its keys are built in Python.
    tiebreak = snap.tiebreak or Tiebreak.build(snap.products)
    rank = tiebreak.rank[bests.products]
    if after is None:
        chosen = np.arange(len(neg))
    else:
        # after the cursor: a lower score, or the same score and a later (rate, id)
        later = bisect.bisect_right(tiebreak.keys, (after[1], after[2]))
        chosen = np.flatnonzero((neg > after[0]) | ((neg == after[0]) & (rank >= later)))
    # (-score, rank) as one number (ranks are below the catalogue's size, so it orders as the
    # pair): the page's limit + 1 are picked by a partition, and only they are sorted.
    key = neg[chosen] * len(tiebreak.keys) + rank[chosen]
    if len(key) > limit + 1:
        chosen = chosen[np.argpartition(key, limit)[: limit + 1]]
        key = neg[chosen] * len(tiebreak.keys) + rank[chosen]
    ordered = chosen[np.argsort(key)]
    js = ordered[:limit]
    keys: list[ProductKey] = [
        (score, *tiebreak.keys[r])
        for score, r in zip(neg[js].tolist(), rank[js].tolist(), strict=True)
    ]
    # Explain the page's products together (``explain_accepted``: the items ``explain`` gives).
    entries = [snap.products[int(k)] for k in bests.products[js]]
    explained = explain_accepted(
        snap.catalogue,
        lib,
        [entry.criteria for entry in entries],
        position,
        day,
        Bests(bests.products[js], bests.mitigation[js], bests.adaptation[js]),
    )
    page = list(zip(keys, entries, explained, strict=True))
    return page, len(ordered) > limit


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
