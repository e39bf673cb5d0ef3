"""Reference data answers: the taxonomy and GB/T 2260 regions."""

from datetime import date
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

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


class TaxonomySource(BaseModel):
    title: str = Field(description="The document.")
    part: str = Field(description="The part of it the taxonomy takes.")
    role: str = Field(description="What the taxonomy takes from it.")


# GET /taxonomy cut to one category and one of its children.
_TAXONOMY: dict[str, Any] = {
    "version": "2026.1",
    "source": (
        "《关于开展气候投融资试点工作的通知》(环办气候〔2021〕27号) 附件 "
        "气候投融资试点工作方案, 二(二) 支持范围"
    ),
    "sources": [
        {
            "title": (
                "关于开展气候投融资试点工作的通知（环办气候〔2021〕27号）附件 "
                "气候投融资试点工作方案"
            ),
            "part": "二(二) 支持范围",
            "role": "the first level (M1–M6, A1–A7)",
        },
        {
            "title": "climatelib taxonomy 2026.1",
            "part": "second level of M2",
            "role": (
                "the second level (M2.1–M2.8): the service's own refinement of M2 by energy source"
            ),
        },
    ],
    "objectives": [
        {"code": "mitigation", "name_zh": "减缓气候变化", "name_en": "climate change mitigation"},
        {"code": "adaptation", "name_zh": "适应气候变化", "name_en": "climate change adaptation"},
        {"code": "both", "name_zh": "减缓和适应", "name_en": "mitigation and adaptation"},
    ],
    "categories": [
        {
            "code": "M2",
            "objective": "mitigation",
            "name_zh": "优化能源结构，发展非化石能源",
            "name_en": "energy structure: non-fossil energy",
            "children": [
                {
                    "code": "M2.1",
                    "objective": None,
                    "name_zh": "太阳能利用",
                    "name_en": "solar energy",
                    "children": [],
                }
            ],
        }
    ],
    "classification_schemes": ["gfc-2025"],
}


class Taxonomy(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [_TAXONOMY]})

    version: str = Field(
        description=(
            "Changes whenever an entry changes; each project states the version it was "
            "classified under (taxonomy_version)."
        ),
        examples=["2026.1"],
    )
    source: str = Field(description="The policy the first level comes from.")
    sources: list[TaxonomySource] = Field(description="The source documents of each level.")
    objectives: list[Objective]
    categories: list[TaxonomyEntry] = Field(
        description=(
            "First-level categories with their second-level children; a project accepts a code "
            "of either level, and a second-level code implies its parent."
        )
    )
    classification_schemes: list[str] = Field(
        description="External schemes a project may be classified under (GET /taxonomy/"
        "classifications).",
        examples=[["gfc-2025"]],
    )


class SchemeEntry(BaseModel):
    code: str = Field(description="Code in the scheme; levels nest by dots.", examples=["4"])
    level: int = Field(description="1 for a first-level entry.", examples=[1])
    name_zh: str = Field(examples=["能源绿色低碳转型"])
    name_en: str


class SchemeLevels(BaseModel):
    shipped: list[int] = Field(description="The levels whose entries are listed here.")
    not_shipped: list[int] = Field(description="The scheme's levels not (yet) shipped.")
    note: str = Field(description="Why, and how codes of the later levels will read.")


class SchemeSource(BaseModel):
    title: str = Field(description="The issuing notice.")
    structure: str = Field(description="The scheme's levels and sizes, as published.")
    first_level_as_published_in: list[str] = Field(
        description="Where the shipped entries were read."
    )


class ClassificationScheme(BaseModel):
    scheme: str = Field(description="Id a project's classifications use.", examples=["gfc-2025"])
    name_zh: str = Field(examples=["绿色金融支持项目目录（2025年版）"])
    name_en: str
    issued_by: list[str]
    in_force: date = Field(description="Day the scheme took effect.")
    source: SchemeSource
    levels: SchemeLevels
    entries: list[SchemeEntry]


class ClassificationSchemes(BaseModel):
    items: list[ClassificationScheme]


class CrosswalkTarget(BaseModel):
    code: str = Field(examples=["4"])
    name_zh: str
    name_en: str


class CrosswalkItem(BaseModel):
    category: str = Field(description="A taxonomy code, either level.", examples=["M2"])
    suggested: list[CrosswalkTarget] = Field(description="Entries suggested for it.")


class Crosswalk(BaseModel):
    from_taxonomy_version: str = Field(description="The taxonomy version mapped from.")
    to: str = Field(description="The scheme mapped to.", examples=["gfc-2025"])
    note: str = Field(description="What the mapping is and is not: a suggestion.")
    items: list[CrosswalkItem]


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
    name_en: str | None = Field(
        default=None,
        description=(
            "English name where a source gives one: the provincial level, as the National "
            "Bureau of Statistics writes it (app/reference/provinces.json); null below."
        ),
        examples=["Guangdong"],
    )
    bbox: list[float] | None = Field(
        default=None,
        description=(
            "A province's box, [west, south, east, north] in WGS 84 degrees, islands and sea "
            "areas included, as published (a project's location is checked against it widened "
            "by the margin the data file states); null below the provincial level."
        ),
        examples=[[109.65, 20.22, 117.32, 25.52]],
    )


class RegionDetail(RegionRead):
    children: list[RegionRead]


class RegionPage(BaseModel):
    items: list[RegionRead]
    next_cursor: str | None = None
