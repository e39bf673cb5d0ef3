"""API key requests and answers; the secret appears only in the creation answer."""

import uuid
from datetime import datetime

from pydantic import Field

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


class ApiKeyRead(OutputModel):
    id: uuid.UUID
    name: str
    role: Role
    scope: str | None
    prefix: str = Field(description="First characters of the key, to recognise it.")
    created_at: datetime
    revoked_at: datetime | None


class ApiKeyCreated(ApiKeyRead):
    key: str = Field(description="The secret key. Shown only once: store it now.")
