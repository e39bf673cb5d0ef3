"""Project document answers."""

import uuid
from datetime import datetime

from pydantic import Field

from app.models import DocumentType, DocumentVisibility
from app.schemas.common import OutputModel


class DocumentRead(OutputModel):
    id: uuid.UUID = Field(description="Document id.")
    project_id: uuid.UUID = Field(description="The project it belongs to.")
    type: DocumentType = Field(
        description=(
            "feasibility_study (可行性研究报告), eia_approval (环评批复), "
            "energy_review (节能审查意见), verification_report (核查报告), plan, other."
        )
    )
    visibility: DocumentVisibility = Field(
        description=(
            "public: whoever may read the project; restricted: the project's region, its "
            "province's reviewer, the administrator and institutions whose offer was accepted."
        )
    )
    filename: str = Field(description="The name it was uploaded with.", examples=["可研报告.pdf"])
    media_type: str = Field(
        description="The media type found in its content.", examples=["application/pdf"]
    )
    size_bytes: int = Field(description="Size in bytes.", examples=[482113])
    sha256: str = Field(
        description="SHA-256 of the content, hex.",
        examples=["9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"],
    )
    created_at: datetime = Field(description="Uploaded.")
    content_url: str = Field(
        description="Where to download it.", examples=["/api/v1/documents/{id}/content"]
    )
