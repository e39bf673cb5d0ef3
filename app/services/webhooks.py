"""Webhooks (docs/architecture.md, *Webhooks*): subscriptions, the events the writers emit, the
URL guard and the Standard Webhooks signature.

Writers call ``emit`` next to ``audit.record`` with the same audit events, in the same
transaction: the events it cares about, of a type some subscription names, become rows of the
outbox (``webhook_outbox``), so an event exists exactly when its change committed while a
subscription named its type. ``import_finished`` does the same for a finished
import job (which has no audit event). Everything after that — which subscriptions hear an event,
``match.new``, signing, delivery and retries — happens in the delivery worker
(``webhooks_worker``), after the commit.
"""

import asyncio
import base64
import dataclasses
import hashlib
import hmac
import ipaddress
import secrets
import socket
import uuid
from collections.abc import Mapping
from datetime import date, timedelta
from decimal import Decimal
from types import SimpleNamespace
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import event as sa_event
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session

from app.auth import Principal
from app.errors import NotFound, RuleViolation, Unauthorized, field_error
from app.models import (
    DeliveryStatus,
    Engagement,
    ImportJob,
    Product,
    ProductType,
    Project,
    ProjectStatus,
    WebhookSubscription,
)
from app.models.base import utcnow
from app.repositories import webhooks as repo
from app.schemas.common import Page
from app.schemas.webhook import (
    EVENT_TYPES,
    AttemptRead,
    DeliveryRead,
    WebhookCreate,
    WebhookCreated,
    WebhookRead,
)
from app.services import audit
from app.services.audit import json_safe
from app.services.matching.criteria import Criteria, criteria_of

SECRET_PREFIX = "whsec_"  # noqa: S105 - the prefix of every secret, not a secret
MATCH_CHECK = "match.check"
"""An internal outbox entry: the worker works out which products newly match, then drops it."""


# --- subscriptions -------------------------------------------------------------------------------


def _require_key(principal: Principal) -> None:
    if principal.is_anonymous or principal.key_id is None:
        raise Unauthorized("Webhooks need an API key.")


def _refuse_url(message: str) -> RuleViolation:
    return RuleViolation(
        message,
        code="webhook_url_not_allowed",
        errors=[field_error(["body", "url"], "webhook_url_not_allowed", message)],
    )


def _blocked(ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    # Not global covers the shared (100.64/10), documentation and benchmarking ranges too.
    return (
        not ip.is_global
        or ip.is_private
        or ip.is_loopback
        or ip.is_link_local
        or ip.is_unspecified
        or ip.is_multicast
        or ip.is_reserved
    )


async def vetted_addresses(url: str, *, allow_private: bool) -> list[str]:
    """The addresses ``url``'s host resolves to, all of them allowed; else a 422
    ``webhook_url_not_allowed`` saying why (scheme, host, resolution or address)."""
    try:
        parts = urlsplit(url)
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError as exc:
        raise _refuse_url("The URL cannot be read.") from exc
    if parts.scheme not in ("http", "https"):
        raise _refuse_url("Webhook URLs are http or https.")
    host = parts.hostname
    if not host:
        raise _refuse_url("The URL names no host.")
    if parts.username or parts.password:
        raise _refuse_url("The URL must not carry credentials.")
    try:
        infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError) as exc:
        raise _refuse_url(f"The host {host} does not resolve.") from exc
    addresses = sorted({str(info[4][0]) for info in infos})
    if not allow_private:
        for address in addresses:
            if _blocked(ipaddress.ip_address(address.split("%")[0])):
                raise _refuse_url(
                    f"The host {host} resolves to {address}, a private, loopback, link-local or "
                    "otherwise non-public address."
                )
    return addresses


def new_secret() -> str:
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(32)).decode()


def sign(secret: str, message_id: str, timestamp: int, body: bytes) -> str:
    """The webhook-signature header: ``v1,`` and the base64 HMAC-SHA256 of
    ``{id}.{timestamp}.{body}`` keyed with the secret's decoded bytes (Standard Webhooks)."""
    key = base64.b64decode(secret.removeprefix(SECRET_PREFIX))
    signed = f"{message_id}.{timestamp}.".encode() + body
    return "v1," + base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()


@dataclasses.dataclass(frozen=True)
class Vetted:
    """A subscription request that passed every check made without the database."""

    body: WebhookCreate


async def vet(principal: Principal, body: WebhookCreate, *, allow_private: bool) -> Vetted:
    """Check a subscription request before its transaction writes anything: the key, the event
    types, and the URL's host, whose lookup may take as long as the resolver's timeout (on
    SQLite, a lookup inside the transaction would hold the write lock for that long)."""
    _require_key(principal)
    unknown = [e for e in body.events if e not in EVENT_TYPES]
    if unknown:
        message = f"Unknown event type(s): {', '.join(unknown)}; known: {', '.join(EVENT_TYPES)}."
        raise RuleViolation(
            message,
            code="unknown_webhook_event",
            errors=[field_error(["body", "events"], "unknown_webhook_event", message)],
        )
    await vetted_addresses(body.url, allow_private=allow_private)
    return Vetted(body)


async def create(session: AsyncSession, principal: Principal, vetted: Vetted) -> WebhookCreated:
    """Subscribe the vetted URL for the caller's key; the secret is in this answer only."""
    body = vetted.body
    assert principal.key_id is not None  # noqa: S101 - vet checked the key
    # Writers skip the events no subscription names: wait for those that looked already.
    await repo.lock_subscriptions(session)
    subscription = WebhookSubscription(
        key_id=principal.key_id,
        url=body.url,
        events=sorted(set(body.events), key=EVENT_TYPES.index),
        secret=new_secret(),
        created_at=utcnow(),
    )
    session.add(subscription)
    await session.flush()
    # Like a key's, the subscription's event never holds its secret.
    wanted = {"url": subscription.url, "events": subscription.events}
    await audit.record(
        session,
        audit.event(
            principal,
            "webhook_create",
            "webhook",
            subscription.id,
            changes={k: {"before": None, "after": v} for k, v in wanted.items()},
        ),
    )
    return WebhookCreated(
        **WebhookRead.model_validate(subscription).model_dump(), secret=subscription.secret
    )


async def load(
    session: AsyncSession, principal: Principal, webhook_id: uuid.UUID
) -> WebhookSubscription:
    _require_key(principal)
    found = await repo.get_readable(session, principal, webhook_id)
    if found is None:
        raise NotFound("No webhook with that id.", code="webhook_not_found")
    return found


async def page(
    session: AsyncSession, principal: Principal, cursor: str | None, limit: int
) -> Page[WebhookRead]:
    """The caller's key's subscriptions (an administrator's: everyone's)."""
    _require_key(principal)
    rows, following = await repo.page(session, principal, cursor, limit)
    return Page[WebhookRead](
        items=[WebhookRead.model_validate(r) for r in rows], next_cursor=following
    )


async def delete(session: AsyncSession, principal: Principal, webhook_id: uuid.UUID) -> None:
    found = await load(session, principal, webhook_id)
    gone = {"url": found.url, "events": list(found.events)}
    await repo.remove(session, webhook_id)
    await audit.record(
        session,
        audit.event(
            principal,
            "webhook_delete",
            "webhook",
            webhook_id,
            changes={k: {"before": v, "after": None} for k, v in gone.items()},
        ),
    )


def _delivery(delivery: Any, attempts: list[Any]) -> DeliveryRead:
    pending = delivery.status == DeliveryStatus.pending
    return DeliveryRead(
        id=delivery.id,
        event_id=delivery.event_id,
        event_type=delivery.event_type,
        status=str(delivery.status),
        attempts=delivery.attempts,
        next_attempt_at=delivery.next_attempt_at if pending else None,
        last_status_code=delivery.last_status_code,
        last_error=delivery.last_error,
        created_at=delivery.created_at,
        finished_at=delivery.finished_at,
        attempt_log=[AttemptRead.model_validate(a) for a in attempts],
    )


async def deliveries(
    session: AsyncSession,
    principal: Principal,
    webhook_id: uuid.UUID,
    cursor: str | None,
    limit: int,
) -> Page[DeliveryRead]:
    """A subscription's deliveries, oldest first, each with its tries."""
    await load(session, principal, webhook_id)
    rows, tries, following = await repo.deliveries_page(session, webhook_id, cursor, limit)
    return Page[DeliveryRead](
        items=[_delivery(d, tries[d.id]) for d in rows], next_cursor=following
    )


async def resend(
    session: AsyncSession,
    principal: Principal,
    webhook_id: uuid.UUID,
    delivery_id: uuid.UUID,
    *,
    retry_window: timedelta,
) -> DeliveryRead:
    """Deliver again (same webhook-id and body): pending now, retried for another window."""
    await load(session, principal, webhook_id)
    delivery = await repo.get_delivery(session, webhook_id, delivery_id)
    if delivery is None:
        raise NotFound("No delivery with that id.", code="delivery_not_found")
    now = utcnow()
    delivery.status = DeliveryStatus.pending
    delivery.next_attempt_at = now
    delivery.retry_until = now + retry_window
    delivery.finished_at = None
    await session.flush()
    wake_workers(session)
    return _delivery(delivery, await repo.attempts_of(session, delivery.id))


# --- events, written by the writers --------------------------------------------------------------

_QUEUED = "webhooks.queued"  # session.info: this transaction wrote events (wake the worker)
_CHECKED = "webhooks.checked"  # session.info: projects whose match check is already queued


def wake_workers(session: AsyncSession) -> None:
    """Have this process's worker look at once when the transaction commits."""
    session.info[_QUEUED] = True


def outbox_row(type_: str, data: Mapping[str, Any], audience: Mapping[str, Any]) -> dict[str, Any]:
    return {"type": type_, "at": utcnow(), "data": json_safe(data), "audience": json_safe(audience)}


def _project_audience(project: Project, *, public: bool) -> dict[str, Any]:
    return {"region_code": project.region_code, "pilot_id": project.pilot_id, "public": public}


async def emit(session: AsyncSession, *events: Mapping[str, Any]) -> None:
    """Turn the audit events just recorded into outbox rows (the ones webhooks announce):
    project approval and exit, the offer funnel's steps, and the changes that may make a
    library project or a product newly match (``match.new``, worked out by the worker)."""
    rows: list[dict[str, Any]] = []
    for event in events:
        kind, action, object_id = event["object_type"], event["action"], event["object_id"]
        if kind == "project":
            rows += await _project_rows(session, event, action, object_id)
        elif kind == "engagement":
            rows += await _engagement_rows(session, event, action, object_id)
        elif kind == "product":
            rows += await _product_rows(session, event, object_id)
    await _enqueue_heard(session, rows)


async def _enqueue_heard(session: AsyncSession, rows: list[dict[str, Any]]) -> None:
    """Write the rows some subscription may hear. Who exactly may is the worker's question
    (``may_hear``); this only skips the types no subscription of a working key names, under the
    lock that makes a subscription created concurrently wait for this transaction."""
    if not rows:
        return
    heard = await repo.subscribed_types(session, utcnow())
    rows = [row for row in rows if _wanted(row, heard)]
    if rows:
        await repo.enqueue(session, rows)
        wake_workers(session)


def _wanted(row: Mapping[str, Any], heard: set[str]) -> bool:
    if row["type"] != MATCH_CHECK:
        return row["type"] in heard
    # A project's check also moves its matching baseline (webhook_match_state) while nobody
    # listens, so that a later subscriber's first match.new compares with the project as it was
    # just before, not as it was long ago; a product's check only ever makes match.new events.
    return "project_id" in row["data"] or "match.new" in heard


def _match_check(session: AsyncSession, project_id: uuid.UUID, approved: bool) -> list[Any]:
    checked: set[uuid.UUID] = session.info.setdefault(_CHECKED, set())
    if project_id in checked and not approved:
        return []
    checked.add(project_id)
    return [outbox_row(MATCH_CHECK, {"project_id": project_id, "approved": approved}, {})]


async def _project_rows(
    session: AsyncSession, event: Mapping[str, Any], action: str, project_id: uuid.UUID
) -> list[dict[str, Any]]:
    if action in ("approve", "exit"):
        project = await session.get(Project, project_id)
        if project is None:
            return []
        data = {
            "project_id": project.id,
            "library_code": project.library_code,
            "name": project.name,
            "region_code": project.region_code,
            "status": project.status,
            "reason": event.get("reason"),
        }
        if action == "exit":
            data["exit_reason"] = project.exit_reason
            return [outbox_row("project.exited", data, _project_audience(project, public=True))]
        approved = outbox_row("project.approved", data, _project_audience(project, public=True))
        return [approved, *_match_check(session, project_id, approved=True)]
    if event.get("to_status") == ProjectStatus.in_library and action != "create":
        # A change of a library project (an edit, an approved revision, secured financing).
        return _match_check(session, project_id, approved=False)
    return []


async def _engagement_rows(
    session: AsyncSession, event: Mapping[str, Any], action: str, engagement_id: uuid.UUID
) -> list[dict[str, Any]]:
    engagement = await session.get(Engagement, engagement_id)
    if engagement is None:
        return []
    project = await session.get(Project, engagement.project_id)
    if project is None:
        return []
    data = {
        "engagement_id": engagement.id,
        "project_id": engagement.project_id,
        "product_id": engagement.product_id,
        "institution_id": engagement.institution_id,
        "from_status": event.get("from_status"),
        "status": event.get("to_status"),
    }
    audience = {
        **_project_audience(project, public=False),
        "institution_id": engagement.institution_id,
    }
    return [outbox_row(f"engagement.{action}", data, audience)]


_CRITERIA_FIELDS = (
    "type",
    "status",
    "valid_from",
    "valid_to",
    "objectives",
    "categories",
    "gfc_codes",
    "region_prefixes",
    "construction_statuses",
    "amount_min",
    "amount_max",
    "tenor_min_months",
    "tenor_max_months",
    "min_emission_reduction_tco2e",
    "requires_verification",
    "accepts_two_high_transition",
    "weights",
)


def _typed(name: str, value: Any) -> Any:
    """A criterion's value as the audit keeps it (JSON), back in the product's own type."""
    if value is None:
        return None
    if name in ("amount_min", "amount_max"):
        return Decimal(str(value))
    if name in ("valid_from", "valid_to") and isinstance(value, str):
        return date.fromisoformat(value)
    return value


def criteria_json(criteria: Criteria) -> dict[str, Any]:
    return dict(json_safe(dataclasses.asdict(criteria)))


def criteria_from_json(data: Mapping[str, Any]) -> Criteria:
    values = dict(data)
    for name in ("valid_from", "valid_to"):
        if values.get(name) is not None:
            values[name] = date.fromisoformat(values[name])
    for name in (
        "objectives",
        "categories",
        "gfc_codes",
        "region_prefixes",
        "construction_statuses",
    ):
        values[name] = tuple(values.get(name) or ())
    values["type"] = ProductType(values["type"])
    return Criteria(**values)


async def _product_rows(
    session: AsyncSession, event: Mapping[str, Any], product_id: uuid.UUID
) -> list[dict[str, Any]]:
    product = await session.get(Product, product_id)
    if product is None:
        return []
    now = {name: getattr(product, name, None) for name in _CRITERIA_FIELDS}
    before: dict[str, Any] | None = None
    if event["action"] != "create":
        before = dict(now)
        for name, change in (event.get("changes") or {}).items():
            if name in before and isinstance(change, Mapping) and "before" in change:
                before[name] = _typed(name, change["before"])
        before["status"] = event.get("from_status") or product.status
    after_c = criteria_of(SimpleNamespace(**now))
    before_c = criteria_of(SimpleNamespace(**before)) if before is not None else None
    if not after_c.is_active and not (before_c is not None and before_c.is_active):
        return []
    data = {
        "product_id": product.id,
        "institution_id": product.institution_id,
        "before": criteria_json(before_c) if before_c is not None else None,
        "after": criteria_json(after_c),
    }
    return [outbox_row(MATCH_CHECK, data, {})]


async def import_finished(session: AsyncSession, job: ImportJob) -> None:
    """A job that just finished (succeeded, failed, cancelled): ``import.finished``, in the
    transaction that finishes it."""
    data = {
        "import_id": job.id,
        "status": job.status,
        "rows_total": job.rows_total,
        "rows_done": job.rows_done,
        "created": job.created,
        "updated": job.updated,
        "unchanged": job.unchanged,
        "error": job.error,
        "failure": job.failure,
    }
    await _enqueue_heard(
        session, [outbox_row("import.finished", data, {"scope": job.source_scope})]
    )


# --- waking this process's worker on commit ------------------------------------------------------

_wakers: list[Any] = []


def add_waker(callback: Any) -> None:
    """``callback()`` runs after every commit of a transaction that wrote events (in the
    committing task, on the event loop's thread)."""
    _wakers.append(callback)


def remove_waker(callback: Any) -> None:
    if callback in _wakers:
        _wakers.remove(callback)


@sa_event.listens_for(Session, "after_commit")
def _after_commit(session: Session) -> None:
    if session.info.pop(_QUEUED, False):
        for callback in list(_wakers):
            callback()
    session.info.pop(_CHECKED, None)


@sa_event.listens_for(Session, "after_rollback")
def _after_rollback(session: Session) -> None:
    session.info.pop(_QUEUED, None)
    session.info.pop(_CHECKED, None)
