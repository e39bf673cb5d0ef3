"""The audit trail's hash chain (docs/architecture.md, *Audit trail*): sealed after commit, so
writers never wait on it, and checked by ``climatelib audit verify``.

Writers append events as before; each gets its id from the database when it is written. A
*sealer* links the committed events in id order, one link per event in ``audit_seals``::

    hash = H(previous link's hash (hex, ASCII) + the event's canonical JSON)

starting from ``GENESIS``, with H = SHA-256 or SM3 (``CLIMATELIB_AUDIT_HASH``); each link names
its algorithm, so a change of setting applies from the next link on and the chain stays
checkable. The canonical JSON of an event is defined once, in ``canonical``.

One sealer at a time across processes: on PostgreSQL a transaction-level advisory lock taken
without waiting (a second sealer simply does nothing this round), on SQLite the write
transaction. Every serve process runs one (``Sealer.start``), each ``audit_seal_interval_s``;
tests call ``Sealer.seal`` directly.

*Gaps.* On PostgreSQL ids come from a sequence when the insert runs, so a lower id may commit
after a higher one, and a rolled-back insert leaves an id that never commits. The sealer seals
contiguous ids only. When the next id is missing, it notes (in this process's memory) the
database clock just after it saw the gap; every transaction that could still write that id began
before then (it took the id before a later one committed). Once no transaction that began by
then is still running (``pg_stat_activity``), it reads again: the ids that committed meanwhile
are sealed, those still missing never will be and are passed over. A long transaction delays
the passing of a gap, never the sealing of contiguous events. On SQLite writers are serialised
and each takes ids above every committed one, so in the snapshot the sealer reads every missing
id is final.

*Locks held briefly.* The sealer reads and hashes a batch in a read transaction, then takes its
lock (on SQLite the database's one write lock) only to check the head has not moved and insert
the links; if it moved, another sealer got there first and this round ends.
"""

import asyncio
import hashlib
import json
import logging
import uuid
from collections.abc import Mapping
from contextlib import suppress
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.errors import is_unavailable
from app.models.base import utcnow
from app.repositories import audit as repo

GENESIS = "0" * 64
ALGORITHMS = ("sha256", "sm3")
BATCH = 500  # links per read when verifying
# Events per sealing transaction. An import writes over a thousand events a second; at 500 a
# batch the sealer ran several transactions a second, each with its lock, head read and commit.
SEAL_BATCH = 5_000
_WRITE = {"sqlite_begin": "IMMEDIATE"}  # SQLite: take the write lock up front

log = logging.getLogger("climatelib.audit")


class AlgorithmUnavailable(RuntimeError):
    """The configured hash is not one this Python's OpenSSL provides."""


def check_algorithm(name: str) -> str:
    """``name`` if it can hash here; otherwise a clear refusal (at start, not at the first seal)."""
    if name not in ALGORITHMS:
        raise AlgorithmUnavailable(f"audit hash {name!r}: expected one of {', '.join(ALGORITHMS)}")
    try:
        hashlib.new(name)
    except ValueError as exc:
        raise AlgorithmUnavailable(
            f"CLIMATELIB_AUDIT_HASH={name}: this Python's OpenSSL does not provide {name}; "
            "install an OpenSSL that does (1.1.1 or later with SM3 enabled) or use sha256"
        ) from exc
    return name


def _plain(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat(timespec="microseconds")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Decimal | uuid.UUID):
        return str(value)
    raise TypeError(f"not canonical: {type(value).__name__}")


# What json.dumps writes by itself (it calls ``default`` for anything else).
_JSON_NATIVE = (str, int, float, dict, list, tuple, type(None))


def canonical(event: Mapping[Any, Any]) -> bytes:
    """The event's canonical JSON: every column of ``audit_events`` by name, keys sorted at every
    level, no whitespace, UTF-8 (not escaped); times as ISO 8601 in UTC with microseconds, ids,
    decimals and dates as strings; JSON values as stored."""
    document = {}
    for name in repo.event_columns():
        value = event[name]
        # The columns' own types (times, ids) made plain here rather than through ``default``:
        # the same text, without a Python call back from the encoder per value. The sealer
        # hashes every event an import writes, in the import's process.
        if not isinstance(value, _JSON_NATIVE):
            value = _plain(value)
        document[name] = value
    return json.dumps(
        document, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=_plain
    ).encode()


def link(previous: str, event: Mapping[Any, Any], algorithm: str) -> str:
    """The hash of the link that seals ``event`` after the link ``previous`` (hex)."""
    digest = hashlib.new(algorithm)
    digest.update(previous.encode("ascii"))
    digest.update(canonical(event))
    return digest.hexdigest()


@dataclass
class Sealer:
    """Seals committed events into the chain; ``seal`` is one round, ``start`` runs rounds."""

    sessions: async_sessionmaker[AsyncSession]
    algorithm: str = "sha256"
    interval_s: float = 1.0
    # Gaps seen (the missing id) and the database clock just after each was first seen.
    gaps: dict[int, datetime] = field(default_factory=dict)
    stopping: asyncio.Event = field(default_factory=asyncio.Event)
    task: asyncio.Task[None] | None = None

    def __post_init__(self) -> None:
        check_algorithm(self.algorithm)

    async def seal(self) -> int:
        """Seal what has committed (below any gap still in flight); how many events it sealed.

        Each batch is read and hashed in a read transaction of its own, then written in a short
        write transaction that holds the sealer's lock only to check the head has not moved and
        insert the links: on SQLite that lock is the database's one write lock, which an import
        or a batch request is waiting for meanwhile (docs/architecture.md, *Audit trail*).
        """
        total = 0
        while True:
            async with self.sessions() as session:
                head = await repo.head_link(session)
                seals, last_id, more = await self._link_batch(session, head)
            if not seals:
                return total  # nothing new: no lock, no write transaction
            async with self.sessions() as session:
                await session.connection(execution_options=_WRITE)
                if not await repo.take_sealer_lock(session):
                    return total  # another process is sealing right now
                if await repo.head_link(session) != head:
                    return total  # another process sealed meanwhile: next round starts there
                await repo.add_seals(session, seals)
                await session.commit()
            for gap in [g for g in self.gaps if g <= last_id]:
                del self.gaps[gap]
            total += len(seals)
            if not more:
                return total

    async def _link_batch(
        self, session: AsyncSession, head: tuple[int, str] | None
    ) -> tuple[list[dict[str, Any]], int, bool]:
        """The links of up to ``SEAL_BATCH`` committed events after ``head``: (the links, the last
        event id they reach, whether to go on). Writes nothing.

        On SQLite the events are read from one snapshot (WAL): writers are serialised and each
        takes ids above every committed one, so an id missing below the largest one seen
        never commits (a rolled-back insert) and is passed over, as it was when this ran under
        the write lock. The write transaction then only checks the head is still ``head``.
        """
        last_id, last_hash = head if head else (0, GENESIS)
        passed: set[int] = set()  # missing ids found final in this batch
        seals: list[dict[str, Any]] = []
        now = utcnow()
        algorithm = self.algorithm
        blocked = False
        while len(seals) < SEAL_BATCH and not blocked:
            rows = await repo.events_after(session, last_id, SEAL_BATCH - len(seals))
            # End the read transaction before hashing: on SQLite an open snapshot holds back
            # the WAL checkpoint while an import writes, and every later read pays for it.
            await session.commit()
            if not rows:
                break
            again = False
            for row in rows:
                missing = last_id + 1
                if row["id"] != missing and missing not in passed:
                    if await self._gap_is_final(session, missing):
                        passed.add(missing)
                        again = True  # read again: what was in flight may have committed
                    else:
                        blocked = True
                    break
                last_hash = link(last_hash, row, algorithm)
                last_id = row["id"]
                seals.append(
                    {
                        "event_id": last_id,
                        "hash": last_hash,
                        "algorithm": algorithm,
                        "sealed_at": now,
                    }
                )
            if not again and len(rows) < SEAL_BATCH:
                break
        return seals, last_id, len(seals) == SEAL_BATCH and not blocked

    async def _gap_is_final(self, session: AsyncSession, missing: int) -> bool:
        """Whether no transaction that could still commit event ``missing`` is running."""
        if session.get_bind().dialect.name != "postgresql":
            return True  # writers are serialised: see _link_batch
        seen = self.gaps.get(missing)
        if seen is None:
            seen = self.gaps[missing] = await repo.clock(session)
        oldest = await repo.oldest_transaction_start(session)
        return oldest is None or oldest > seen

    def start(self) -> None:
        self.task = asyncio.create_task(self._loop(), name="audit-sealer")

    async def stop(self) -> None:
        """Stop after the round in progress."""
        self.stopping.set()
        if self.task is not None:
            with suppress(asyncio.CancelledError):
                await self.task

    async def _loop(self) -> None:
        while not self.stopping.is_set():
            try:
                await self.seal()
            except Exception as exc:  # the loop outlives any one failure
                if is_unavailable(exc):
                    log.warning("audit sealer: database unavailable: %s", type(exc).__name__)
                else:
                    log.exception("audit sealer failed")
            with suppress(TimeoutError):
                await asyncio.wait_for(self.stopping.wait(), self.interval_s)


# ---- verify ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Verdict:
    """What ``verify`` found: how many links it checked, the head, what waits to be sealed, and
    the first broken event (its id and what differs), if any."""

    checked: int
    head_id: int
    algorithms: tuple[str, ...]
    unsealed: int
    broken_id: int | None = None
    problem: str | None = None

    @property
    def ok(self) -> bool:
        return self.broken_id is None


async def verify(session: AsyncSession) -> Verdict:
    """Recompute the chain from the events as stored now, link by link, in id order."""
    previous, last_id, checked = GENESIS, 0, 0
    used: set[str] = set()

    def broken(event_id: int, problem: str) -> Verdict:
        return Verdict(checked, last_id, tuple(sorted(used)), 0, event_id, problem)

    while True:
        rows = await repo.chain_after(session, last_id, BATCH)
        for row in rows:
            event_id, stored, algorithm = (
                row["seal_event_id"],
                row["seal_hash"],
                row["seal_algorithm"],
            )
            if row["id"] is None:
                return broken(event_id, "it is sealed but no longer in the store (deleted)")
            try:
                check_algorithm(algorithm)
            except AlgorithmUnavailable as exc:
                return broken(event_id, f"its link cannot be recomputed here: {exc}")
            expected = link(previous, row, algorithm)
            if expected != stored:
                return broken(
                    event_id,
                    f"its {algorithm} link does not match: stored {stored}, recomputed {expected} "
                    "from the event as stored now and the link before it (the event or its "
                    "seal was changed after sealing)",
                )
            previous, last_id, checked = stored, event_id, checked + 1
            used.add(algorithm)
        if len(rows) < BATCH:
            break
    stray = await repo.first_unsealed_below(session, last_id)
    if stray is not None:
        return broken(
            stray,
            f"it lies below the head (event {last_id}) but is not in the chain (inserted "
            "after its place was sealed)",
        )
    unsealed = await repo.count_after(session, last_id)
    return Verdict(checked, last_id, tuple(sorted(used)), unsealed)
