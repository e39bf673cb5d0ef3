"""The export's paging: no connection held between pages, and what a reader sees when rows
change while it reads (the rules in app/services/export.py's docstring)."""

import csv
import io
from collections.abc import AsyncIterator

import pytest
from fastapi import FastAPI

from app.auth import ANONYMOUS
from app.models.project_query import ProjectFilters
from app.services import export
from tests.factories import library_project, set_project


async def _library(app: FastAPI, names: list[str]) -> dict[str, str]:
    return {name: await library_project(app, name=name) for name in names}


def _csv(app: FastAPI, sort: str) -> AsyncIterator[bytes]:
    return export.csv_stream(
        app.state.sessions, ANONYMOUS, ProjectFilters(), sort=sort, header="field"
    )


def _rows(chunk: bytes) -> list[dict[str, str]]:
    header = [field for field, _ in export.COLUMNS]
    return [
        dict(zip(header, cells, strict=True)) for cells in csv.reader(io.StringIO(chunk.decode()))
    ]


@pytest.fixture(autouse=True)
def pages_of_three(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(export, "PAGE_SIZE", 3)


class TestPaging:
    async def test_no_connection_is_held_while_a_page_waits_for_its_reader(
        self, app: FastAPI
    ) -> None:
        await _library(app, [f"P{n:02d}" for n in range(7)])
        stream = _csv(app, "name")
        chunks = []
        async for chunk in stream:
            assert app.state.engine.pool.checkedout() == 0
            chunks.append(chunk)
        assert len(chunks) == 1 + 3  # the header, then pages of 3, 3 and 1 rows
        names = [row["name"] for chunk in chunks[1:] for row in _rows(chunk)]
        assert names == [f"P{n:02d}" for n in range(7)]

    async def test_rows_changed_while_the_export_reads(self, app: FastAPI) -> None:
        ids = await _library(app, [f"P{n:02d}" for n in range(10)])
        stream = _csv(app, "name")
        await anext(stream)  # the header
        first = _rows(await anext(stream))
        assert [r["name"] for r in first] == ["P00", "P01", "P02"]

        await set_project(app, ids["P04"], summary="changed, not moved")  # still to be read
        await set_project(app, ids["P01"], name="P08b")  # read, moves to the part to come
        await set_project(app, ids["P07"], name="P00b")  # to come, moves to the part read
        rest = [row async for chunk in stream for row in _rows(chunk)]

        seen = [(r["id"], r["name"]) for r in first + rest]
        # Unchanged rows: exactly once, in order.
        unchanged = ["P00", "P02", "P03", "P05", "P06", "P08", "P09"]
        assert [name for _, name in seen if name in unchanged] == unchanged
        # A change that does not move the row: once, with the version its page read.
        [changed] = [r for r in rest if r["id"] == ids["P04"]]
        assert changed["summary"] == "changed, not moved"
        # Moved ahead of the read position: twice, old and new; moved behind it: not at all.
        assert [name for id_, name in seen if id_ == ids["P01"]] == ["P01", "P08b"]
        assert [name for id_, name in seen if id_ == ids["P07"]] == []

    async def test_under_the_default_order_every_row_appears_once(self, app: FastAPI) -> None:
        ids = await _library(app, [f"P{n:02d}" for n in range(8)])
        stream = _csv(app, "-created_at")
        await anext(stream)
        rows = _rows(await anext(stream))
        for name, project_id in ids.items():
            await set_project(app, project_id, name=f"{name} renamed")
        await library_project(app, name="created during the export")
        rows += [row async for chunk in stream for row in _rows(chunk)]
        assert sorted(r["id"] for r in rows) == sorted(ids.values())
        assert sum(r["name"].endswith("renamed") for r in rows) == len(rows) - 3
