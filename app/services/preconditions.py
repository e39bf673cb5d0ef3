"""Conditional writes: a PATCH or transition carries, as ``If-Match``, the ETag of what it read."""

from app.errors import PreconditionFailed, PreconditionRequired


def check_if_match(current: str, if_match: str | None, noun: str) -> None:
    """Missing → 428, stale → 412 naming the current ETag. ``current`` is the quoted strong
    ETag; a sent tag matches with or without ``W/`` and quotes, and ``*`` matches any."""
    if if_match is None:
        raise PreconditionRequired(
            f"Send If-Match with the {noun}'s ETag ({current}).", code="if_match_required"
        )
    tags = [t.strip().removeprefix("W/").strip('"') for t in if_match.split(",")]
    if "*" not in tags and current.strip('"') not in tags:
        raise PreconditionFailed(
            f"The {noun} changed since that ETag; the current one is {current}.",
            code="stale_etag",
            headers={"ETag": current},
        )
