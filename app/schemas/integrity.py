"""Integrity flags of a project (app/services/integrity.py holds the rules)."""

import uuid
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, Field


class FlagCode(StrEnum):
    """The stable code of each integrity rule."""

    benefit_intensity_outlier = "benefit_intensity_outlier"
    category_industry_mismatch = "category_industry_mismatch"
    likely_duplicate = "likely_duplicate"
    large_unverified_claim = "large_unverified_claim"


class IntegrityFlag(BaseModel):
    code: FlagCode = Field(description="The rule's stable code.")
    rule: str = Field(description="What the rule checks, with its threshold.")
    figures: dict[str, Any] = Field(
        description=(
            "The figures compared, by name; decimals as strings. Per code: "
            "benefit_intensity_outlier: intensity_tco2e_per_10k_cny, category, "
            "library_projects, category_median, mad_log, robust_z, low, high; "
            "category_industry_mismatch: categories, industry_code, fitting_industries; "
            "likely_duplicate: owner_uscc, similarity_threshold, duplicates (the ones the "
            "caller may see: project_id, name, status, similarity), hidden_duplicates (a count); "
            "large_unverified_claim: stated_annual_tco2e, threshold_tco2e, has_verified_report."
        )
    )


class IntegrityReport(BaseModel):
    project_id: uuid.UUID = Field(description="The project.")
    flags: list[IntegrityFlag] = Field(description="The rules the project raises; may be empty.")
    checked: list[FlagCode] = Field(
        description=(
            "The rules evaluated. benefit_intensity_outlier is left out when the project states "
            "no mitigation figure or its category has too few library projects to judge by."
        )
    )
