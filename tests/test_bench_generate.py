"""The bench generator streams in chunks without changing what it writes (not a timed test)."""

import sqlite3
from collections import defaultdict
from pathlib import Path

import pytest

pytest.importorskip("stdnum")

from app.migrate import upgrade
from bench import generate as gen


def _dump(path: Path) -> dict[str, list[tuple[object, ...]]]:
    con = sqlite3.connect(path)
    try:
        return {
            # Fixed table and column names, not input.
            table: con.execute(f"SELECT * FROM {table} ORDER BY {order}").fetchall()  # noqa: S608
            for table, order in (
                ("projects", "id"),
                ("institutions", "id"),
                ("library_sequences", "region_code, year"),
            )
        }
    finally:
        con.close()


def test_chunk_size_does_not_change_the_rows(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    spec = gen.Spec(projects=400, products=0)
    dumps = []
    for chunk in (gen.CHUNK, 37):
        path = tmp_path / f"chunk-{chunk}.db"
        upgrade(f"sqlite:///{path}")
        monkeypatch.setattr(gen, "CHUNK", chunk)
        result = gen.generate(f"sqlite:///{path}", spec)
        assert result.projects == 400
        dumps.append(_dump(path))
    assert dumps[0] == dumps[1]


def test_library_codes_follow_approval_order_per_region_and_year() -> None:
    spec = gen.Spec(projects=600)
    codes, counters = gen.library_codes(spec)
    rows = list(gen.project_rows(spec))
    by_key: dict[tuple[str, int], list[tuple[object, int]]] = defaultdict(list)
    for i, row in enumerate(rows):
        if row["approved_at"] is None:
            assert i not in codes
            continue
        key = (row["region_code"], row["approved_at"].year)
        by_key[key].append((row["approved_at"], int(codes[i].rsplit("-", 1)[1])))
    assert {k: len(v) for k, v in by_key.items()} == counters
    for entries in by_key.values():
        entries.sort(key=lambda e: e[0])  # type: ignore[arg-type,return-value]
        assert [n for _, n in entries] == list(range(1, len(entries) + 1))
