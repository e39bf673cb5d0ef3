"""Opaque keyset cursors: a page never skips or repeats a row while others write.

A cursor holds the sort values of the last row served (and the sort it belongs to); the next page
starts strictly after them. Ordering always ends on the primary key, so it is total.

A cursor comes back from the client, so it is read strictly: each value must be of its sort key's
kind (text without NUL, an integer, a finite number, a decimal that fits the column, a timestamp
with its zone that is an instant of years 1–9999 in UTC, a UUID) and the cursor must belong to the
list's sort. Anything else is a 400 ``invalid_cursor`` before a query is built, so no value a
client makes up reaches the database or the in-memory comparisons of the match lists.
"""

import base64
import binascii
import math
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import orjson
from sqlalchemy import ColumnElement, Integer, Numeric, Select, and_, bindparam, or_

from app.errors import BadRequest, field_error

_INT64 = range(-(2**63), 2**63)


@dataclass(frozen=True)
class SortKey:
    column: Any  # a mapped attribute or column expression
    descending: bool = False
    kind: type = str  # how the cursor value is read back: str, int, float, Decimal, datetime, UUID


def _encode_value(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, Decimal | uuid.UUID):
        return str(value)
    return value


def _text(value: Any, key: SortKey) -> str:
    # PostgreSQL text cannot hold NUL: such a value was never served.
    if not isinstance(value, str) or "\x00" in value:
        raise ValueError("not text")
    return value


def _integer(value: Any, key: SortKey) -> int:
    if type(value) is not int or value not in _INT64:
        raise ValueError("not a 64-bit integer")
    return value


def _number(value: Any, key: SortKey) -> float:
    if type(value) not in (int, float) or not math.isfinite(value):
        raise ValueError("not a finite number")
    return float(value)


def _decimal(value: Any, key: SortKey) -> Decimal:
    if not isinstance(value, str):
        raise ValueError("a decimal travels as text")
    number = Decimal(value)  # InvalidOperation for what is no number
    if not number.is_finite():
        raise ValueError("not finite")
    column_type = getattr(key.column, "type", None)
    if isinstance(column_type, Numeric) and column_type.precision is not None:
        scale = column_type.scale or 0
        exponent = number.as_tuple().exponent
        if not isinstance(exponent, int) or exponent < -scale:
            raise ValueError("more decimal places than the column holds")
        if abs(number) >= Decimal(10) ** (column_type.precision - scale):
            raise ValueError("larger than the column holds")
    return number


def _instant(value: Any, key: SortKey) -> datetime:
    # Served timestamps carry their zone; a naive one was made up. astimezone raises
    # OverflowError for an instant outside years 1–9999 in UTC.
    if not isinstance(value, str):
        raise ValueError("a timestamp travels as text")
    moment = datetime.fromisoformat(value)
    if moment.tzinfo is None:
        raise ValueError("a timestamp without its zone")
    return moment.astimezone(UTC)


def _uuid(value: Any, key: SortKey) -> uuid.UUID:
    if not isinstance(value, str):
        raise ValueError("a UUID travels as text")
    return uuid.UUID(value)


_READERS: dict[type, Callable[[Any, SortKey], Any]] = {
    str: _text,
    int: _integer,
    float: _number,
    Decimal: _decimal,
    datetime: _instant,
    uuid.UUID: _uuid,
}


def encode_cursor(sort_name: str, values: Sequence[Any], until: datetime | None = None) -> str:
    """``until``: the watermark of an ``updated_since`` read, kept for the read's later pages."""
    data: dict[str, Any] = {"s": sort_name, "v": [_encode_value(v) for v in values]}
    if until is not None:
        data["u"] = until.isoformat()
    return base64.urlsafe_b64encode(orjson.dumps(data)).decode().rstrip("=")


def _invalid_cursor() -> BadRequest:
    return BadRequest(
        "The cursor is not one this list gave out (or belongs to another sort).",
        code="invalid_cursor",
        errors=[field_error(["query", "cursor"], "invalid_cursor", "Unreadable cursor.")],
    )


def _cursor_data(cursor: str) -> dict[str, Any]:
    padded = cursor + "=" * (-len(cursor) % 4)
    data = orjson.loads(base64.urlsafe_b64decode(padded))
    if not isinstance(data, dict):
        raise ValueError("not a cursor")
    return data


def decode_cursor(cursor: str, sort_name: str, keys: Sequence[SortKey]) -> list[Any]:
    """The sort values a cursor holds, each of its key's kind; 400 ``invalid_cursor`` otherwise."""
    try:
        data = _cursor_data(cursor)
        if data.get("s") != sort_name:
            raise ValueError("cursor of another sort")
        values = data.get("v")
        if not isinstance(values, list) or len(values) != len(keys):
            raise ValueError("cursor of another sort")
        return [_READERS[k.kind](v, k) for v, k in zip(values, keys, strict=True)]
    except (ValueError, TypeError, ArithmeticError, binascii.Error) as exc:
        # ArithmeticError: decimal's InvalidOperation and the OverflowError of an instant out of
        # range; orjson.JSONDecodeError and binascii.Error are ValueErrors.
        raise _invalid_cursor() from exc


_UNTIL_KEY = SortKey(None, kind=datetime)


def cursor_until(cursor: str) -> datetime | None:
    """The watermark an ``updated_since`` read's cursor carries (None: none); 400 if unreadable."""
    try:
        value = _cursor_data(cursor).get("u")
        return None if value is None else _instant(value, _UNTIL_KEY)
    except (ValueError, TypeError, ArithmeticError, binascii.Error) as exc:
        raise _invalid_cursor() from exc


def _after(keys: Sequence[SortKey], values: Sequence[Any]) -> ColumnElement[bool]:
    """(k1, k2, …) strictly after (v1, v2, …) in the sort's own directions."""
    clauses = []
    for i, key in enumerate(keys):
        equal_prefix = [keys[j].column == values[j] for j in range(i)]
        beyond = key.column < values[i] if key.descending else key.column > values[i]
        clauses.append(and_(*equal_prefix, beyond))
    return or_(*clauses)


def paginate(
    stmt: Select[Any], keys: Sequence[SortKey], cursor: str | None, limit: int, sort_name: str
) -> Select[Any]:
    """Apply the cursor, the ordering and limit + 1 (the extra row tells whether a page follows)."""
    if cursor:
        stmt = stmt.where(_after(keys, decode_cursor(cursor, sort_name, keys)))
    order = [k.column.desc() if k.descending else k.column.asc() for k in keys]
    return stmt.order_by(*order).limit(limit + 1)


def next_cursor(
    rows: Sequence[Any],
    keys: Sequence[SortKey],
    limit: int,
    sort_name: str,
    values_of: Any,
    until: datetime | None = None,
) -> str | None:
    """The cursor after the last served row, or None when there is no further page."""
    if len(rows) <= limit:
        return None
    last = rows[limit - 1]
    return encode_cursor(sort_name, values_of(last), until)


# Statements built once per shape (app/repositories/statements.py) take the cursor's values as
# bind parameters of these names.


def _cursor_name(i: int) -> str:
    return f"cursor_{i}"


def cursor_params(keys: Sequence[SortKey], values: Sequence[Any]) -> dict[str, Any]:
    """The values of ``decode_cursor`` as the parameters of ``paginate_bound``'s statement."""
    return {_cursor_name(i): value for i, value in enumerate(values[: len(keys)])}


def paginate_bound(stmt: Select[Any], keys: Sequence[SortKey], with_cursor: bool) -> Select[Any]:
    """``paginate`` with its values as bind parameters: ``cursor_<i>`` (when ``with_cursor``)
    and ``limit`` (the page size + 1), so that one statement serves every page of a shape."""
    if with_cursor:
        bound = [bindparam(_cursor_name(i), type_=k.column.type) for i, k in enumerate(keys)]
        stmt = stmt.where(_after(keys, bound))
    order = [k.column.desc() if k.descending else k.column.asc() for k in keys]
    return stmt.order_by(*order).limit(bindparam("limit", type_=Integer))
