"""JSON a route encodes itself, bypassing pydantic: the one builder of such answers.

Only a measured hot path answers this way (see ``app/routers/__init__.py``), and a test then
validates its real answers against the route's declared ``response_model``. Replayed idempotent
answers are stored JSON and go out through here too.
"""

from collections.abc import Mapping
from typing import Any

import orjson
from starlette.responses import Response

from app.schemas.common import json_default


def json_response(
    body: Any, status_code: int = 200, headers: Mapping[str, str] | None = None
) -> Response:
    """``body`` (plain JSON values; UUIDs too) encoded once by orjson, as ``application/json``."""
    return Response(
        orjson.dumps(body, default=json_default),
        status_code=status_code,
        media_type="application/json",
        headers=headers,
    )
