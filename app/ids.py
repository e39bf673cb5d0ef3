"""Row ids: time-ordered UUIDs (version 7, RFC 9562).

A UUID4 key takes each insert at a random place in its B-tree, so a bulk import dirties ever
more distinct index pages per chunk as the table grows (SQLite's commit and checkpoint copy
them all). A version-7 id leads with its millisecond timestamp: new rows land at the right
edge of the primary key and of every index that ends in the id (``(object_id, id)`` in the
audit store, ``(created_at, id)``), on both databases (PostgreSQL's ``uuid`` and SQLite's hex
text both compare in byte order). The timestamp says when the row was made, which the rows
this mints already publish as ``created_at``.

Ids minted earlier are UUID4s and stay valid: nothing reads a version or a time out of an id.
"""

import uuid

import uuid_utils.compat


def new_id() -> uuid.UUID:
    """A new id: a standard ``uuid.UUID`` of version 7, greater than every id this process
    minted before (a counter below the millisecond keeps ids of the same millisecond ordered)."""
    return uuid_utils.compat.uuid7()
