"""Opaque keyset cursors: a page never skips or repeats a row while others write.

A cursor holds the sort values of the last row served (and the sort it belongs to); the next page
starts strictly after them. Ordering always ends on the primary key, so it is total.
"""

import base64
import binascii
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

import orjson
from sqlalchemy import ColumnElement, Select, and_, or_

from app.errors import BadRequest, field_error


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


def _decode_value(value: Any, kind: type) -> Any:
    if value is None:
        return None
    if kind is datetime:
        return datetime.fromisoformat(value)
    if kind is uuid.UUID:
        return uuid.UUID(value)
    if kind is Decimal:
        return Decimal(value)
    return kind(value)


def encode_cursor(sort_name: str, values: Sequence[Any]) -> str:
    raw = orjson.dumps({"s": sort_name, "v": [_encode_value(v) for v in values]})
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str, sort_name: str, keys: Sequence[SortKey]) -> list[Any]:
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        data = orjson.loads(base64.urlsafe_b64decode(padded))
        if data["s"] != sort_name or len(data["v"]) != len(keys):
            raise ValueError("cursor of another sort")
        return [_decode_value(v, k.kind) for v, k in zip(data["v"], keys, strict=True)]
    except (ValueError, KeyError, TypeError, binascii.Error, orjson.JSONDecodeError) as exc:
        raise BadRequest(
            "The cursor is not one this list gave out (or belongs to another sort).",
            code="invalid_cursor",
            errors=[field_error(["query", "cursor"], "invalid_cursor", "Unreadable cursor.")],
        ) from exc


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
    rows: Sequence[Any], keys: Sequence[SortKey], limit: int, sort_name: str, values_of: Any
) -> str | None:
    """The cursor after the last served row, or None when there is no further page."""
    if len(rows) <= limit:
        return None
    last = rows[limit - 1]
    return encode_cursor(sort_name, values_of(last))
