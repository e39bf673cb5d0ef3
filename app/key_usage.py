"""When each API key was last used, recorded at most every few minutes, never a write per request.

A request whose key has not been marked for ``EVERY`` (by the database's record, and by this
process's own memory of what it has marked) hands the mark to a background task that writes it in
a session of its own. The request never waits for it, and never needs a second connection while
it holds one (a request that did would let a burst of them take the pool and wait on each other).
The app's lifespan drains the pending marks before the engine is closed. A mark that fails is
logged and dropped: it is a convenience for administrators, not a record anything relies on.
"""

import asyncio
import logging
import uuid
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.models.base import utcnow
from app.repositories import api_keys as repo

EVERY = timedelta(minutes=5)

log = logging.getLogger("climatelib.keys")


class KeyUsage:
    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self.sessions = sessions
        self.marked: dict[uuid.UUID, datetime] = {}
        self.pending: set[asyncio.Task[None]] = set()

    def note(self, key_id: uuid.UUID, last_used_at: datetime | None) -> None:
        now = utcnow()
        recent = max(filter(None, (last_used_at, self.marked.get(key_id))), default=None)
        if recent is not None and now - recent < EVERY:
            return
        self.marked[key_id] = now
        task = asyncio.create_task(self._mark(key_id, now), name="key-last-use")
        self.pending.add(task)
        task.add_done_callback(self.pending.discard)

    async def _mark(self, key_id: uuid.UUID, now: datetime) -> None:
        try:
            async with self.sessions.begin() as session:
                await repo.mark_used(session, key_id, now, now - EVERY)
        except Exception as exc:  # a lost mark costs nothing but its own news
            log.warning("last use of a key not recorded: %s", type(exc).__name__)

    async def drain(self) -> None:
        if self.pending:
            await asyncio.gather(*self.pending, return_exceptions=True)
