"""Stats endpoints (filled in by its issue)."""

from fastapi import APIRouter

router = APIRouter(prefix="/api/v1", tags=["stats"])
