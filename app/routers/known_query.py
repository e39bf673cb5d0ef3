"""Unknown query parameters answer 400 ``unknown_parameter`` on every route.

FastAPI ignores a query parameter no route declares, so a misspelt filter (``?pilot=…``,
``?categroy=M2``) would silently list everything. ``reject_unknown_query`` is installed once, as a
global dependency of the app, and compares the query string with what the matched route declares
(its own parameters and its dependencies', by their aliases). The names come from the route's
dependency tree (a walk of a few nodes, only when a query string is sent), so a filter is known as
soon as it is declared and no list of names is kept beside the routes.
"""

from fastapi import Request
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute
from pydantic import BaseModel

from app.errors import BadRequest, field_error


def declared_query(dependant: Dependant) -> frozenset[str]:
    """The query parameter names ``dependant`` and its sub-dependencies read."""
    names: set[str] = set()
    pending = [dependant]
    while pending:
        current = pending.pop()
        for field in current.query_params:
            model = field.field_info.annotation
            if isinstance(model, type) and issubclass(model, BaseModel):
                # A query parameter model: each of its fields is a parameter.
                names.update(f.alias or name for name, f in model.model_fields.items())
            else:
                names.add(field.alias)
        pending.extend(current.dependencies)
    return frozenset(names)


async def reject_unknown_query(request: Request) -> None:
    """400 naming every query parameter the matched route does not declare."""
    route = request.scope.get("route")
    if not isinstance(route, APIRoute) or not request.query_params:
        return
    unknown = sorted(set(request.query_params.keys()) - declared_query(route.dependant))
    if unknown:
        names = ", ".join(repr(name) for name in unknown)
        raise BadRequest(
            f"Unknown query parameter(s): {names}.",
            code="unknown_parameter",
            errors=[
                field_error(["query", name], "unknown_parameter", "Not a parameter of this route.")
                for name in unknown
            ],
        )
