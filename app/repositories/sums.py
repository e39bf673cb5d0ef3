"""Exact sums in SQL: every decimal measure is added up as a whole number of its smallest unit.

SQLite keeps NUMERIC and REAL alike as binary doubles, and the climate-benefit columns are floats
on both databases, so a plain SUM leaks float error (``1226969.2999999996``). Each value is
rounded to its unit first (a cent, a kilogram of CO2e or of standard coal) and the integers are
added: the database returns an exact integer whatever it stores, and the service divides by the
unit in Decimal.
"""

from typing import Any

from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.functions import FunctionElement


class ScaledSum(FunctionElement[Any]):
    """SUM of ``column × 10^places``, each value rounded to a whole number first.

    One subclass per unit: the unit is part of the SQL text, so it must be part of the class
    (the statement cache keys on the class, not on instance attributes).
    """

    inherit_cache = True
    places = 0


class CentsSum(ScaledSum):
    """Money (CNY) in cents."""

    name = "cents_sum"
    inherit_cache = True
    places = 2


class KilogramsSum(ScaledSum):
    """tCO2e or tce in kilograms: three decimal places of a tonne, the figures' precision."""

    name = "kilograms_sum"
    inherit_cache = True
    places = 3


def _scale(element: ScaledSum, compiler: SQLCompiler, **kw: Any) -> tuple[str, int]:
    return compiler.process(element.clauses, **kw), 10**element.places


@compiles(ScaledSum)
def _scaled_sum_default(element: ScaledSum, compiler: SQLCompiler, **kw: Any) -> str:
    # PostgreSQL: a double is made numeric before rounding; the bigints add up exactly.
    column, unit = _scale(element, compiler, **kw)
    return f"SUM(CAST(ROUND(CAST(({column}) AS NUMERIC) * {unit}) AS BIGINT))"


@compiles(ScaledSum, "sqlite")
def _scaled_sum_sqlite(element: ScaledSum, compiler: SQLCompiler, **kw: Any) -> str:
    column, unit = _scale(element, compiler, **kw)
    return f"SUM(CAST(ROUND(({column}) * {unit}) AS INTEGER))"
