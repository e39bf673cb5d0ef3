"""Query parameter types the routers share, so that a value is read the same way on every route.

``Instant``: an ISO 8601 timestamp (or a date, read as its midnight) as an aware UTC instant. The
API's timestamps are UTC, so one without a zone is read as UTC; one whose UTC instant falls outside
years 1–9999 cannot be stored or compared by either database and is refused (422
``datetime_out_of_range``), like any other malformed value, before a query is built. A bare
number is refused too (422 ``datetime_parsing``): pydantic would read it as Unix seconds, which the
document (``format: date-time``) does not offer.
"""

import re
from datetime import UTC, datetime
from typing import Annotated, Any

from pydantic import AfterValidator, BeforeValidator
from pydantic_core import PydanticCustomError


def utc_instant(value: datetime) -> datetime:
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    try:
        return value.astimezone(UTC)
    except OverflowError as exc:
        raise PydanticCustomError(
            "datetime_out_of_range",
            "The instant must fall within the years 1 to 9999 in UTC.",
        ) from exc


_NUMBER = re.compile(r"\s*[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?\s*")


def not_a_number(value: Any) -> Any:
    if isinstance(value, int | float) or (isinstance(value, str) and _NUMBER.fullmatch(value)):
        raise PydanticCustomError(
            "datetime_parsing", "Write the instant in ISO 8601, e.g. 2026-12-04T08:00:00Z."
        )
    return value


Instant = Annotated[datetime, BeforeValidator(not_a_number), AfterValidator(utc_instant)]


# The updated_since feeds (projects, pilots, the export) and the watermark they answer with.
UPDATED_UNTIL = "X-Updated-Until"
UPDATED_SINCE_DOC = (
    "Changed at or after this instant (ISO 8601). For syncing: pass the previous read's "
    f"`{UPDATED_UNTIL}` answer header, not the largest `updated_at` seen (a change may commit "
    "after a later one and carry the earlier time)."
)
UPDATED_UNTIL_DOC = {
    UPDATED_UNTIL: {
        "description": (
            "Only with `updated_since`: this read's watermark, the same on every page of it. "
            "The read holds the matching rows changed from `updated_since` up to this instant, "
            "and every change made before it has committed; changes at or after it, including "
            "any still committing, come with the next read. Pass it as the next "
            "`updated_since` (a row changed exactly at it may come twice)."
        ),
        "schema": {"type": "string", "format": "date-time"},
    }
}


def updated_until_header(until: datetime | None) -> dict[str, str]:
    return {} if until is None else {UPDATED_UNTIL: until.isoformat()}
