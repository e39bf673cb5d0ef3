"""The anonymous read of a public list, served ahead of FastAPI's per-request machinery.

A list request from the public pays, in FastAPI, for a session and a principal dependency, the
validation of each of its query parameters on its own, and the global unknown-parameter check;
together about a quarter of its CPU (bench/README.md). ``PublicRead`` pays each of them once:

- it is a route placed first in the app's router (``install``) that takes a request only when it
  can answer it exactly as the declared route would: a GET of the route's path, with no
  ``Authorization`` header, no query parameter the route does not declare, and values that
  validate. Anything else (a key, a misspelt or invalid parameter, another method) is left to
  the declared route, so its 400 ``unknown_parameter``, its 422s, its OpenAPI parameters and its
  authenticated answers stay the ones it always gave;
- the query string is read once into one pydantic model, made at start-up from the declared
  route's own parameters (their types, constraints and aliases): a parameter added to the route
  is read here with no further edit;
- the declared route's parameter-building dependencies (``project_filters``) are called with the
  validated values, so a filter is built from its parameters in one place;
- the handler runs on a connection of its own (PostgreSQL: autocommit, no BEGIN/COMMIT round
  trips; SQLite: the read pool of sqlite3 connections, one thread hop), with no session and the
  anonymous principal.

What the handler answers goes through the same middleware as every answer (request id, rate
limits, CORS, ETag/304 in app/conditional.py).
"""

import types
import typing
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any
from urllib.parse import parse_qsl

from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute, APIRouter
from pydantic import BaseModel, ValidationError, create_model
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine
from starlette.responses import Response
from starlette.routing import BaseRoute, Match
from starlette.types import Receive, Scope, Send

from app.errors import DatabaseUnavailable, is_unavailable
from app.routers.known_query import declared_query

Handler = Callable[[AsyncConnection, dict[str, Any]], Awaitable[Response]]
_PARSED = "climatelib.public_query"


def _is_list(annotation: Any) -> bool:
    """Whether a query parameter takes repeated values (``list[X]``, ``list[X] | None``)."""
    origin = typing.get_origin(annotation)
    if origin in (list, tuple, set, frozenset):
        return True
    if origin in (typing.Union, types.UnionType):
        return any(_is_list(arg) for arg in typing.get_args(annotation))
    return False


class QueryReader:
    """A route's query string read into one model, and the keyword arguments of its endpoint.

    Built from the route's dependant: its own query parameters, and those of sub-dependencies
    that build a value from query parameters alone (called with the validated values).
    """

    def __init__(self, dependant: Dependant, name: str) -> None:
        self.known = declared_query(dependant)
        fields: dict[str, Any] = {}
        self.lists: set[str] = set()
        self.builders: list[tuple[str, Callable[..., Any], list[str]]] = []
        self.direct: list[str] = []

        def add(field: Any) -> str:
            info = field.field_info
            fields[field.name] = (info.annotation, info)
            if _is_list(info.annotation):
                self.lists.add(field.alias)
            return str(field.name)

        for field in dependant.query_params:
            self.direct.append(add(field))
        for sub in dependant.dependencies:
            if not sub.query_params or sub.call is None or sub.name is None:
                continue  # the session, the principal: not read from the query
            if sub.dependencies or sub.path_params or sub.header_params or sub.body_params:
                raise TypeError(f"{name}: {sub.name} reads more than the query string")
            self.builders.append((sub.name, sub.call, [add(f) for f in sub.query_params]))
        model: type[BaseModel] = create_model(f"{name}Query", **fields)
        self.model = model

    def read(self, query_string: bytes) -> dict[str, Any] | None:
        """The endpoint's keyword arguments, or None when the declared route must answer (an
        undeclared parameter or an invalid value: its own 400 or 422)."""
        values: dict[str, Any] = {}
        for key, value in parse_qsl(query_string.decode("latin-1"), keep_blank_values=True):
            if key not in self.known:
                return None
            if key in self.lists:
                values.setdefault(key, []).append(value)
            else:
                values[key] = value  # as Starlette's query params: the last one given
        try:
            parsed = self.model.model_validate(values)
        except ValidationError:
            return None
        data = parsed.__dict__
        kwargs = {name: data[name] for name in self.direct}
        for name, call, params in self.builders:
            try:
                kwargs[name] = call(**{p: data[p] for p in params})
            except Exception:  # a builder's own refusal (e.g. a malformed bbox): the route's
                return None
        return kwargs


class PublicRead(BaseRoute):
    """The public GET of one declared route (see the module's docstring)."""

    include_in_schema = False

    def __init__(
        self,
        declared: APIRoute,
        handler: Handler,
        takes: Callable[[dict[str, Any]], bool] = lambda kwargs: True,
    ) -> None:
        """``takes`` may leave a valid request to the declared route (one whose answer depends
        on who asks, such as a filter only some keys may use)."""
        self.takes = takes
        self.path = declared.path
        self.path_format = declared.path
        self.name = f"{declared.name}_public"
        self.reader = QueryReader(declared.dependant, declared.name)
        self.handler = handler

    def matches(self, scope: Scope) -> tuple[Match, Scope]:
        if scope["type"] != "http" or scope["method"] != "GET" or scope["path"] != self.path:
            return Match.NONE, {}
        for key, _ in scope["headers"]:
            if key == b"authorization":
                return Match.NONE, {}
        kwargs = self.reader.read(scope.get("query_string", b""))
        if kwargs is None or not self.takes(kwargs):
            return Match.NONE, {}
        return Match.FULL, {"route": self, "endpoint": self.handler, _PARSED: kwargs}

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        engine: AsyncEngine = scope["app"].state.engine
        async with read_connection(engine) as connection:
            response = await self.handler(connection, scope[_PARSED])
        await response(scope, receive, send)

    def url_path_for(self, name: str, /, **path_params: Any) -> Any:
        raise NotImplementedError


@asynccontextmanager
async def read_connection(engine: AsyncEngine) -> AsyncIterator[AsyncConnection]:
    """A connection for one read outside any session. PostgreSQL: in autocommit (each
    statement its own snapshot, no BEGIN/COMMIT round trips). SQLite: not started, so that the
    list's statement runs on the read pool of app/repositories/sqlite_reads.py; it is opened
    (BEGIN, ROLLBACK) only if a statement needs SQLAlchemy. A database that cannot serve now
    answers 503, as a session's read does (app/db.py)."""
    try:
        if engine.dialect.name == "postgresql":
            async with _autocommit(engine) as connection:
                yield connection
            return
        lazy = AsyncConnection(engine)
        try:
            yield lazy
        finally:
            if lazy.sync_connection is not None:
                await lazy.close()
    except Exception as exc:
        if not is_unavailable(exc):
            raise
        raise DatabaseUnavailable(
            "The database is unavailable for a moment; retry the request.",
            headers={"Retry-After": "1"},
        ) from exc


_AUTOCOMMIT: dict[int, AsyncEngine] = {}


def _autocommit(engine: AsyncEngine) -> Any:
    option_engine = _AUTOCOMMIT.get(id(engine))
    if option_engine is None or option_engine.sync_engine.pool is not engine.sync_engine.pool:
        option_engine = engine.execution_options(isolation_level="AUTOCOMMIT")
        _AUTOCOMMIT[id(engine)] = option_engine
    return option_engine.connect()


def declared_route(router: APIRouter, endpoint: Callable[..., Any]) -> APIRoute:
    for route in router.routes:
        if isinstance(route, APIRoute) and route.endpoint is endpoint:
            return route
    raise LookupError(f"no route of {endpoint.__name__}")


def install(app: Any, reads: list[PublicRead]) -> None:
    """Put the public reads first in the app's router: they are tried before FastAPI's routes."""
    app.router.routes[0:0] = reads
    mark = getattr(app.router, "_mark_routes_changed", None)
    if mark is not None:
        mark()
