"""The webhook delivery worker: fans the outbox out to subscriptions, works out ``match.new``,
and delivers, signed, with retries (docs/architecture.md, *Webhooks*).

One worker runs as an asyncio task in every server process (started and stopped by the app's
lifespan; ``CLIMATELIB_WEBHOOK_WORKER=false`` leaves a process without one). It wakes when a
transaction of its own process that wrote events commits, and otherwise polls. Each round:

1. **Fan-out.** The oldest events not yet fanned out are read ``FOR UPDATE SKIP LOCKED`` (SQLite:
   under the write lock) and, in that one transaction, turned into one delivery per subscription
   that may hear each (its key still valid, its role and scope reading what the event is about)
   and marked fanned out. A ``match.check`` entry is worked out here instead (below).
2. **Delivery.** Due deliveries are leased to this worker (a conditional UPDATE; a lease that ran
   out is taken again, so a delivery survives the death of its worker) and POSTed concurrently,
   each signed per Standard Webhooks, to an address resolved and vetted again just before, with a
   timeout and no redirects followed. A 2xx settles it; anything else is retried with exponential
   backoff and jitter until ``retry_until`` (24 h), then it is ``failed``. Every try is logged.
   Delivery is at least once: a worker that dies after sending and before recording sends again
   (receivers deduplicate by ``webhook-id``).

``match.new``: a changed library project is matched, as one row, against every active product
twice, as it is now and as ``match.new`` last saw it (``webhook_match_state``); the products that
accept it now and did not then newly match (a newly approved project: all that accept it; one never
seen before an edit: none, the first look only sets the baseline). A changed product is matched
against the whole library with its criteria before and after the change; the projects it accepts
only after newly match. So nothing is recomputed but the one project or the one product.

A product whose validity starts on a later day newly matches when that day comes, and nothing is
written then: the worker's day step (``day_step``, before each round, at most once a day per
process) announces the products whose ``valid_from`` fell since the last day's run, each with
every project it accepts, in the transaction that moves ``webhook_match_day`` on, so one process
runs each day and days missed while nothing ran are caught up. A validity that ends makes no
event (there is no event for a match that goes).
"""

import asyncio
import json
import logging
import os
import random
import socket
import time
import uuid
from collections.abc import Coroutine, Mapping
from contextlib import suppress
from datetime import date, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

import httpx
import numpy as np
from numpy.typing import NDArray
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.auth import Principal, region_prefixes_of
from app.config import Settings
from app.errors import AppError, is_unavailable
from app.ids import new_id
from app.models import (
    DeliveryStatus,
    Role,
    WebhookAttempt,
    WebhookDelivery,
    WebhookMatchState,
    WebhookOutbox,
    WebhookSubscription,
)
from app.models.base import utcnow
from app.repositories import matching as matching_repo
from app.repositories import pilots as pilots_repo
from app.repositories import webhooks as repo
from app.repositories.matching import ProjectRow
from app.repositories.reach import in_reach
from app.services import webhooks
from app.services.audit import json_safe
from app.services.matching import service as matcher
from app.services.matching.eligibility import eligible_positions, match_all
from app.services.matching.library import Library
from app.services.matching.store import ProductEntry, Snapshot

log = logging.getLogger("climatelib.webhooks")

_WRITE = {"sqlite_begin": "IMMEDIATE"}  # SQLite: take the write lock up front
FAN_OUT_BATCH = 100
DELIVERY_BATCH = 50
MAX_IN_FLIGHT = 200
MATCH_IDS_PER_EVENT = 500


# --- who may hear an event -----------------------------------------------------------------------


def may_hear(principal: Principal, type_: str, audience: Mapping[str, Any]) -> bool:
    """Whether the key could read what the event is about: the administrator everything; a
    region its projects and the offers on them and its own imports; a reviewer its province's
    project events; an institution its offers, its products' matches and the public events of
    library projects."""
    if principal.is_admin:
        return True
    role = principal.role
    if type_ == "import.finished":
        return role is Role.region and principal.scope == audience.get("scope")
    if type_ == "match.new":
        return role is Role.institution and principal.scope == audience.get("institution_id")
    region_code = audience.get("region_code") or ""
    pilot = audience.get("pilot_id")
    held = role is Role.region and in_reach(
        principal, region_code, uuid.UUID(pilot) if pilot else None
    )
    if type_.startswith("engagement."):
        own = role is Role.institution and principal.scope == audience.get("institution_id")
        return own or held
    if type_.startswith("project."):
        if role is Role.institution:
            return bool(audience.get("public"))
        if role is Role.reviewer:
            return bool(region_code) and region_code.startswith(principal.region_prefixes)
        return held
    return False


async def _principal(
    session: AsyncSession, key_id: uuid.UUID, role: str, scope: str | None
) -> Principal:
    """The subscribing key as a request with it would run (its reach as of now)."""
    prefixes: tuple[str, ...] = ()
    if role == Role.reviewer and scope:
        prefixes = (scope,)
    elif role == Role.region and scope:
        principal = Principal(role=Role.region, scope=scope)
        if principal.pilot_id is not None:
            codes = await pilots_repo.full_codes(session, principal.pilot_id)
            prefixes = tuple(sorted(region_prefixes_of(c) for c in codes))
        else:
            prefixes = (region_prefixes_of(scope),)
    return Principal(role=Role(role), scope=scope, key_id=key_id, region_prefixes=prefixes)


# --- match.new -----------------------------------------------------------------------------------


def _accepting(row: ProjectRow, products: list[ProductEntry], day: date) -> set[uuid.UUID]:
    """The products (valid today) that accept this one project."""
    results = match_all(Library.build([row]), [e.criteria for e in products], day)
    return {e.id for e, r in zip(products, results, strict=True) if r.eligible}


def _row_json(row: ProjectRow) -> dict[str, Any]:
    return dict(json_safe(row._asdict()))


def _row_of(data: Mapping[str, Any]) -> ProjectRow:
    return ProjectRow(**{**data, "id": uuid.UUID(str(data["id"]))})


def _match_new(product_id: Any, institution_id: Any, project_ids: list[uuid.UUID]) -> list[Any]:
    out = []
    for start in range(0, len(project_ids), MATCH_IDS_PER_EVENT):
        data = {
            "product_id": product_id,
            "institution_id": institution_id,
            "project_ids": project_ids[start : start + MATCH_IDS_PER_EVENT],
        }
        out.append(webhooks.outbox_row("match.new", data, {"institution_id": institution_id}))
    return out


async def _project_check(
    session: AsyncSession, snap: Snapshot, data: Mapping[str, Any], day: date
) -> list[Any]:
    project_id = uuid.UUID(data["project_id"])
    rows = await matching_repo.library_rows(session, [project_id])
    state = await session.get(WebhookMatchState, project_id)
    if not rows:  # no longer in the library: nothing to match, nothing to remember
        if state is not None:
            await session.delete(state)
        return []
    row = rows[0]
    products = [e for e in snap.products if e.criteria.is_valid_on(day)]
    after = _accepting(row, products, day)
    if state is not None:
        before = _accepting(_row_of(state.row), products, day)
        state.row, state.at = _row_json(row), utcnow()
    else:
        before = set() if data.get("approved") else after
        session.add(WebhookMatchState(project_id=project_id, row=_row_json(row), at=utcnow()))
    out = []
    for entry in products:
        if entry.id in after and entry.id not in before:
            out += _match_new(entry.id, entry.institution_id, [project_id])
    return out


def _product_check(snap: Snapshot, data: Mapping[str, Any], day: date) -> list[Any]:
    lib = snap.library
    after = eligible_positions(lib, webhooks.criteria_from_json(data["after"]), day)
    if data.get("before"):
        before = eligible_positions(lib, webhooks.criteria_from_json(data["before"]), day)
        after = np.setdiff1d(after, before, assume_unique=True)
    ids = ids_at(lib, after)
    return _match_new(data["product_id"], data["institution_id"], ids) if ids else []


def ids_at(lib: Library, positions: NDArray[np.intp]) -> list[uuid.UUID]:
    """The ids at ``positions``, in their order: the halves gathered as two columns and turned
    into Python ints at once. A product's check lists every project it newly accepts (hundreds
    of thousands at the national scale), where one ``lib.ids[i]`` per position cost about 1 µs
    of numpy scalar indexing each, inside the fan-out's write transaction."""
    hi, lo = lib.id_hi[positions].tolist(), lib.id_lo[positions].tolist()
    return [uuid.UUID(int=(h << 64) | v) for h, v in zip(hi, lo, strict=True)]


def _started(snap: Snapshot, since: date | None, day: date) -> list[Any]:
    """``match.new`` for the products whose validity began after ``since`` (never run: on
    ``day`` only) and that are offered on ``day``: every project they accept is new to them,
    since before their first day they accepted none. A product whose validity ended meanwhile
    is left out (the projects it matched for a while match it no longer)."""
    lib = snap.library
    first = day if since is None else since + timedelta(days=1)
    out: list[Any] = []
    for entry in snap.products:
        begins = entry.criteria.valid_from
        if begins is None or not first <= begins <= day:
            continue
        ids = ids_at(lib, eligible_positions(lib, entry.criteria, day))
        if ids:
            out += _match_new(entry.id, entry.institution_id, ids)
    return out


# --- delivery ------------------------------------------------------------------------------------


def body_of(event: WebhookOutbox) -> bytes:
    """The payload every try of every delivery of the event carries (Standard Webhooks shape)."""
    document = {"type": event.type, "timestamp": event.at.isoformat(), "data": event.data}
    return json.dumps(document, ensure_ascii=False, separators=(",", ":")).encode()


def _ip_first(addresses: list[str]) -> list[str]:
    return sorted(addresses, key=lambda a: (":" in a, a))


class WebhookWorker:
    """One process's worker loop (see the module docstring)."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession], settings: Settings) -> None:
        self.sessions = sessions
        self.settings = settings
        self.poll_s = settings.webhook_poll_interval_s
        self.lease = timedelta(seconds=settings.webhook_lease_s)
        self.window = timedelta(seconds=settings.webhook_retry_window_s)
        self.owner = f"{socket.gethostname()[:60]}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self.stopping = asyncio.Event()
        self.wake = asyncio.Event()
        self.task: asyncio.Task[None] | None = None
        self.loop: asyncio.AbstractEventLoop | None = None
        self.sending: set[asyncio.Task[None]] = set()
        self.in_flight = 0
        self.day_done: date | None = None  # the day run this process knows is done
        self.client = httpx.AsyncClient(
            timeout=settings.webhook_timeout_s, follow_redirects=False, trust_env=False
        )

    def _poke(self) -> None:
        if self.loop is not None and not self.loop.is_closed():
            self.loop.call_soon_threadsafe(self.wake.set)

    def start(self) -> None:
        self.loop = asyncio.get_running_loop()
        webhooks.add_waker(self._poke)
        self.task = asyncio.create_task(self._loop(), name="webhook-worker")

    async def stop(self, timeout_s: float) -> None:
        """Stop after the round and the deliveries in flight; what still runs after
        ``timeout_s`` is cancelled (its leases run out and another worker takes them)."""
        webhooks.remove_waker(self._poke)
        self.stopping.set()
        self.wake.set()
        tasks = [t for t in (self.task, *self.sending) if t is not None]
        if tasks:
            _done, late = await asyncio.wait(tasks, timeout=timeout_s)
            for task in late:
                task.cancel()
            for task in late:
                with suppress(asyncio.CancelledError):
                    await task
        await self.client.aclose()

    async def _loop(self) -> None:
        woken = True
        while not self.stopping.is_set():
            self.wake.clear()
            # The day's run apart from the round: a failing one must not hold up deliveries.
            started = await self._guarded(self.day_step())
            worked = await self._guarded(self.run_once(look_first=not (woken or started)))
            woken = worked
            if not worked:
                with suppress(TimeoutError):
                    await asyncio.wait_for(self.wake.wait(), self.poll_s)
                    woken = True

    async def _guarded(self, step: Coroutine[Any, Any, bool]) -> bool:
        try:
            return await step
        except Exception as exc:  # the loop outlives any one failure
            if is_unavailable(exc):
                log.warning("webhook worker: database unavailable: %s", type(exc).__name__)
            else:
                log.exception("webhook worker failed")
            return False

    async def day_step(self) -> bool:
        """Announce the products whose validity began since the last day's run (``match.new``,
        as a product check would), once per day across every process; whether this process
        ran it. The claim is the day row, moved in the transaction that writes the events: a
        run that dies leaves the day to the next, and a process that finds the row locked by
        another's run leaves it to that one. Nobody subscribing to ``match.new``: the day
        moves on with nothing written, as a product's check is skipped then."""
        day = matcher.today()
        if self.day_done is not None and self.day_done >= day:
            return False
        async with self.sessions() as session:
            done = await repo.day_checked(session)
            if done is not None and done >= day:  # a read first: no write lock for nothing
                self.day_done = done
                return False
            # Read before the claim, so that a rebuild of the cache never holds SQLite's write
            # lock. A write committed after this read is checked after it commits, on this day
            # or a later one, so the products it starts or the projects it brings are not lost.
            snap = await matcher.snapshot(session)
        async with self.sessions() as session:
            await session.connection(execution_options=_WRITE)
            state = await repo.take_day(session)
            if state is None:
                return False  # another process is running it
            since = state.checked_through
            if since is not None and since >= day:
                self.day_done = since
                return False
            if "match.new" in await repo.subscribed_types(session, utcnow()):
                events = _started(snap, since, day)
                await repo.enqueue(session, events)
                if events:
                    webhooks.wake_workers(session)
            state.checked_through, state.checked_at = day, utcnow()
            await session.commit()
        self.day_done = day
        return True

    async def run_once(self, look_first: bool = True) -> bool:
        """One round: fan out what waits, deliver what is due; whether there was anything.
        ``look_first``: a read-only look decides whether to take any write lock at all (a
        poll); a worker woken by a commit goes straight to work."""
        if look_first:
            async with self.sessions() as session:
                if not await repo.has_waiting(session, utcnow()):
                    return False
        fanned = await self.fan_out()
        delivered = await self.deliver()
        return fanned or delivered

    async def fan_out(self) -> bool:
        now = utcnow()
        async with self.sessions() as session:
            if await repo.next_waiting_hold(session, webhooks.MATCH_CHECK, FAN_OUT_BATCH):
                # Bring the matching snapshot up to date before the write lock, so that a
                # rebuild or a large patch never holds SQLite's one write lock; the checks
                # below only patch in what committed since (usually nothing).
                await matcher.snapshot(session)
        async with self.sessions() as session:
            await session.connection(execution_options=_WRITE)
            events = await repo.take_waiting(session, FAN_OUT_BATCH)
            if not events:
                return False
            listeners = await repo.listeners(session, now)
            principals: dict[uuid.UUID, Principal] = {}
            for sub, (role, scope) in listeners:
                principals[sub.id] = await _principal(session, sub.key_id, role, scope)
            wants_matches = any("match.new" in sub.events for sub, _ in listeners)
            deliveries: list[tuple[dict[str, Any], WebhookSubscription, WebhookOutbox]] = []
            fresh: list[dict[str, Any]] = []
            for event in events:
                event.dispatched_at = now
                if event.type == webhooks.MATCH_CHECK:
                    if wants_matches or "project_id" in event.data:
                        fresh += await self._match_check(session, event.data, wants_matches)
                    continue
                deliveries += [
                    (self._delivery(sub, event, now), sub, event)
                    for sub, _ in listeners
                    if event.type in sub.events
                    and may_hear(principals[sub.id], event.type, event.audience)
                ]
            # What this worker has room for is leased to it as it is made, and sent at once.
            room = max(0, MAX_IN_FLIGHT - self.in_flight)
            for values, _sub, _event in deliveries[:room]:
                values.update(lease_owner=self.owner, lease_expires_at=now + self.lease)
            await repo.enqueue(session, fresh)
            await repo.add_deliveries(session, [d[0] for d in deliveries])
            await session.commit()
        leased = [
            (WebhookDelivery(**values), sub, event) for values, sub, event in deliveries[:room]
        ]
        for start in range(0, len(leased), DELIVERY_BATCH):
            self._spawn(leased[start : start + DELIVERY_BATCH])
        return True

    async def _match_check(
        self, session: AsyncSession, data: Mapping[str, Any], wanted: bool
    ) -> list[Any]:
        snap = await matcher.snapshot(session)
        day = matcher.today()
        if "project_id" in data:
            # Run even when nobody listens: it keeps the project's baseline current.
            found = await _project_check(session, snap, data, day)
        else:
            found = _product_check(snap, data, day)
        return found if wanted else []

    def _delivery(
        self, sub: WebhookSubscription, event: WebhookOutbox, now: datetime
    ) -> dict[str, Any]:
        return {
            "id": new_id(),
            "subscription_id": sub.id,
            "event_id": event.id,
            "event_type": event.type,
            "status": DeliveryStatus.pending.value,
            "attempts": 0,
            "next_attempt_at": now,
            "retry_until": now + self.window,
            "created_at": now,
            "lease_owner": None,  # every row names every column: one multi-row INSERT
            "lease_expires_at": None,
        }

    async def deliver(self) -> bool:
        """Lease due deliveries and send them in the background, a batch at a time (at most
        ``MAX_IN_FLIGHT`` in flight, so a slow receiver holds up its own batch, not the
        worker); whether any was taken."""
        room = MAX_IN_FLIGHT - self.in_flight
        if room <= 0:
            return False
        now = utcnow()
        async with self.sessions() as session:
            await session.connection(execution_options=_WRITE)
            ids = await repo.claim(
                session, self.owner, now, now + self.lease, min(room, DELIVERY_BATCH)
            )
            await session.commit()
        if not ids:
            return False
        async with self.sessions() as session:
            items = await repo.claimed(session, ids)
        self._spawn(items)
        return True

    def _spawn(
        self, items: list[tuple[WebhookDelivery, WebhookSubscription, WebhookOutbox]]
    ) -> None:
        self.in_flight += len(items)
        task = asyncio.create_task(self._deliver_batch(items), name="webhook-deliveries")
        self.sending.add(task)
        task.add_done_callback(self.sending.discard)

    async def _deliver_batch(
        self, items: list[tuple[WebhookDelivery, WebhookSubscription, WebhookOutbox]]
    ) -> None:
        """Send a claimed batch side by side, then record every outcome in one transaction."""
        try:
            outcomes = await asyncio.gather(*(self._send(d, s, e) for d, s, e in items))
            async with self.sessions() as session:
                await session.connection(execution_options=_WRITE)
                for (delivery, _sub, _event), outcome in zip(items, outcomes, strict=True):
                    await self._settle(session, delivery, *outcome)
                await session.commit()
        except Exception as exc:  # the leases run out and the deliveries are tried again
            log.warning("webhook deliveries not recorded: %s", type(exc).__name__)
        finally:
            self.in_flight -= len(items)
            self.wake.set()

    async def _send(
        self, delivery: WebhookDelivery, sub: WebhookSubscription, event: WebhookOutbox
    ) -> tuple[datetime, int | None, str | None, int]:
        """POST one delivery: (when, status code, error, milliseconds)."""
        at = utcnow()
        started = time.monotonic()
        body = body_of(event)
        timestamp = int(time.time())
        message_id = str(delivery.id)
        headers = {
            "content-type": "application/json",
            "user-agent": "climatelib-webhooks",
            "webhook-id": message_id,
            "webhook-timestamp": str(timestamp),
            "webhook-signature": webhooks.sign(sub.secret, message_id, timestamp, body),
        }
        code: int | None = None
        error: str | None = None
        try:
            # Resolved and vetted now, and the vetted address is the one connected to: a name
            # that resolved to a public address at subscription cannot point inside later.
            addresses = await webhooks.vetted_addresses(
                sub.url, allow_private=self.settings.webhook_allow_private
            )
            parts = urlsplit(sub.url)
            url = httpx.URL(sub.url)
            target = url.copy_with(host=_ip_first(addresses)[0])
            headers["host"] = parts.netloc
            extensions = {"sni_hostname": url.host} if url.scheme == "https" else {}
            response = await self.client.post(
                target, content=body, headers=headers, extensions=extensions
            )
            code = response.status_code
            if not 200 <= code < 300:
                error = f"HTTP {code}"
        except AppError as exc:
            error = exc.detail or exc.code
        except httpx.HTTPError as exc:
            error = f"{type(exc).__name__}: {exc}"[:500]
        except Exception as exc:  # a bad URL or answer fails this try, never the round
            error = type(exc).__name__
        return at, code, error, round((time.monotonic() - started) * 1000)

    async def _settle(
        self,
        session: AsyncSession,
        delivery: WebhookDelivery,
        at: datetime,
        code: int | None,
        error: str | None,
        duration_ms: int,
    ) -> None:
        now = utcnow()
        values: dict[str, Any] = {
            "attempts": WebhookDelivery.attempts + 1,
            "last_status_code": code,
            "last_error": error,
        }
        if error is None:
            values.update(status=DeliveryStatus.succeeded.value, finished_at=now)
        else:
            delay = min(
                self.settings.webhook_retry_base_s * 2**delivery.attempts,
                self.settings.webhook_retry_max_s,
            ) * random.uniform(0.5, 1.0)  # noqa: S311 - jitter, not a secret
            retry_at = now + timedelta(seconds=delay)
            if retry_at > delivery.retry_until:
                values.update(status=DeliveryStatus.failed.value, finished_at=now)
            else:
                values["next_attempt_at"] = retry_at
        if await repo.settle(session, delivery.id, self.owner, values):
            session.add(
                WebhookAttempt(
                    delivery_id=delivery.id,
                    at=at,
                    status_code=code,
                    error=error,
                    duration_ms=duration_ms,
                )
            )
