"""Property: on random small libraries and products, the matcher lists exactly the pairs that a
plain-Python reference checker, written from the documented criteria and scores independently of
the engine, accepts."""

import uuid
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from types import SimpleNamespace
from typing import Any

import httpx
import numpy as np
import pytest
from fastapi import FastAPI
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app.models.flags import CATEGORIES, FINANCING_TYPES
from app.reference.classifications import scheme_codes
from app.reference.taxonomy import category_parents
from app.repositories.matching import ProjectRow
from app.services.matching.criteria import criteria_of
from app.services.matching.eligibility import eligible_positions, match_all
from app.services.matching.explanation import explain
from app.services.matching.library import Library
from app.services.matching.scoring import climate_best, cursor_of, score
from app.services.matching.service import ProjectFilters, ranked_projects
from tests.conftest import Keys
from tests.factories import institution, library_project

TODAY = datetime.now(UTC).date()

# The documented product type ↔ financing type table, restated rather than imported.
PROVIDES = {
    "green_loan": {"loan"},
    "sustainability_linked_loan": {"loan"},
    "transition_loan": {"loan"},
    "carbon_pledge_loan": {"carbon_pledge", "loan"},
    "carbon_insurance": {"insurance"},
    "climate_insurance": {"insurance"},
    "green_bond": {"bond"},
    "carbon_fund": {"fund", "equity"},
    "equity": {"equity"},
    "guarantee": {"guarantee"},
    "leasing": {"leasing"},
}
REGIONS = ["440304", "440106", "440305", "330102", "331102", "110105"]
OBJECTIVES = ["mitigation", "adaptation", "both"]
STATUSES = ["planning", "approved", "under_construction", "operational"]
money = st.integers(min_value=0, max_value=5_000).map(lambda n: Decimal(n) * 10_000)


PARENTS = category_parents()
GFC = sorted(scheme_codes("gfc-2025"))


def _no_redundant(codes: Any) -> list[str]:
    """Codes without a second-level code whose parent is listed too (the API refuses both)."""
    listed = set(codes)
    return sorted(c for c in listed if PARENTS.get(c) not in listed)


@st.composite
def projects(draw: st.DrawFn) -> dict[str, Any]:
    need = draw(money)
    secured = draw(st.sampled_from([Decimal(0), need, need / 2, need / 4])).quantize(
        Decimal("0.01")
    )
    return {
        "region_code": draw(st.sampled_from(REGIONS)),
        "objective": draw(st.sampled_from(OBJECTIVES)),
        "categories": draw(
            st.sets(st.sampled_from(CATEGORIES.codes), min_size=1, max_size=3).map(_no_redundant)
        ),
        "gfc": draw(st.sets(st.sampled_from(GFC), max_size=2).map(sorted)),
        "financing_types": draw(
            st.sets(st.sampled_from(FINANCING_TYPES.codes), min_size=1, max_size=3)
        ),
        "construction_status": draw(st.sampled_from(STATUSES)),
        "financing_need": need,
        "financing_secured": secured,
        "tenor_months": draw(st.none() | st.integers(min_value=1, max_value=240)),
        "reduction": draw(st.none() | st.floats(min_value=0, max_value=1e5)),
        "sink": draw(st.none() | st.floats(min_value=0, max_value=1e4)),
        "beneficiaries": draw(st.none() | st.integers(min_value=0, max_value=1_000_000)),
        "verified": draw(st.booleans()),
        "two_high": draw(st.booleans()),
        # verified monitoring results (MRV): tonnes over some days, and beneficiaries
        "results": draw(
            st.none()
            | st.tuples(
                st.integers(min_value=0, max_value=100_000_000).map(lambda kg: Decimal(kg) / 1000),
                st.integers(min_value=1, max_value=730),
                st.integers(min_value=0, max_value=1_000_000),
            )
        ),
    }


def stated_or_verified(p: dict[str, Any]) -> tuple[float, float]:
    """A project's tonnes a year and beneficiaries as documented: its verified results where
    it has any (tonnes per year over the verified days), its stated figures otherwise."""
    if p["results"] is not None:
        tonnes, days, people = p["results"]
        return float(tonnes) * 365.0 / days, float(people)
    return (p["reduction"] or 0.0) + (p["sink"] or 0.0), float(p["beneficiaries"] or 0)


def _optional(strategy: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.none() | strategy


@st.composite
def criteria(draw: st.DrawFn) -> dict[str, Any]:
    amount_min = draw(_optional(money))
    amount_max = draw(_optional(money))
    if amount_min is not None and amount_max is not None and amount_min > amount_max:
        amount_min, amount_max = amount_max, amount_min
    tenor_min = draw(_optional(st.integers(min_value=0, max_value=120)))
    tenor_max = draw(_optional(st.integers(min_value=0, max_value=240)))
    if tenor_min is not None and tenor_max is not None and tenor_min > tenor_max:
        tenor_min, tenor_max = tenor_max, tenor_min
    valid_from = draw(st.sampled_from([None, TODAY, TODAY + timedelta(days=1)]))
    valid_to = draw(st.sampled_from([None, TODAY, TODAY - timedelta(days=1)]))
    if valid_from is not None and valid_to is not None and valid_from > valid_to:
        valid_from, valid_to = valid_to, valid_from
    return {
        "type": draw(st.sampled_from(sorted(PROVIDES))),
        "objectives": draw(_optional(st.lists(st.sampled_from(OBJECTIVES), max_size=2))),
        "categories": draw(
            _optional(st.lists(st.sampled_from(CATEGORIES.codes), max_size=4).map(_no_redundant))
        ),
        "gfc_codes": draw(_optional(st.lists(st.sampled_from(GFC), max_size=3))),
        "region_prefixes": draw(
            _optional(st.lists(st.sampled_from(["44", "4403", "440106", "33", "11"]), max_size=2))
        ),
        "construction_statuses": draw(_optional(st.lists(st.sampled_from(STATUSES), max_size=3))),
        "amount_min": amount_min,
        "amount_max": amount_max,
        "tenor_min_months": tenor_min,
        "tenor_max_months": tenor_max,
        "min_emission_reduction_tco2e": draw(_optional(st.floats(min_value=0, max_value=5e4))),
        "requires_verification": draw(st.booleans()),
        "requires_verified_results": draw(st.booleans()),
        "accepts_two_high_transition": draw(st.booleans()),
        "valid_from": valid_from,
        "valid_to": valid_to,
    }


def reference_eligible(p: dict[str, Any], c: dict[str, Any], today: date) -> bool:
    """The criteria and scores read literally, one criterion at a time, in plain Python."""
    if c["valid_from"] is not None and today < c["valid_from"]:
        return False
    if c["valid_to"] is not None and today > c["valid_to"]:
        return False
    if not set(p["financing_types"]) & PROVIDES[c["type"]]:
        return False
    if c["region_prefixes"] and not any(
        p["region_code"].startswith(x) for x in c["region_prefixes"]
    ):
        return False
    if c["objectives"]:
        wanted = set(c["objectives"])
        fits = p["objective"] in wanted or (
            p["objective"] == "both" and bool(wanted & {"mitigation", "adaptation"})
        )
        if not fits:
            return False
    # a listed code accepts itself and, when first-level, its own second-level codes
    if c["categories"] and not any(
        code in c["categories"] or PARENTS.get(code) in c["categories"] for code in p["categories"]
    ):
        return False
    # a listed catalogue code accepts itself and the codes under it (4 accepts 4.1)
    if c["gfc_codes"] and not any(
        g == x or g.startswith(x + ".") for g in p["gfc"] for x in c["gfc_codes"]
    ):
        return False
    if c["construction_statuses"] and p["construction_status"] not in c["construction_statuses"]:
        return False
    remaining = p["financing_need"] - p["financing_secured"]
    if remaining <= 0:
        return False
    if c["amount_min"] is not None and remaining < c["amount_min"]:
        return False
    if c["amount_max"] is not None and remaining > c["amount_max"]:
        return False
    if p["tenor_months"] is not None:
        if c["tenor_min_months"] is not None and p["tenor_months"] < c["tenor_min_months"]:
            return False
        if c["tenor_max_months"] is not None and p["tenor_months"] > c["tenor_max_months"]:
            return False
    benefit = stated_or_verified(p)[0]
    if (
        c["min_emission_reduction_tco2e"] is not None
        and benefit < c["min_emission_reduction_tco2e"]
    ):
        return False
    if c["requires_verification"] and not p["verified"]:
        return False
    if c["requires_verified_results"] and p["results"] is None:
        return False
    return c["accepts_two_high_transition"] or not p["two_high"]


def reference_climate(eligible: list[dict[str, Any]]) -> list[float]:
    """The climate fraction of each eligible project, as documented: its benefit per 10,000 CNY
    of remaining need over the best in its group (tonnes among mitigation and both projects,
    beneficiaries among adaptation and both), the better of the two for `both`."""

    def per_10k(p: dict[str, Any], figure: float) -> float:
        return figure * 10_000 / float(p["financing_need"] - p["financing_secured"])

    tonnes = [
        per_10k(p, stated_or_verified(p)[0]) if p["objective"] in ("mitigation", "both") else None
        for p in eligible
    ]
    people = [
        per_10k(p, stated_or_verified(p)[1]) if p["objective"] in ("adaptation", "both") else None
        for p in eligible
    ]

    def fractions(values: list[float | None]) -> list[float]:
        best = max((v for v in values if v is not None), default=0.0)
        return [v / best if v is not None and best > 0 else 0.0 for v in values]

    return [max(m, a) for m, a in zip(fractions(tonnes), fractions(people), strict=True)]


def _row(pid: uuid.UUID, p: dict[str, Any]) -> ProjectRow:
    return ProjectRow(
        id=pid,
        region_code=p["region_code"],
        objective=p["objective"],
        categories_mask=CATEGORIES.mask(p["categories"]),
        financing_types_mask=FINANCING_TYPES.mask(p["financing_types"]),
        construction_status=p["construction_status"],
        remaining_cents=int((p["financing_need"] - p["financing_secured"]) * 100),
        tenor_months=p["tenor_months"],
        emission_reduction_tco2e=p["reduction"],
        carbon_sink_tco2e=p["sink"],
        adaptation_beneficiaries=p["beneficiaries"],
        third_party_verified=p["verified"],
        is_two_high=p["two_high"],
        classifications=[{"scheme": "gfc-2025", "code": g} for g in p["gfc"]],
        **_results_row(p),
    )


def _results_row(p: dict[str, Any]) -> dict[str, Any]:
    if p["results"] is None:
        return {}
    tonnes, days, people = p["results"]
    return {
        "verified_reports": 1,
        "verified_tco2e": float(tonnes),
        "verified_days": days,
        "verified_beneficiaries": people,
    }


def _results_columns(p: dict[str, Any]) -> dict[str, Any]:
    if p["results"] is None:
        return {}
    tonnes, days, people = p["results"]
    return {
        "verified_reports": 1,
        "verified_emission_reduction_tco2e": tonnes,
        "verified_days": days,
        "verified_adaptation_beneficiaries": people,
    }


def _criteria(c: dict[str, Any]) -> Any:
    return criteria_of(SimpleNamespace(status="active", weights=None, **c))


class TestEngineAgainstReference:
    @settings(max_examples=200, deadline=None)
    @given(
        library=st.lists(projects(), max_size=25),
        products=st.lists(criteria(), min_size=1, max_size=4),
    )
    def test_listed_pairs_are_exactly_the_reference_pairs(
        self, library: list[dict[str, Any]], products: list[dict[str, Any]]
    ) -> None:
        ids = [uuid.uuid4() for _ in library]
        lib = Library.build([_row(i, p) for i, p in zip(ids, library, strict=True)])
        for c in products:
            crit = _criteria(c)
            positions = eligible_positions(lib, crit, TODAY)
            listed = {lib.ids[int(i)] for i in positions}
            expected = {
                i for i, p in zip(ids, library, strict=True) if reference_eligible(p, c, TODAY)
            }
            assert listed == expected
            top = climate_best(lib, positions)
            scored = score(lib, crit, positions, top)
            assert np.all((scored.score_centi >= 0) & (scored.score_centi <= 10_000))
            chosen = [(i, p) for i, p in zip(ids, library, strict=True) if i in expected]
            climate = dict(
                zip([i for i, _ in chosen], reference_climate([p for _, p in chosen]), strict=True)
            )
            for pid in ids:
                explanation = explain(lib, crit, lib.position[pid], TODAY, top)
                assert explanation.eligible == (pid in expected)
                assert all(i["passed"] for i in explanation.items) == (pid in expected)
                if pid in expected:
                    given = next(
                        i["points"]
                        for i in explanation.items
                        if i["criterion"] == "climate_benefit"
                    )
                    assert given == pytest.approx(40.0 * climate[pid], abs=0.006)


class TestHttpAgainstReference:
    @settings(
        max_examples=12,
        deadline=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    )
    @given(batch=st.lists(projects(), max_size=3), c=criteria())
    async def test_preview_lists_exactly_the_reference_pairs(
        self,
        client: httpx.AsyncClient,
        keys: Keys,
        app: FastAPI,
        batch: list[dict[str, Any]],
        c: dict[str, Any],
    ) -> None:
        if not hasattr(app.state, "property_library"):
            app.state.property_library = {}
            _, app.state.property_bank = await institution(client, keys)
        library: dict[str, dict[str, Any]] = app.state.property_library
        for p in batch:
            pid = await library_project(
                app,
                region_code=p["region_code"],
                objective=p["objective"],
                categories=sorted(p["categories"]),
                financing_types=sorted(p["financing_types"]),
                construction_status=p["construction_status"],
                total_investment=p["financing_need"],
                financing_need=p["financing_need"],
                financing_secured=p["financing_secured"],
                tenor_months=p["tenor_months"],
                annual_emission_reduction_tco2e=p["reduction"],
                annual_carbon_sink_tco2e=p["sink"],
                adaptation_beneficiaries=p["beneficiaries"],
                third_party_verified=p["verified"],
                is_two_high=p["two_high"],
                classifications=[{"scheme": "gfc-2025", "code": g} for g in p["gfc"]],
                **_results_columns(p),
            )
            library[pid] = p
        body = {k: (str(v) if isinstance(v, Decimal | date) else v) for k, v in c.items()}
        body = {k: v for k, v in body.items() if v is not None}
        response = await client.post(
            "/api/v1/matching/preview", json={**body, "limit": 50}, headers=app.state.property_bank
        )
        assert response.status_code == 200, response.text
        listed = {i["project_id"] for i in response.json()["items"]}
        expected = {pid for pid, p in library.items() if reference_eligible(p, c, TODAY)}
        assert listed == expected
        assert response.json()["count"] == len(expected)


PLAIN: dict[str, Any] = {
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
    "valid_from": None,
    "valid_to": None,
}


class TestPatchedLibrary:
    @settings(max_examples=100, deadline=None)
    @given(
        before=st.lists(projects(), max_size=15),
        changes=st.lists(st.tuples(st.integers(0, 30), st.none() | projects()), max_size=15),
        c=criteria(),
    )
    def test_a_patched_library_matches_like_a_fresh_one(
        self,
        before: list[dict[str, Any]],
        changes: list[tuple[int, dict[str, Any] | None]],
        c: dict[str, Any],
    ) -> None:
        ids = [uuid.uuid4() for _ in range(31)]
        state = {ids[k]: p for k, p in enumerate(before)}
        lib = Library.build([_row(pid, p) for pid, p in state.items()])
        crit = _criteria(c)
        # besides the drawn product, one that sets nothing but its type (and one a region
        # too), per type: most projects pass them, so a stale index shows
        plain = [
            c,
            *({**PLAIN, "type": t} for t in PROVIDES),
            *({**PLAIN, "type": t, "region_prefixes": ["44"]} for t in PROVIDES),
        ]
        crits = [_criteria(x) for x in plain]

        def reference(x: dict[str, Any]) -> set[uuid.UUID]:
            return {pid for pid, p in state.items() if reference_eligible(p, x, TODAY)}

        for k, p in changes:  # None: the project leaves the library
            # The region index and its packed masks exist before each patch, so the patch
            # writes through to them (or drops them when a project is appended or moves region).
            counted = [m.eligible for m in match_all(lib, crits, TODAY)]
            assert counted == [len(reference(x)) for x in plain]
            if p is None:
                state.pop(ids[k], None)
                lib.apply([], [ids[k]])
            else:
                state[ids[k]] = p
                lib.apply([_row(ids[k], p)], [])
            for x, y in zip(plain, crits, strict=True):
                listed = {lib.ids[int(i)] for i in eligible_positions(lib, y, TODAY)}
                assert listed == reference(x)
        counted = [m.eligible for m in match_all(lib, crits, TODAY)]
        assert counted == [len(reference(x)) for x in plain]
        fresh = Library.build([_row(pid, p) for pid, p in state.items()])
        patched = {lib.ids[int(i)] for i in eligible_positions(lib, crit, TODAY)}
        rebuilt = {fresh.ids[int(i)] for i in eligible_positions(fresh, crit, TODAY)}
        assert (
            patched
            == rebuilt
            == {pid for pid, p in state.items() if reference_eligible(p, c, TODAY)}
        )


class TestRankedPages:
    @settings(max_examples=150, deadline=None)
    @given(
        distinct=st.lists(projects(), min_size=1, max_size=8),
        copies=st.lists(st.integers(1, 4), min_size=8, max_size=8),
        c=criteria() | st.sampled_from(sorted(PROVIDES)).map(lambda t: {**PLAIN, "type": t}),
        limit=st.integers(1, 4),
        min_score=st.none() | st.sampled_from([0.0, 30.0, 55.5]),
    )
    def test_pages_walk_the_reference_order(
        self,
        distinct: list[dict[str, Any]],
        copies: list[int],
        c: dict[str, Any],
        limit: int,
        min_score: float | None,
    ) -> None:
        """Walked page by page through its cursors, a product's ranked list is every project the
        reference accepts, in (score descending, id) order, each once: copies of one project
        score alike, so ties fall across page boundaries. Each item's score and explanation are
        the pair's own (``explain``)."""
        library = [p for p, n in zip(distinct, copies, strict=False) for _ in range(n)]
        ids = [uuid.uuid4() for _ in library]
        lib = Library.build([_row(i, p) for i, p in zip(ids, library, strict=True)])
        crit = _criteria(c)
        best = climate_best(lib, eligible_positions(lib, crit, TODAY))
        explained = {
            pid: explain(lib, crit, lib.position[pid], TODAY, best)
            for pid, p in zip(ids, library, strict=True)
            if reference_eligible(p, c, TODAY)
        }
        centi = {pid: round(e.score * 100) for pid, e in explained.items() if e.score is not None}
        floor = None if min_score is None else round(min_score * 100)
        expected = sorted(
            (pid for pid in explained if floor is None or centi[pid] >= floor),
            key=lambda pid: (-centi[pid], pid.int),
        )
        filters = ProjectFilters(min_score=min_score)
        walked: list[uuid.UUID] = []
        after = None
        for _ in range(len(library) + 1):
            page = ranked_projects(lib, crit, filters, after, limit, TODAY)
            assert len(page.ids) <= limit
            assert page.scores_centi == [centi[pid] for pid in page.ids]
            assert page.explanations is not None
            assert [e.items for e in page.explanations] == [
                explained[pid].items for pid in page.ids
            ]
            walked += page.ids
            assert page.more == (len(walked) < len(expected))
            if not page.more:
                break
            after = cursor_of(page.scores_centi[-1], page.ids[-1])
        assert walked == expected
