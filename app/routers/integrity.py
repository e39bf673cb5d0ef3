"""Integrity flags of a project (the rules: services/integrity.py), for reviewers and
administrators; the list filter ``flag=`` is a parameter of the project list
(routers/project_params.py)."""

import uuid

from fastapi import APIRouter

from app.auth import PrincipalDep
from app.db import SessionDep
from app.errors import responses
from app.schemas.integrity import IntegrityReport
from app.services import integrity

router = APIRouter(prefix="/api/v1", tags=["projects"])


@router.get(
    "/projects/{project_id}/integrity",
    response_model=IntegrityReport,
    operation_id="get_project_integrity",
    summary="A project's integrity flags",
    responses=responses(400, 401, 403, 404, 422),
)
async def get_project_integrity(
    project_id: uuid.UUID, session: SessionDep, principal: PrincipalDep
) -> IntegrityReport:
    """Flags a reviewer should look at: outlying benefit intensity, category and industry that
    disagree, a likely duplicate, a large unverified claim; each names its rule and figures."""
    return await integrity.project_flags(session, principal, project_id)
