"""Operations endpoints: liveness, readiness and Prometheus metrics."""

import hmac
import os
from typing import Any

from fastapi import APIRouter, Request
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest, multiprocess
from starlette.responses import HTMLResponse, Response

from app.db import SessionDep
from app.errors import problem_response, responses
from app.schemas.front_page import FrontPage
from app.services import front_page, readiness

router = APIRouter(tags=["operations"])


@router.get(
    "/",
    response_model=FrontPage,
    operation_id="get_index",
    summary="What this service is, and where to go",
    responses={200: {"content": {"text/html": {"schema": {"type": "string"}}}}},
)
async def index(request: Request, session: SessionDep) -> Any:
    """For API clients a JSON index (version, links, live figures); for a browser (``Accept:
    text/html``) the same as a small page."""
    page = await front_page.front_page(session)
    if "text/html" in request.headers.get("accept", ""):
        return HTMLResponse(
            front_page.as_html(page),
            headers={"Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'"},
        )
    return page


@router.get("/healthz", operation_id="get_health", summary="Liveness")
async def healthz() -> dict[str, str]:
    """Answer while the process is alive."""
    return {"status": "ok"}


@router.get("/readyz", operation_id="get_readiness", summary="Readiness", responses=responses(503))
async def readyz(request: Request) -> Any:
    """Answer 200 when the database answers and its schema is at the latest migration."""
    problem = await readiness.check(request.app.state.engine)
    if problem is not None:
        return problem_response(
            503, "not_ready", "Not ready", problem, headers={"Retry-After": "1"}, request=request
        )
    return {"status": "ready"}


def _exposition() -> bytes:
    directory = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if not directory:
        return generate_latest()
    # `climatelib serve --workers N`: every worker's counts, summed, whichever worker answers.
    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry, path=directory)  # type: ignore[no-untyped-call]
    return generate_latest(registry)


def _token_matches(header: str | None, token: str) -> bool:
    scheme, _, given = (header or "").partition(" ")
    return scheme.lower() == "bearer" and hmac.compare_digest(given.encode(), token.encode())


@router.get(
    "/metrics",
    operation_id="get_metrics",
    summary="Prometheus metrics",
    response_class=Response,
    responses={200: {"content": {"text/plain": {}}}, **responses(401)},
)
async def metrics(request: Request) -> Response:
    """Request counts and latencies in the Prometheus text format, over every worker process.
    With ``CLIMATELIB_METRICS_TOKEN`` set, only for ``Authorization: Bearer <that token>``."""
    token = request.app.state.settings.metrics_token
    if token and not _token_matches(request.headers.get("authorization"), token):
        return problem_response(
            401,
            "metrics_token_required",
            "Unauthorized",
            "The metrics need 'Authorization: Bearer <CLIMATELIB_METRICS_TOKEN>'.",
            headers={"WWW-Authenticate": "Bearer"},
            request=request,
        )
    return Response(_exposition(), media_type=CONTENT_TYPE_LATEST)
