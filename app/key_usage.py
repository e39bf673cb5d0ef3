"""When each API key was last used, recorded at most every few minutes, never a write per request.

A request whose key has not been marked for ``EVERY`` (by the database's record, or by this
process's memory of what it has marked) notes the use here. Notes are written together, in one
short transaction of their own, ``FLUSH_AFTER`` seconds after the first unwritten one: the request
never waits for it and never needs a second connection while it holds one (requests that did let a
burst of them take the pool and wait on each other), and an embedded SQLite database sees one small
write now and then instead of one per key. The app's lifespan writes what is left before the engine
closes. A write that fails is logged and dropped: last use is news for administrators, not a record
anything relies on.
"""

import asyncio
import logging
import uuid
from contextlib import suppress
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.db import WRITE
from app.models.base import utcnow
from app.repositories import api_keys as repo

EVERY = timedelta(minutes=5)
FLUSH_AFTER = 30.0

log = logging.getLogger("climatelib.keys")


class KeyUsage:
    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self.sessions = sessions
        self.marked: dict[uuid.UUID, datetime] = {}
        self.unwritten: dict[uuid.UUID, datetime] = {}
        self.flusher: asyncio.Task[None] | None = None

    def note(self, key_id: uuid.UUID, last_used_at: datetime | None) -> None:
        now = utcnow()
        recent = max(filter(None, (last_used_at, self.marked.get(key_id))), default=None)
        if recent is not None and now - recent < EVERY:
            return
        self.marked[key_id] = now
        self.unwritten[key_id] = now
        if self.flusher is None:
            self.flusher = asyncio.create_task(self._flush_later(), name="key-last-use")

    async def _flush_later(self) -> None:
        await asyncio.sleep(FLUSH_AFTER)
        self.flusher = None
        await self.flush()

    async def flush(self) -> None:
        marks, self.unwritten = self.unwritten, {}
        if not marks:
            return
        try:
            async with self.sessions.begin() as session:
                # A write transaction like any other (app.db.WRITE): on SQLite it waits its turn
                # at the write gate and takes the lock as it begins. A DEFERRED one went around
                # the gate to wait in SQLite's busy handler, served out of turn behind a queue of
                # gated writers until its busy timeout ran out ("database is locked").
                await session.connection(execution_options=WRITE)
                for key_id, at in sorted(marks.items()):
                    await repo.mark_used(session, key_id, at, at - EVERY)
        except Exception as exc:  # a lost mark costs nothing but its own news
            log.warning("last use of %d key(s) not recorded: %s", len(marks), type(exc).__name__)

    async def drain(self) -> None:
        """Write what is noted now (at shutdown, or when a test wants to see it)."""
        if self.flusher is not None:
            self.flusher.cancel()
            with suppress(asyncio.CancelledError):
                await self.flusher
            self.flusher = None
        await self.flush()
