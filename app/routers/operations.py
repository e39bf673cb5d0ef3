"""Operations endpoints: liveness, readiness and Prometheus metrics."""

from typing import Any

from fastapi import APIRouter, Request
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.responses import Response

from app.errors import problem_response, responses
from app.services import readiness

router = APIRouter(tags=["operations"])


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


@router.get(
    "/metrics",
    operation_id="get_metrics",
    summary="Prometheus metrics",
    response_class=Response,
    responses={200: {"content": {"text/plain": {}}}},
)
async def metrics() -> Response:
    """Request counts and latencies in the Prometheus text format."""
    return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)
