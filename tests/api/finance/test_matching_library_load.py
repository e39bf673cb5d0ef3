"""The full load reads the library as columns (``library_columns``); the patch path reads rows
(``library_rows``). On both databases the library built from the columns holds, project by
project, exactly what the one built from the rows holds, and what one built from the values
written holds: library projects only, with their classifications, verified results, missing
tenors and figures, and 两高 flags."""

import uuid
from decimal import Decimal
from typing import Any

import numpy as np
import pytest
from asyncpg.exceptions import DivisionByZeroError
from fastapi import FastAPI
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, literal_column, select, update

from app.models import Project
from app.repositories import matching as repo
from app.services.matching.eligibility import match_all
from app.services.matching.library import COLUMN_NAMES, Library
from tests.api.finance.test_matching_property import (
    PLAIN,
    PROVIDES,
    TODAY,
    _criteria,
    _results_columns,
    _row,
    projects,
)
from tests.factories import library_project, set_project

# Left out of the library whatever their values: only ``in_library`` projects are matched.
EXCLUDED = ["draft", "submitted", "recommended", "returned", "rejected", "withdrawn", "exited"]


def _columns(p: dict[str, Any]) -> dict[str, Any]:
    """A drawn project (``test_matching_property.projects``) as the columns written."""
    return {
        "region_code": p["region_code"],
        "objective": p["objective"],
        "categories": sorted(p["categories"]),
        "financing_types": sorted(p["financing_types"]),
        "construction_status": p["construction_status"],
        "total_investment": p["financing_need"],
        "financing_need": p["financing_need"],
        "financing_secured": p["financing_secured"],
        "tenor_months": p["tenor_months"],
        "annual_emission_reduction_tco2e": p["reduction"],
        "annual_carbon_sink_tco2e": p["sink"],
        "adaptation_beneficiaries": p["beneficiaries"],
        "third_party_verified": p["verified"],
        "is_two_high": p["two_high"],
        "classifications": [{"scheme": "gfc-2025", "code": g} for g in p["gfc"]],
        **_results_columns(p),
    }


def _by_id(lib: Library) -> dict[uuid.UUID, dict[str, Any]]:
    """Each project's values in every column, keyed by its id (positions may differ)."""
    values = {name: getattr(lib, name) for name in COLUMN_NAMES}
    return {
        pid: {
            name: column[i] if name == "gfc" else column[i].item()
            for name, column in values.items()
        }
        for pid, i in lib.position.items()
    }


def _dtypes(lib: Library) -> dict[str, np.dtype[Any]]:
    return {name: getattr(lib, name).dtype for name in COLUMN_NAMES}


async def _loaded(app: FastAPI) -> tuple[Library, Library]:
    """The library as the full load builds it, and as built from the patch path's rows."""
    async with app.state.sessions.begin() as session:
        bulk = Library.of_columns(await repo.library_columns(session))
        rows = Library.build(await repo.library_rows(session))
    return bulk, rows


def _assert_same(bulk: Library, expected: Library) -> None:
    assert bulk.size == len(bulk.position) == expected.size
    assert set(bulk.ids) == set(expected.ids)
    assert all(isinstance(pid, uuid.UUID) for pid in bulk.ids)
    assert _dtypes(bulk) == _dtypes(expected)
    assert _by_id(bulk) == _by_id(expected)
    # the positions are the ids' own (the 128-bit halves are each id's)
    for pid, i in bulk.position.items():
        assert bulk.ids[i] == pid
        assert (int(bulk.id_hi[i]) << 64) | int(bulk.id_lo[i]) == pid.int


def _counts(lib: Library) -> list[int]:
    """Eligible projects per product type, with and without a region: the whole matcher."""
    plain = [
        *({**PLAIN, "type": t} for t in PROVIDES),
        *({**PLAIN, "type": t, "region_prefixes": ["44"]} for t in PROVIDES),
    ]
    return [m.eligible for m in match_all(lib, [_criteria(c) for c in plain], TODAY)]


class TestFullLoad:
    async def test_an_empty_library_loads_as_empty_columns(self, app: FastAPI) -> None:
        await library_project(app, status="draft")
        bulk, rows = await _loaded(app)
        assert bulk.size == 0
        _assert_same(bulk, rows)
        assert _counts(bulk) == [0] * len(_counts(bulk))

    async def test_the_columns_are_the_rows_for_each_kind_of_project(self, app: FastAPI) -> None:
        written: dict[str, dict[str, Any]] = {}
        cases: list[dict[str, Any]] = [
            {},
            # nothing optional stated: no tenor, no figures
            {
                "tenor_months": None,
                "annual_emission_reduction_tco2e": None,
                "annual_carbon_sink_tco2e": None,
                "adaptation_beneficiaries": None,
            },
            {
                "objective": "adaptation",
                "categories": ["A1"],
                "annual_emission_reduction_tco2e": None,
                "adaptation_beneficiaries": 12_000,
                "region_code": "330102",
            },
            {"objective": "both", "annual_carbon_sink_tco2e": 55.5, "adaptation_beneficiaries": 7},
            # classifications: gfc-2025 codes (with their parents implied), another scheme
            {"classifications": [{"scheme": "gfc-2025", "code": "4.1"}]},
            {
                "classifications": [
                    {"scheme": "gfc-2025", "code": "4.1"},
                    {"scheme": "gfc-2025", "code": "1.2"},
                ]
            },
            {"classifications": [{"scheme": "cbi", "code": "solar"}]},
            # verified monitoring results (MRV) in place of the stated figures
            {
                "verified_reports": 2,
                "verified_emission_reduction_tco2e": Decimal("1234.567"),
                "verified_carbon_sink_tco2e": Decimal("10.001"),
                "verified_days": 365,
                "verified_adaptation_beneficiaries": 300,
                "third_party_verified": True,
            },
            # reports without verified days count as no results
            {"verified_reports": 1, "verified_days": 0},
            {"is_two_high": True, "tenor_months": 360},
            {"financing_secured": "10000000.00"},  # nothing left to finance
            {"financing_secured": "3333333.33", "construction_status": "operational"},
            # figures whose shortest text has 17 significant digits
            {"annual_emission_reduction_tco2e": 0.1 + 0.2, "annual_carbon_sink_tco2e": 1 / 3},
            {"classifications": None},  # stored as JSON null
        ]
        for case in cases:
            written[await library_project(app, **case)] = case
        excluded = {await library_project(app, status=s) for s in EXCLUDED}
        bulk, rows = await _loaded(app)
        _assert_same(bulk, rows)
        assert {str(pid) for pid in bulk.ids} == set(written)
        assert not excluded & {str(pid) for pid in bulk.ids}
        at = {str(pid): i for pid, i in bulk.position.items()}
        assert bulk.gfc[at[_key(written, 4)]] == {"4", "4.1"}
        assert bulk.gfc[at[_key(written, 6)]] == frozenset()
        assert bulk.tenor[at[_key(written, 1)]] == -1
        assert bool(bulk.results[at[_key(written, 7)]])
        assert not bulk.results[at[_key(written, 8)]]
        assert bool(bulk.two_high[at[_key(written, 9)]])
        assert bulk.benefit[at[_key(written, 12)]] == 0.1 + 0.2 + 1 / 3
        assert bulk.gfc[at[_key(written, 13)]] == frozenset()
        assert _counts(bulk) == _counts(rows)

    async def test_the_columns_follow_projects_into_out_of_and_within_the_library(
        self, app: FastAPI
    ) -> None:
        """The full load reads an index of the library's projects (migration 0022): a project
        approved after it was written enters it, one that exits leaves it, and one whose
        matching columns change in the library is read with its new values."""
        entering = await library_project(app, status="recommended")
        leaving = await library_project(app)
        changing = await library_project(app, annual_carbon_sink_tco2e=12.5, tenor_months=24)
        bulk, rows = await _loaded(app)
        assert {str(pid) for pid in bulk.ids} == {leaving, changing}
        await set_project(app, entering, status="in_library")
        await set_project(app, leaving, status="exited")
        await set_project(
            app,
            changing,
            annual_emission_reduction_tco2e=0.0,
            annual_carbon_sink_tco2e=1 / 3,
            tenor_months=None,
            financing_secured=Decimal("1234.56"),
            classifications=[{"scheme": "gfc-2025", "code": "1.2"}],
            verified_reports=1,
            verified_emission_reduction_tco2e=Decimal("0.1"),
            verified_carbon_sink_tco2e=Decimal("0.2"),
            verified_days=30,
        )
        bulk, rows = await _loaded(app)
        _assert_same(bulk, rows)
        assert {str(pid) for pid in bulk.ids} == {entering, changing}
        at = {str(pid): i for pid, i in bulk.position.items()}
        assert bulk.tenor[at[changing]] == -1
        assert bulk.gfc[at[changing]] == {"1", "1.2"}

    @settings(
        max_examples=10,
        deadline=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    )
    @given(batch=st.lists(st.tuples(projects(), st.sampled_from(["in_library", *EXCLUDED]))))
    async def test_the_columns_are_the_rows_and_the_values_written(
        self, app: FastAPI, batch: list[tuple[dict[str, Any], str]]
    ) -> None:
        """Drawn projects accumulate over the examples (the database is the test's): after
        each batch the full load equals the rows and a library built from the drawn values."""
        if not hasattr(app.state, "load_library"):
            app.state.load_library = {}
        library: dict[uuid.UUID, dict[str, Any]] = app.state.load_library
        for p, status in batch:
            pid = uuid.UUID(await library_project(app, status=status, **_columns(p)))
            if status == "in_library":
                library[pid] = p
        bulk, rows = await _loaded(app)
        _assert_same(bulk, rows)
        reference = Library.build([_row(pid, p) for pid, p in library.items()])
        _assert_same(bulk, reference)
        assert _counts(bulk) == _counts(reference)


class TestTwoRanges:
    """On PostgreSQL a large library (``SPLIT_ROWS``) is read as two id ranges over two
    connections at once; here every library is large."""

    @pytest.fixture(autouse=True)
    def split(self, db_kind: str, monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
        if db_kind != "postgresql":
            pytest.skip("SQLite reads the library in one statement")
        monkeypatch.setattr(repo, "SPLIT_ROWS", 0)
        ranges: list[dict[str, Any]] = []
        statement = repo.library_columns_statement

        def recorded(postgresql: bool, **bounds: Any) -> Any:
            ranges.append(bounds)
            return statement(postgresql, **bounds)

        monkeypatch.setattr(repo, "library_columns_statement", recorded)
        return ranges

    async def _analyzed(self, app: FastAPI) -> None:
        # The split point is the median of the planner's histogram of the ids.
        async with app.state.engine.begin() as connection:
            await connection.exec_driver_sql("ANALYZE projects")

    async def test_the_two_ranges_are_the_whole_library(
        self, app: FastAPI, split: list[dict[str, Any]]
    ) -> None:
        written = {await library_project(app, tenor_months=k or None) for k in range(24)}
        excluded = {await library_project(app, status=s) for s in EXCLUDED}
        split.clear()
        bulk, _ = await _loaded(app)
        assert split == [{}]  # no statistics yet: one statement
        await self._analyzed(app)
        split.clear()
        two, rows = await _loaded(app)
        assert len(split) == 2 and split[0]["below"] == split[1]["from_"]
        _assert_same(two, rows)
        _assert_same(two, bulk)
        assert {str(pid) for pid in two.ids} == written
        assert not excluded & {str(pid) for pid in two.ids}
        assert _counts(two) == _counts(rows)

    async def test_a_transaction_that_wrote_reads_in_one_statement(
        self, app: FastAPI, split: list[dict[str, Any]]
    ) -> None:
        """Another connection would not see what this transaction wrote and has not
        committed: the load then reads on the session's own connection alone."""
        written = [await library_project(app) for _ in range(12)]
        await self._analyzed(app)
        async with app.state.sessions.begin() as session:
            leaving = uuid.UUID(written[0])
            await session.execute(
                update(Project).where(Project.id == leaving).values(status="exited")
            )
            split.clear()
            bulk = Library.of_columns(await repo.library_columns(session))
            assert split == [{}]
            assert {str(pid) for pid in bulk.ids} == set(written[1:])
            await session.rollback()

    async def test_a_range_that_fails_stops_the_other(
        self, app: FastAPI, split: list[dict[str, Any]], monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """The error comes back, the other range's statement is cancelled, not left running on
        a connection handed back, and the next load reads as before."""
        written = {await library_project(app) for _ in range(12)}
        await self._analyzed(app)
        statement = repo.library_columns_statement

        def failing(postgresql: bool, **bounds: Any) -> Any:
            if "from_" in bounds:
                return select(literal_column("1 / 0"))
            return select(func.pg_sleep(2))  # still running when the other fails

        monkeypatch.setattr(repo, "library_columns_statement", failing)
        with pytest.raises(DivisionByZeroError):
            await _loaded(app)
        monkeypatch.setattr(repo, "library_columns_statement", statement)
        bulk, rows = await _loaded(app)
        _assert_same(bulk, rows)
        assert {str(pid) for pid in bulk.ids} == written


def _key(written: dict[str, dict[str, Any]], k: int) -> str:
    return list(written)[k]
