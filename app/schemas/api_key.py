"""API key requests and answers; the secret appears only in the creation answer."""

import uuid
from datetime import datetime

from pydantic import AwareDatetime, Field

from app.models import Role
from app.schemas.common import InputModel, OutputModel


class ApiKeyCreate(InputModel):
    name: str = Field(
        min_length=1,
        max_length=200,
        description="Who or what uses the key.",
        examples=["Shenzhen Futian pilot office"],
    )
    role: Role = Field(description="admin, reviewer, region or institution.", examples=["region"])
    scope: str | None = Field(
        default=None,
        max_length=64,
        description=(
            "reviewer: a 2-digit province code (44); region: a region code (440300) or "
            "pilot:<id>; institution: the institution id; admin: none."
        ),
        examples=["440304"],
    )
    expires_at: AwareDatetime | None = Field(
        default=None,
        description="When the key stops working (with a time zone, in the future); none: never.",
        examples=["2027-12-31T16:00:00Z"],
    )


class ApiKeyRotate(InputModel):
    grace_hours: int = Field(
        default=24,
        ge=0,
        le=720,
        description=(
            "How long the old secret keeps working next to the new one (0: it stops at once). "
            "Only one old secret is kept: rotating again ends the previous grace."
        ),
    )


class ApiKeyRead(OutputModel):
    id: uuid.UUID
    name: str
    role: Role
    scope: str | None
    prefix: str = Field(description="First characters of the key, to recognise it.")
    created_at: datetime
    revoked_at: datetime | None
    expires_at: datetime | None = Field(description="When the key stops working; null: never.")
    last_used_at: datetime | None = Field(
        description="When the key was last used (recorded at most every 5 minutes)."
    )
    previous_valid_until: datetime | None = Field(
        description="After a rotation: until when the old secret still works."
    )


class ApiKeyCreated(ApiKeyRead):
    key: str = Field(description="The secret key. Shown only once: store it now.")
