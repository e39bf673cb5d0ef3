"""Project–product matching (对接): criteria, the vectorised engine, its cache, the workflows."""

from app.services.matching.service import rematch_all

__all__ = ["rematch_all"]
