"""The audit trail as ``GET /api/v1/audit`` answers it."""

import uuid
from datetime import datetime
from typing import Any

from pydantic import Field

from app.schemas.common import OutputModel


class AuditEventRead(OutputModel):
    """One event of the audit store: who did what to which object, when, in which request."""

    id: int = Field(description="The event's id (ordered: later events have larger ids).")
    at: datetime = Field(description="When.")
    actor_key_id: uuid.UUID | None = Field(description="Id of the key that acted.")
    actor_role: str = Field(description="Role of the key that acted.")
    actor_scope: str | None = Field(description="Scope of the key that acted.")
    action: str = Field(description="What was done (create, update, a lifecycle action, …).")
    object_type: str = Field(description="project, engagement, product, institution, …")
    object_id: uuid.UUID = Field(description="The object's id.")
    request_id: str | None = Field(description="The request that did it (X-Request-ID).")
    from_status: str | None = Field(default=None, description="Status before, for steps.")
    to_status: str | None = Field(default=None, description="Status after, for steps.")
    reason: str | None = Field(default=None, description="Why, where one was given.")
    changes: dict[str, dict[str, Any]] | None = Field(
        default=None,
        description='{field: {"before": …, "after": …}} in JSON values; contact fields only as '
        '{"changed": true}.',
    )


class AuditHead(OutputModel):
    """The latest link of the audit chain: record it outside the database, and a later
    ``climatelib audit verify`` proves nothing up to it has changed since."""

    event_id: int | None = Field(description="Id of the latest sealed event (null: none yet).")
    hash: str | None = Field(description="Its link's hash, hex (null: none yet).")
    algorithm: str | None = Field(description="The hash of that link: sha256 or sm3.")
    sealed_at: datetime | None = Field(description="When it was sealed.")
