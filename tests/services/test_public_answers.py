"""The amounts of the public page built straight from sqlite3's values
(project_rows.public_answers): the same text as SQLAlchemy's Decimal formatted. The whole page is
compared with the declared route's in tests/api/projects/test_public_read_paths.py."""

import random

import pytest
from sqlalchemy import Numeric
from sqlalchemy.dialects import sqlite

from app.services import project_rows


def test_money_text_is_the_decimal_formatted() -> None:
    process = Numeric(18, 2)._cached_result_processor(sqlite.dialect(), None)
    assert process is not None  # SQLite stores numbers: its reading always converts
    text = project_rows._money_text(process)
    rng = random.Random(14)
    values: list[object] = [0, 0.0, -0.0, 5, -7, 0.125, 0.165, 2.675, 12500000.005, 1e20, 1e-9]
    values += [round(rng.uniform(-1e12, 1e12), rng.randint(0, 5)) for _ in range(20_000)]
    values += [rng.randint(-(10**15), 10**15) for _ in range(2_000)]
    for value in values:
        assert text(value) == f"{process(value):.2f}", value
    # A non-finite float or a text goes the long way: the same as SQLAlchemy's Decimal gives.
    for odd in (float("inf"), float("-inf"), float("nan")):
        assert text(odd) == f"{process(odd):.2f}"
    with pytest.raises(TypeError):  # a text in a money column: SQLAlchemy's reading refuses it
        process("12.5")
    with pytest.raises(TypeError):
        text("12.5")
