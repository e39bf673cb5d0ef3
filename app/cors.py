"""CORS for browser front ends on other origins (Starlette's middleware), with a refused
preflight answered in the project's problem format instead of a line of plain text."""

import orjson
from starlette.datastructures import Headers
from starlette.middleware import cors
from starlette.responses import Response

from app.errors import PROBLEM_MEDIA_TYPE, problem
from app.observability import request_id_var

_REFUSED_PREFIX = "Disallowed CORS "


class CORSMiddleware(cors.CORSMiddleware):
    def preflight_response(self, request_headers: Headers) -> Response:
        answer = super().preflight_response(request_headers)
        if answer.status_code != 400:
            return answer
        refused = bytes(answer.body).decode().removeprefix(_REFUSED_PREFIX)
        body = problem(
            400,
            "cors_refused",
            "Bad request",
            f"This cross-origin request is not allowed: its {refused} (see the CORS settings).",
            request_id=request_id_var.get(),
        )
        headers = {
            name: value
            for name, value in answer.headers.items()
            if name not in ("content-type", "content-length")
        }
        return Response(orjson.dumps(body), 400, headers=headers, media_type=PROBLEM_MEDIA_TYPE)
