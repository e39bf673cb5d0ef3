"""Webhooks: a subscription, its signing secret (shown once), its deliveries and their tries.

How events are chosen, signed and delivered: docs/architecture.md, *Webhooks*.
"""

import uuid
from datetime import datetime

from pydantic import Field

from app.schemas.common import InputModel, OutputModel

EVENT_TYPES = (
    "project.approved",
    "project.exited",
    "match.new",
    "engagement.offer",
    "engagement.accept",
    "engagement.decline",
    "engagement.contact",
    "engagement.due_diligence",
    "engagement.financed",
    "engagement.not_financed",
    "import.finished",
)
"""Every event a subscription may ask for."""


class WebhookCreate(InputModel):
    url: str = Field(
        max_length=2048,
        description="Where events are POSTed: http(s), not a private, loopback or link-local "
        "address.",
        examples=["https://bank.example.cn/hooks/climatelib"],
    )
    events: list[str] = Field(
        min_length=1,
        max_length=len(EVENT_TYPES),
        description="The event types to receive: " + ", ".join(EVENT_TYPES) + ".",
        examples=[["project.approved", "match.new"]],
    )


class WebhookRead(OutputModel):
    id: uuid.UUID
    url: str
    events: list[str]
    key_id: uuid.UUID = Field(description="The key that subscribed (its owner).")
    created_at: datetime


class WebhookCreated(WebhookRead):
    secret: str = Field(
        description="The signing secret (whsec_ + base64), shown in this answer only: verify "
        "each delivery's webhook-signature with it (Standard Webhooks)."
    )


class AttemptRead(OutputModel):
    at: datetime
    status_code: int | None = Field(description="The receiver's answer; null if none came.")
    error: str | None = Field(description="Why the try failed, when it did.")
    duration_ms: int


class DeliveryRead(OutputModel):
    id: uuid.UUID = Field(description="Also the webhook-id header of every try.")
    event_id: int
    event_type: str
    status: str = Field(description="pending, succeeded or failed (retries ran out).")
    attempts: int
    next_attempt_at: datetime | None = Field(description="When a pending delivery is tried next.")
    last_status_code: int | None
    last_error: str | None
    created_at: datetime
    finished_at: datetime | None
    attempt_log: list[AttemptRead] = Field(description="Every try, oldest first.")
