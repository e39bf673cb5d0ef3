"""The ``If-Match`` header of a conditional write, as every such route declares it; the check
itself is app/services/preconditions.py (428 without it, 412 when stale)."""

from typing import Annotated

from fastapi import Header

IfMatch = Annotated[
    str | None,
    Header(
        alias="If-Match",
        description=(
            "The ETag of the object this write is based on, as its GET answered it (required), "
            'e.g. "3" for a project.'
        ),
    ),
]
