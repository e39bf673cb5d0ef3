"""Query parameter types the routers share, so that a value is read the same way on every route.

``Instant``: an ISO 8601 timestamp (or a date, read as its midnight) as an aware UTC instant. The
API's timestamps are UTC, so one without a zone is read as UTC; one whose UTC instant falls outside
years 1–9999 cannot be stored or compared by either database and is refused (422
``datetime_out_of_range``), like any other malformed value, before a query is built.
"""

from datetime import UTC, datetime
from typing import Annotated

from pydantic import AfterValidator
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


Instant = Annotated[datetime, AfterValidator(utc_instant)]
