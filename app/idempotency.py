"""``Idempotency-Key`` for creating POSTs, kept in the database so every process agrees.

A key is scoped to the caller (``Principal.identity``). The first request with a key claims it; a
retry with the same key and body gets the first answer replayed, with another body 422
``idempotency_key_reused``, and while the first is still running 409
``idempotency_key_in_progress`` (with ``Retry-After``).

A router that creates a resource declares ``once: idempotency.CreateOnceDep`` and answers::

    return await once(body, ProductRead, lambda: products.create(...), "/api/v1/products")

which returns the created model (validated against the route's ``response_model`` like any other
answer). An answer that shows a secret once (a new or rotated API key, a webhook's signing
secret) is never stored: such a route declares ``once: idempotency.SecretOnceDep`` and answers
``await once(payload, 201, make)``; the record keeps only that the key was used, and a retry
answers 409 ``secret_not_replayable`` (another body 422, as everywhere).

A route that encodes its answer itself calls ``run(request, session, principal, key,
payload, produce)``, where ``produce`` does the work and returns ``Stored(status, body, headers)``;
it must not commit the session.

The claim lives in the request's own transaction, on the request's one connection, and is
completed there with the answer, atomically with what the request created. So a request never
needs a second connection while it holds one (a claim committed on a connection of its own made
every keyed request hold two, and a burst of them took the whole pool and waited on each other),
and a request that fails in any way (error, rollback, dropped connection, killed process) leaves
no claim behind: its retry simply runs again. A concurrent retry must not wait on the first
request's uncommitted row (it would hold its connection for as long), so on PostgreSQL the claim
is guarded by a transaction-level advisory lock taken without waiting: a retry that cannot take it
answers 409 at once. On SQLite the request's write transaction already shuts out other writers; a
retry waits for the first to finish and replays its answer.
"""

import hashlib
import json
import re
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Annotated, Any, TypeVar

import orjson
from fastapi import Depends, Header, Request
from pydantic import BaseModel
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.responses import Response

from app.auth import Principal, PrincipalDep
from app.db import SessionDep
from app.errors import BadRequest, Conflict, RuleViolation, field_error
from app.models import IdempotencyRecord
from app.models.base import utcnow
from app.repositories import idempotency as repo
from app.responses import json_response
from app.schemas.common import json_default

HEADER = "Idempotency-Key"
MAX_KEY_LENGTH = 200
# A claim is committed only together with its answer. A record left unanswered this long (by a
# version that committed claims on their own) belongs to a request that died.
ABANDONED_AFTER = timedelta(seconds=10)
# What a record holds instead of an answer that showed a secret.
_SECRET = "secret_not_stored"  # noqa: S105 - a marker's name, not a secret


@dataclass
class Stored:
    """An answer to replay: status, JSON body and the headers worth repeating."""

    status_code: int
    body: Any
    headers: dict[str, str] = field(default_factory=dict)

    def headers_sent(self, *, replayed: bool) -> dict[str, str]:
        return self.headers | ({"Idempotent-Replayed": "true"} if replayed else {})

    def response(self, *, replayed: bool = False) -> Response:
        return json_response(self.body, self.status_code, self.headers_sent(replayed=replayed))


def request_hash(method: str, path: str, payload: Any) -> str:
    document = {"m": method, "p": path, "b": payload}
    try:
        raw = orjson.dumps(document, option=orjson.OPT_SORT_KEYS | orjson.OPT_NON_STR_KEYS)
    except TypeError:
        # orjson refuses integers beyond 64 bits, which a JSON body may hold (an item the
        # validation refuses later); the standard library writes them, as deterministically.
        raw = json.dumps(document, sort_keys=True, separators=(",", ":"), default=str).encode()
    return hashlib.sha256(raw).hexdigest()


# Visible ASCII, spaces inside only (a header's edges are trimmed in transit): what the document
# declares, so a key the schema allows is never refused.
KEY_PATTERN = rf"^[\x21-\x7e](?:[\x20-\x7e]{{0,{MAX_KEY_LENGTH - 2}}}[\x21-\x7e])?$"
_KEY_FORM = re.compile(KEY_PATTERN)


def _check_key(key: str) -> None:
    if not _KEY_FORM.fullmatch(key):
        raise BadRequest(
            f"An Idempotency-Key is 1–{MAX_KEY_LENGTH} visible ASCII characters (spaces inside).",
            code="invalid_idempotency_key",
            errors=[field_error(["header", HEADER], "invalid_idempotency_key", "Unusable key.")],
        )


def _answer_existing(record: IdempotencyRecord, digest: str) -> Stored:
    """The answer for a key that is already claimed, or the reason there is none."""
    if record.request_hash != digest:
        raise RuleViolation(
            "This Idempotency-Key was used with another request body.",
            code="idempotency_key_reused",
            errors=[
                field_error(
                    ["header", HEADER], "idempotency_key_reused", "Key used for another body."
                )
            ],
        )
    if record.completed_at is None or record.status_code is None:
        raise _in_progress()
    stored = record.response_body or {}
    if stored.get(_SECRET):
        raise Conflict(
            "The first request with this Idempotency-Key succeeded; its answer showed a secret, "
            "which is never stored, so it cannot be replayed. Use the secret the first answer "
            "carried, or rotate the key.",
            code="secret_not_replayable",
        )
    return Stored(record.status_code, stored.get("body"), stored.get("headers") or {})


def _abandoned(record: IdempotencyRecord) -> bool:
    return record.completed_at is None and utcnow() - record.created_at > ABANDONED_AFTER


def _in_progress() -> Conflict:
    return Conflict(
        "A request with this Idempotency-Key is still running; retry later.",
        code="idempotency_key_in_progress",
        headers={"Retry-After": "1"},
    )


async def _claim(session: AsyncSession, identity: str, key: str, digest: str) -> uuid.UUID | Stored:
    """Claim the key in the request's transaction: the claim's id, or the answer already stored."""
    if not await repo.try_lock(session, identity, key):
        # Another request with this key is at work; it may be a retry racing one that has
        # already answered, whose answer then serves this one too.
        record = await repo.find(session, identity, key)
        if record is None or record.completed_at is None:
            raise _in_progress()
        return _answer_existing(record, digest)
    claimed = await repo.claim(session, identity, key, digest)
    if claimed is not None:
        return claimed
    record = await repo.find(session, identity, key)
    if record is None:  # purged between the two statements
        raise _in_progress()
    if _abandoned(record) and await repo.take_over(session, record, digest):
        return record.id
    return _answer_existing(record, digest)


async def _answer_once(
    request: Request,
    session: AsyncSession,
    principal: Principal,
    key: str | None,
    payload: Any,
    produce: Callable[[], Awaitable[Stored]],
    *,
    secret: bool = False,
) -> tuple[Stored, bool]:
    """The answer of ``produce``, run once per (caller, key), and whether it is a replay; with
    ``secret`` the answer is not stored, only that the key was used."""
    if key is None:
        return await produce(), False
    _check_key(key)
    digest = request_hash(request.method, request.url.path, payload)
    claimed = await _claim(session, principal.identity, key, digest)
    if isinstance(claimed, Stored):
        return claimed, True
    answer = await produce()
    if secret:
        await repo.complete(session, claimed, answer.status_code, {_SECRET: True})
        return answer, False
    body = orjson.loads(orjson.dumps(answer.body, default=json_default))
    await repo.complete(
        session, claimed, answer.status_code, {"body": body, "headers": answer.headers}
    )
    return Stored(answer.status_code, body, answer.headers), False


async def run(
    request: Request,
    session: AsyncSession,
    principal: Principal,
    key: str | None,
    payload: Any,
    produce: Callable[[], Awaitable[Stored]],
) -> Response:
    """Run ``produce`` once per (caller, key); replay its stored answer to retries."""
    answer, replayed = await _answer_once(request, session, principal, key, payload, produce)
    return answer.response(replayed=replayed)


IdempotencyKey = Annotated[
    str | None,
    Header(
        alias=HEADER,
        description=(
            "Makes retries safe: the same key and body replay the first answer; another body "
            "answers 422; a retry while the first is still running answers 409, and so does the "
            "retry of an answer that showed a secret (secret_not_replayable: never stored). 1–200 "
            "visible ASCII characters (spaces inside allowed); another key answers 400."
        ),
        json_schema_extra={"pattern": KEY_PATTERN, "maxLength": MAX_KEY_LENGTH},
    ),
]


ReadT = TypeVar("ReadT", bound=BaseModel)


@dataclass(frozen=True)
class CreateOnce:
    """A creating POST's request plumbing: call it with the work, get the created resource."""

    request: Request
    response: Response
    session: AsyncSession
    principal: Principal
    key: str | None

    async def __call__(
        self,
        body: BaseModel,
        read: type[ReadT],
        create: Callable[[], Awaitable[ReadT]],
        location: str,
    ) -> ReadT:
        """``create`` once per key; the created resource as a ``read``, with 201 and its Location
        (``location`` is the collection path; the new id is appended) set on the response.

        A retry gets the stored first answer back as a ``read`` again, so the route validates and
        encodes both the same way."""
        created: list[ReadT] = []

        async def produce() -> Stored:
            created.append(await create())
            data = created[0].model_dump(mode="json", by_alias=True)
            return Stored(201, data, {"Location": f"{location}/{data['id']}"})

        answer, replayed = await _answer_once(
            self.request,
            self.session,
            self.principal,
            self.key,
            body.model_dump(mode="json"),
            produce,
        )
        self.response.status_code = answer.status_code
        self.response.headers.update(answer.headers_sent(replayed=replayed))
        return created[0] if created else read.model_validate(answer.body)


async def _create_once(
    request: Request,
    response: Response,
    session: SessionDep,
    principal: PrincipalDep,
    key: IdempotencyKey = None,
) -> CreateOnce:
    return CreateOnce(request, response, session, principal, key)


CreateOnceDep = Annotated[CreateOnce, Depends(_create_once)]
"""The dependency a creating POST declares (it also reads the ``Idempotency-Key`` header)."""


@dataclass(frozen=True)
class SecretOnce:
    """A POST whose answer shows a secret once: run once per key, never stored or replayed."""

    request: Request
    session: AsyncSession
    principal: Principal
    key: str | None

    async def __call__(
        self, payload: Any, status_code: int, make: Callable[[], Awaitable[ReadT]]
    ) -> ReadT:
        """``make`` once per key; a retry with the key answers 409 ``secret_not_replayable``."""
        made: list[ReadT] = []

        async def produce() -> Stored:
            made.append(await make())
            return Stored(status_code, None)

        await _answer_once(
            self.request, self.session, self.principal, self.key, payload, produce, secret=True
        )
        return made[0]


async def _secret_once(
    request: Request, session: SessionDep, principal: PrincipalDep, key: IdempotencyKey = None
) -> SecretOnce:
    return SecretOnce(request, session, principal, key)


SecretOnceDep = Annotated[SecretOnce, Depends(_secret_once)]
"""The dependency of a POST whose answer shows a secret (it reads ``Idempotency-Key`` too)."""
