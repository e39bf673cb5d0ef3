"""The project list's filters as a plain value: routers build it, repositories turn it into SQL."""

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from app.models.project import ConstructionStatus, Objective, ProjectStatus, TwoHighOutcome


@dataclass(frozen=True, slots=True)
class BBox:
    """A box of WGS 84 degrees in RFC 7946's order: west, south, east, north."""

    min_lon: float
    min_lat: float
    max_lon: float
    max_lat: float


@dataclass(frozen=True)
class ProjectFilters:
    """The list's filters, as the caller states them (codes, not storage masks); the list and
    the export take them alike. Each one given narrows the list; a list filter matches any of."""

    status: list[ProjectStatus] | None = None
    objective: list[Objective] | None = None
    categories: Sequence[str] | None = None
    region_code: str | None = None
    pilot_id: uuid.UUID | None = None
    industry_code: str | None = None
    construction_status: list[ConstructionStatus] | None = None
    financing_types: Sequence[str] | None = None
    need_min: Decimal | None = None
    need_max: Decimal | None = None
    two_high: bool | None = None
    two_high_outcome: list[TwoHighOutcome] | None = None
    two_high_transition: bool | None = None
    q: str | None = None
    updated_since: datetime | None = None
    # Projects whose location lies in the box (app/repositories/places.py); none without one.
    bbox: BBox | None = None
    # An integrity flag code (reviewers and administrators: app/services/integrity.py).
    flag: str | None = None
    # Set by the read itself, never by the caller: the watermark of an updated_since read
    # (app/repositories/feed.py), fixed for all its pages.
    updated_until: datetime | None = None
    # Set by the read itself: what the flag's WHERE clause needs, computed once per read
    # (app/repositories/integrity.py, FlagBasis).
    flag_basis: Any = None
