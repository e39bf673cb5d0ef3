"""Reference data answers: the taxonomy and GB/T 2260 regions."""

from datetime import date

from pydantic import BaseModel, Field

from app.reference.regions import RegionLevel


class TaxonomyEntry(BaseModel):
    code: str = Field(examples=["M2"])
    objective: str | None = None
    name_zh: str
    name_en: str
    children: list["TaxonomyEntry"] = Field(default_factory=list)


class Objective(BaseModel):
    code: str
    name_zh: str
    name_en: str


class Taxonomy(BaseModel):
    version: str = Field(description="Changes whenever an entry changes.", examples=["2026.1"])
    source: str
    objectives: list[Objective]
    categories: list[TaxonomyEntry]


class RegionSuccessor(BaseModel):
    code: str = Field(examples=["500157"])
    name: str = Field(examples=["两江新区"])
    part: str | None = Field(
        default=None, description="When only part of the old area went to this code: which part."
    )


class RegionRead(BaseModel):
    code: str = Field(examples=["440304"])
    name: str = Field(examples=["福田区"])
    level: RegionLevel
    parent: str | None
    is_current: bool = Field(description="False for codes that GB/T 2260 has retired.")
    valid_from: int | None = Field(description="Year the code appeared, when known.")
    valid_to: int | None = Field(description="Year the code was retired; null while current.")
    established_on: date | None = Field(
        default=None, description="Day the code was established, where the change is recorded."
    )
    abolished_on: date | None = Field(
        default=None, description="Day the code was abolished, where the change is recorded."
    )
    successors: list[RegionSuccessor] = Field(
        default_factory=list,
        description="For an abolished code: the codes that took over its area, where known.",
    )


class RegionDetail(RegionRead):
    children: list[RegionRead]


class RegionPage(BaseModel):
    items: list[RegionRead]
    next_cursor: str | None = None
