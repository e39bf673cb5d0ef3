"""Match answers and the preview request."""

import uuid
from datetime import date
from typing import Any

from pydantic import ConfigDict, Field

from app.models import ProductType
from app.schemas.common import MoneyOut, OutputModel, RateOut
from app.schemas.product import CriteriaFields


class ExplanationItem(OutputModel):
    criterion: str = Field(description="Criterion or score component.", examples=["amount"])
    passed: bool = Field(description="Whether the pair passes it.")
    detail: str = Field(description="The values compared.")
    points: float | None = Field(description="Points given (score components only).")


class ProjectCard(OutputModel):
    id: uuid.UUID = Field(description="Project id.")
    name: str = Field(description="Project name.")
    library_code: str | None = Field(description="Library code (CIF-…).")
    region_code: str = Field(description="GB/T 2260 code.")
    objective: str = Field(description="mitigation, adaptation or both.")
    categories: list[str] = Field(description="Taxonomy categories.")
    construction_status: str = Field(description="Construction status.")
    financing_need: MoneyOut = Field(description="Financing need, CNY.")
    financing_secured: MoneyOut = Field(description="Financing secured, CNY.")
    remaining_need: MoneyOut = Field(description="Need not yet secured, CNY.")
    tenor_months: int | None = Field(description="Tenor sought.")


class ProductCard(OutputModel):
    id: uuid.UUID = Field(description="Product id.")
    name: str = Field(description="Product name.")
    type: ProductType = Field(description="Kind of product.")
    institution_id: uuid.UUID = Field(description="Offering institution.")
    rate_min: RateOut | None = Field(description="Indicative least annual rate, %.")
    rate_max: RateOut | None = Field(description="Indicative largest annual rate, %.")


# A product matching a project, as GET /projects/{id}/matches lists it (explanation cut short).
_MATCH: dict[str, Any] = {
    "project_id": "f4d05ddd-1039-42a2-a2c2-d9a443719450",
    "product_id": "5c7345d7-4ec2-4bb6-aa13-faaba67fdaa3",
    "eligible": True,
    "score": 83.03,
    "explanation": [
        {
            "criterion": "region",
            "passed": True,
            "detail": "project region 230125; product serves nationwide",
            "points": None,
        },
        {
            "criterion": "categories",
            "passed": True,
            "detail": "project categories ['M5']; product accepts ['M3', 'M5']",
            "points": None,
        },
    ],
    "project": None,
    "product": {
        "id": "5c7345d7-4ec2-4bb6-aa13-faaba67fdaa3",
        "name": "可持续发展挂钩贷款",
        "type": "sustainability_linked_loan",
        "institution_id": "3f8d1aad-719c-41a6-afef-5ffbeb05d111",
        "rate_min": "2.950",
        "rate_max": "3.900",
    },
}


class MatchRead(OutputModel):
    model_config = ConfigDict(json_schema_extra={"examples": [_MATCH]})

    project_id: uuid.UUID = Field(description="Project id.")
    product_id: uuid.UUID | None = Field(description="Product id (null in a preview).")
    eligible: bool = Field(description="Whether the pair passes every criterion.")
    score: float | None = Field(description="0–100 for eligible pairs, else null.", examples=[87.5])
    explanation: list[ExplanationItem] = Field(description="Every criterion and the points.")
    project: ProjectCard | None = Field(default=None, description="The project side.")
    product: ProductCard | None = Field(default=None, description="The product side.")


class PreviewRequest(CriteriaFields):
    type: ProductType = Field(description="Kind of product being designed.")
    valid_from: date | None = Field(default=None, description="First day it would be offered.")
    valid_to: date | None = Field(default=None, description="Last day it would be offered.")
    limit: int = Field(default=10, ge=0, le=50, description="How many top projects to list.")


class PreviewRead(OutputModel):
    count: int = Field(description="How many library projects the criteria admit.")
    items: list[MatchRead] = Field(description="The best-scored of them, ranked.")
