"""Where an ``updated_since`` feed may read up to: the watermark below which no change can still
commit (docs/architecture.md, *Change feeds*).

``updated_at`` is the database's stamp (``db_now``), taken while the writing transaction is
under way, so a change can commit after another one stamped later. A reader that handed out the
largest stamp it served as the next position would skip such a change for good. The watermark
``W`` is the bound of one read instead: every change stamped before ``W`` has committed (and is
in this read's snapshot), changes stamped after ``W`` are left to the next read, and the client's
next ``updated_since`` is ``W``.

- PostgreSQL: the oldest ``xact_start`` among this database's sessions holding a transaction id,
  capped at ``now()``, less one microsecond (the stamps' resolution): a writer that stamped
  earlier than ``now()`` had its id before it did, so it is either listed (and ``W`` is below its
  start, hence below its stamps) or has finished before the next statement's snapshot. The
  feed's rows are read by a later statement than this one, so in a snapshot taken after it.
- SQLite: the largest stamp in the table, read in the same snapshot as the rows. One writer at a
  time: a transaction that commits after this snapshot took the write lock after every
  transaction in it had committed, so its stamps are at least that large. It may share the last
  millisecond, which is why a row stamped exactly ``W`` can come again in the next read.
"""

import logging
from datetime import datetime
from typing import Any

from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncConnection

from app.models.base import UTCDateTime

log = logging.getLogger("climatelib.feed")

# pg_stat_activity shows another role's sessions with their transaction id but without their
# xact_start (unless the reader has pg_read_all_stats): such a writer could stamp anything, so
# the read then passes nothing (NULL: the client's own position) rather than guess.
_OLDEST_WRITER = text(
    "SELECT CASE WHEN bool_or(xact_start IS NULL) THEN NULL "
    "ELSE least(now(), min(xact_start)) - interval '1 microsecond' END AS until "
    "FROM pg_stat_activity WHERE datname = current_database() AND backend_xid IS NOT NULL"
).columns(until=UTCDateTime())
_warned = False


async def updated_until(connection: AsyncConnection, stamp: Any, since: datetime) -> datetime:
    """The watermark of a feed read on ``stamp`` (a table's ``updated_at`` column) from ``since``:
    every change stamped before it has committed; never below ``since``, the client's own
    position. Run it before the statement that reads the rows."""
    if connection.sync_connection is None:  # a public read's connection, opened when needed
        await connection.start()
    if connection.dialect.name == "postgresql":
        until = (await connection.execute(_OLDEST_WRITER)).scalar_one()
        if until is None:
            _warn_hidden_writers()
    else:
        until = (await connection.execute(select(func.max(stamp)))).scalar_one()
    return since if until is None or until < since else until


def _warn_hidden_writers() -> None:
    global _warned
    if not _warned:
        _warned = True
        log.warning(
            "updated_since reads cannot move on: pg_stat_activity hides the start of another "
            "role's transactions; connect every process with the same role"
        )
