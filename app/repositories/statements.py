"""Statements built once per shape and reused: the read path of the lists.

A list request states values (filters, a cursor, a page size), but its statement depends only on
the request's *shape*: which filters are given (and how many values a list filter has), the
sort, whether a cursor is given, and the caller's visibility. Building a 40-column select with
its clauses cost more than running the indexed query, so each shape's statement is built once,
with bind parameters, and later requests only bind their values. A reused statement also keeps
its compiled form in SQLAlchemy's compiled cache (its cache key is memoised on the object), so
neither construction nor compilation is paid per request.

A list's repository describes each filter as a ``Term``; ``Statements`` keeps the statements.
"""

from collections.abc import Callable, Hashable
from dataclasses import dataclass
from threading import Lock
from typing import Any

from sqlalchemy import ColumnElement, Select


@dataclass(frozen=True, slots=True)
class Term:
    """One condition of a list's WHERE clause: ``shape`` says what its statement depends on,
    ``params`` its values by bind parameter name, and ``build`` makes its clause, with bind
    parameters of those names (called only when a statement of a new shape is built)."""

    shape: Hashable
    params: dict[str, Any]
    build: Callable[[], ColumnElement[bool]]

    def clause(self) -> ColumnElement[bool]:
        return self.build()


class Statements:
    """A list's statements by shape. Bounded: shapes are few (the filters a client combines, the
    keys' visibilities), and past ``limit`` the cache starts afresh rather than grow."""

    def __init__(self, name: str, limit: int = 2048) -> None:
        self.name = name
        self.limit = limit
        self._by_shape: dict[Hashable, Select[Any]] = {}
        self._lock = Lock()

    def get(self, shape: Hashable, build: Callable[[], Select[Any]]) -> Select[Any]:
        stmt = self._by_shape.get(shape)
        if stmt is None:
            stmt = build()
            with self._lock:
                if len(self._by_shape) >= self.limit:
                    self._by_shape.clear()
                self._by_shape[shape] = stmt
        return stmt

    def __len__(self) -> int:
        return len(self._by_shape)
