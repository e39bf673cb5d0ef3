"""The bench generator streams in chunks without changing what it writes (not a timed test)."""

import random
import sqlite3
import uuid
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

pytest.importorskip("stdnum")

from app.ids import new_id
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


def _ms(moment: datetime) -> int:
    return (moment - datetime(1970, 1, 1, tzinfo=UTC)) // timedelta(milliseconds=1)


def test_ids_are_the_uuid7s_the_service_would_have_minted_at_each_row_s_creation() -> None:
    spec = gen.Spec(projects=300, institutions=40, products=60)
    rng = random.Random(spec.seed)
    projects = list(gen.project_rows(spec, rng))
    institutions = gen.institution_rows(spec, rng)
    entries = gen.product_entries(spec)
    products = [
        gen._product_values(random.Random(n), uuid.uuid4(), gen.RegionPicker(random.Random(n)), n)
        for n in range(60)
    ]
    minted = new_id()  # the service's, for the layout
    for row in [*projects, *institutions, *products]:
        row_id = row["id"]
        assert row_id.version == minted.version == 7
        assert row_id.variant == minted.variant
        assert row_id.int >> 80 == _ms(row["created_at"])
    assert all(e.id.version == 7 and e.institution_id.version == 7 for e in entries)
    # Time-ordered: in id order, creation times never go back (to the millisecond).
    for rows in (projects, institutions, products):
        by_id = sorted(rows, key=lambda r: r["id"])
        times = [_ms(r["created_at"]) for r in by_id]
        assert times == sorted(times)
    # The same ids per seed, other ids for another seed.
    assert [r["id"] for r in gen.project_rows(spec)] == [r["id"] for r in projects]
    other = gen.Spec(projects=300, seed=spec.seed + 1)
    assert not {r["id"] for r in gen.project_rows(other)} & {r["id"] for r in projects}


def test_a_generated_database_keys_rows_in_creation_order(tmp_path: Path) -> None:
    path = tmp_path / "v7.db"
    url = f"sqlite:///{path}"
    upgrade(url)
    gen.generate(url, gen.Spec(projects=500, institutions=30, products=40))
    con = sqlite3.connect(path)
    try:
        for table in ("projects", "institutions", "products"):
            # Fixed table names, not input.
            rows = con.execute(f"SELECT id, created_at FROM {table} ORDER BY id").fetchall()  # noqa: S608
            assert rows, table
            assert all(uuid.UUID(hex=i).version == 7 for i, _ in rows), table
            created = [c[:23] for _, c in rows]  # to the millisecond
            assert created == sorted(created), table
    finally:
        con.close()
