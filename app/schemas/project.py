"""Project requests and answers: money is exact and travels as decimal strings."""

import uuid
from datetime import date, datetime
from decimal import Decimal
from enum import StrEnum
from typing import TYPE_CHECKING, Annotated, Any, Self

from pydantic import (
    ConfigDict,
    Field,
    PlainSerializer,
    create_model,
    field_validator,
    model_validator,
)

from app.models.flags import CATEGORIES, FINANCING_TYPES
from app.models.project import (
    ConstructionStatus,
    ExitReason,
    Fuel,
    Nature,
    Objective,
    OwnerType,
    ProjectStatus,
    TwoHighOutcome,
)
from app.schemas.common import DecimalText, InputModel, OutputModel, money_str
from app.schemas.monitoring import VerifiedResults
from app.schemas.project_fields import (
    Amount,
    Mask,
    Nested,
    Plain,
    Records,
    Results,
    Screened,
    field_table,
    optional_model,
    shown_fields,
)

# Capped below 10^13 CNY so every amount is also exact on SQLite, which keeps NUMERIC as a
# double (15 significant digits); the largest real project is far smaller.
MONEY_MAX = Decimal("9999999999999.99")


Money = Annotated[
    Decimal,
    Field(ge=0, le=MONEY_MAX, max_digits=15, decimal_places=2),
    DecimalText(13, 2),
    PlainSerializer(money_str, return_type=str, when_used="json"),
]


# The codes come from their one source each (the taxonomy; the stored financing types).
Category = StrEnum(  # type: ignore[misc]  # mypy reads members only from a literal list
    "Category", [(code, code) for code in CATEGORIES.codes], module=__name__
)
FinancingType = StrEnum(  # type: ignore[misc]
    "FinancingType", [(code, code) for code in FINANCING_TYPES.codes], module=__name__
)


def _uuid_text(value: uuid.UUID | None) -> str | None:
    return None if value is None else str(value)


class Owner(InputModel):
    name: Annotated[str, Plain("项目业主")] = Field(
        min_length=1, max_length=300, description="Legal name of the project owner."
    )
    uscc: Annotated[str, Plain("统一社会信用代码", shown="Unified social credit code.")] = Field(
        min_length=1,
        max_length=24,
        description="Unified social credit code (统一社会信用代码), checksum-valid.",
        examples=["9144030071526726XG"],
    )
    type: Annotated[OwnerType | None, Plain("业主类型")] = Field(
        default=None, description="Kind of owner."
    )

    @field_validator("uscc")
    @classmethod
    def _compact_uscc(cls, value: str) -> str:
        # Stored in the compact form the checksum is computed on: no spaces or dashes, upper case.
        return value.replace(" ", "").replace("-", "").upper()


class Classification(InputModel):
    """A project's entry in an external classification scheme (GET /taxonomy/classifications)."""

    scheme: str = Field(
        min_length=1, max_length=40, description="The scheme's id.", examples=["gfc-2025"]
    )
    code: str = Field(
        min_length=1, max_length=20, description="The entry's code in that scheme.", examples=["4"]
    )

    @model_validator(mode="before")
    @classmethod
    def _from_text(cls, value: Any) -> Any:
        # A spreadsheet cell holds each classification as ``scheme:code``.
        if isinstance(value, str) and ":" in value:
            scheme, _, code = value.partition(":")
            return {"scheme": scheme.strip(), "code": code.strip()}
        return value


class Contact(InputModel):
    name: Annotated[str | None, Plain("联系人")] = Field(
        default=None, max_length=100, description="Contact person."
    )
    phone: Annotated[str | None, Plain("联系电话")] = Field(
        default=None, max_length=40, description="Contact phone."
    )
    email: Annotated[str | None, Plain("联系邮箱")] = Field(
        default=None,
        max_length=200,
        pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$",
        description="Contact e-mail.",
    )


class Location(InputModel):
    """A point in WGS 84 degrees (CGCS2000 is the same at this precision)."""

    lat: Annotated[float, Plain("纬度", shown="Latitude, WGS 84 degrees.")] = Field(
        ge=-90, le=90, allow_inf_nan=False, description="Latitude, WGS 84 decimal degrees."
    )
    lon: Annotated[float, Plain("经度", shown="Longitude, WGS 84 degrees.")] = Field(
        ge=-180, le=180, allow_inf_nan=False, description="Longitude, WGS 84 decimal degrees."
    )


class ProjectFields(InputModel):
    """Every field a region supplies; shared by creation and the merged result of a PATCH.

    This is the project's field table (kinds: schemas/project_fields.py): a new field is one
    declaration here, plus its model column and migration.
    """

    external_ref: Annotated[str | None, Plain("地方项目编号", shown="The region's own id.")] = (
        Field(
            default=None,
            min_length=1,
            max_length=100,
            description="The region's own id for the project; unique per submitting region.",
            examples=["SZFT-2026-001"],
        )
    )
    name: Annotated[str, Plain("项目名称")] = Field(
        min_length=1, max_length=300, description="Project name."
    )
    summary: Annotated[str, Plain("项目简介")] = Field(
        default="", max_length=5000, description="What the project does."
    )
    region_code: Annotated[str, Plain("行政区划代码", shown="GB/T 2260 code.")] = Field(
        min_length=6,
        max_length=6,
        description="Current GB/T 2260 code where the project is located, within the key's scope.",
        examples=["440304"],
    )
    pilot_id: Annotated[
        uuid.UUID | None,
        Plain("气候投融资试点", shown="The pilot the project belongs to.", show=_uuid_text),
    ] = Field(
        default=None,
        description=(
            "The climate investment and financing pilot the project belongs to (GET /pilots). "
            "Set from a `pilot:<id>` key; otherwise chosen by the region, and only a pilot whose "
            "codes hold region_code (a project in a code the pilot covers in part belongs to it "
            "only when it says so here)."
        ),
        examples=["9307a0f5-5a51-51ef-9af5-085cf758ba38"],
    )
    owner: Annotated[Owner, Nested(shown="The project owner.")] = Field(
        description="The project owner (项目业主)."
    )
    objective: Annotated[Objective, Plain("气候目标")] = Field(
        description="mitigation, adaptation or both."
    )
    categories: Annotated[
        list[Category], Mask("支持领域", CATEGORIES, shown="Taxonomy categories.")
    ] = Field(
        min_length=1,
        max_length=len(CATEGORIES.codes),
        description=(
            "Taxonomy categories consistent with the objective: first-level (M1…M6, A1…A7) or "
            "second-level codes (M2.1 …, as /taxonomy serves them), a second-level code implying "
            "its parent; a parent listed with its own child is a 422 redundant_category."
        ),
        examples=[["M2"]],
    )
    classifications: Annotated[
        list[Classification],
        Records("外部分类", shown="Entries in external classification schemes."),
    ] = Field(
        default_factory=list,
        max_length=20,
        description=(
            "Entries in recognised external schemes (GET /api/v1/taxonomy/classifications), "
            "e.g. 《绿色金融支持项目目录（2025年版）》 as gfc-2025; an unknown scheme or code is "
            "a 422 naming it. In a spreadsheet: scheme:code items, e.g. gfc-2025:4."
        ),
        examples=[[{"scheme": "gfc-2025", "code": "4"}]],
    )
    primary_category: Annotated[
        Category | None,
        Plain("主要支持领域", shown="The category the statistics attribute the project to."),
    ] = Field(
        default=None,
        description=(
            "The category the statistics attribute the project to; one of its categories. "
            "Left out: the first one listed."
        ),
        examples=["M2"],
    )
    industry_code: Annotated[str, Plain("国民经济行业代码", shown="GB/T 4754-2017 class.")] = Field(
        max_length=5,
        description="GB/T 4754-2017 class code: section letter and four digits.",
        examples=["D4415"],
    )
    fuel: Annotated[Fuel | None, Plain("燃料类型", shown="Fuel of a thermal power plant.")] = Field(
        default=None,
        description=(
            "What the plant burns: coal, gas, oil, biomass, waste or other. Required for "
            "D4411 火力发电 and D4412 热电联产, where only coal counts as 煤电 (两高)."
        ),
        examples=["coal"],
    )
    nature: Annotated[Nature, Plain("建设性质", shown="Project nature.")] = Field(
        description="new_build, expansion, retrofit, operation or other."
    )
    capacity_replacement: Annotated[
        bool, Plain("产能置换", shown="Replaces existing capacity (产能置换).")
    ] = Field(
        default=False,
        description=(
            "The new build or expansion replaces existing capacity (产能置换), e.g. "
            "hydrogen-based steel replacing blast furnaces; with M3/M4/M5 it makes a 两高 "
            "project a transition one."
        ),
    )
    construction_status: Annotated[
        ConstructionStatus, Plain("建设状态", shown="Construction status.")
    ] = Field(description="planning, approved, under_construction or operational.")
    start_date: Annotated[date | None, Plain("开工日期")] = Field(
        default=None, description="Construction start."
    )
    end_date: Annotated[date | None, Plain("完工日期", shown="Completion.")] = Field(
        default=None, description="Completion; not before start_date."
    )
    total_investment: Annotated[
        Money,
        Amount(
            "总投资（元）",
            shown="Total investment, CNY, decimal string.",
            shown_examples=["25000000.00"],
        ),
    ] = Field(description="Total investment in CNY (decimal string).", examples=["25000000.00"])
    financing_need: Annotated[
        Money, Amount("融资需求（元）", shown="Financing sought, CNY, decimal string.")
    ] = Field(
        description="Financing sought, CNY; at most total_investment.", examples=["12500000.00"]
    )
    financing_secured: Annotated[
        Money, Amount("已落实融资（元）", shown="Financing secured, CNY, decimal string.")
    ] = Field(
        default=Decimal("0.00"),
        description="Financing already secured, CNY; at most financing_need.",
        examples=["0.00"],
    )
    financing_types: Annotated[list[FinancingType], Mask("融资方式", FINANCING_TYPES)] = Field(
        default_factory=list, max_length=8, description="Financing instruments wanted."
    )
    tenor_months: Annotated[int | None, Plain("融资期限（月）")] = Field(
        default=None, ge=1, le=600, description="Tenor sought, months."
    )
    annual_emission_reduction_tco2e: Annotated[
        float | None, Plain("年减排量（吨二氧化碳当量）", shown="tCO2e per year.")
    ] = Field(default=None, ge=0, le=1e9, description="Annual emission reduction, tCO2e.")
    annual_energy_saving_tce: Annotated[
        float | None, Plain("年节能量（吨标准煤）", shown="tce per year.")
    ] = Field(default=None, ge=0, le=1e9, description="Annual energy saving, tce.")
    annual_carbon_sink_tco2e: Annotated[
        float | None, Plain("年碳汇量（吨二氧化碳当量）", shown="tCO2e per year.")
    ] = Field(default=None, ge=0, le=1e9, description="Annual carbon sink added, tCO2e.")
    adaptation_beneficiaries: Annotated[
        int | None, Plain("适应受益人数", shown="People benefiting.")
    ] = Field(
        default=None, ge=0, le=2_000_000_000, description="People benefiting from adaptation."
    )
    adaptation_benefit: Annotated[
        str | None, Plain("适应效益", shown="The adaptation benefit.")
    ] = Field(default=None, max_length=5000, description="The adaptation benefit, stated.")
    accounting_methodology: Annotated[
        str | None, Plain("核算方法学", shown="Carbon accounting methodology.")
    ] = Field(default=None, max_length=300, description="Carbon accounting methodology used.")
    baseline: Annotated[str | None, Plain("基准线")] = Field(
        default=None, max_length=5000, description="Emission baseline."
    )
    third_party_verified: Annotated[
        bool, Plain("第三方核证", shown="Verified by a third party.")
    ] = Field(default=False, description="Benefits verified by a third party.")
    verifier: Annotated[str | None, Plain("核证机构")] = Field(
        default=None, max_length=300, description="The verifier."
    )
    disclosure_commitment: Annotated[
        bool, Plain("信息披露承诺", shown="Disclosure commitment.")
    ] = Field(default=False, description="The owner commits to disclose climate information.")
    name_en: Annotated[str | None, Plain("英文项目名称", shown="The name in English.")] = Field(
        default=None, min_length=1, max_length=300, description="The project's name in English."
    )
    summary_en: Annotated[str | None, Plain("英文项目简介", shown="The summary in English.")] = (
        Field(default=None, max_length=5000, description="What the project does, in English.")
    )
    location: Annotated[
        Location | None,
        Nested(shown="Where the project is (WGS 84); null when not stated."),
    ] = Field(
        default=None,
        description=(
            "Where the project is: a WGS 84 point inside the bounding box of the province of "
            "region_code, its islands and sea areas included (422 location_outside_province "
            "otherwise; the boxes and their source: GET /api/v1/regions/{code})."
        ),
        examples=[{"lat": 22.5431, "lon": 114.0579}],
    )
    contact: Annotated[
        Contact | None,
        Nested(shown="Contact person; null when the caller may not see it.", private=True),
    ] = Field(
        default=None, description="Contact person; never shown to the public or institutions."
    )

    @model_validator(mode="after")
    def _primary_defaults_to_first(self) -> "ProjectFields":
        if self.primary_category is None and self.categories:
            # Set past pydantic's __setattr__, so that ``model_fields_set`` still tells a stated
            # primary category from this default (a batch update keeps the stored one then).
            object.__setattr__(self, "primary_category", self.categories[0])
        return self

    def keeping_primary(self, stored: str | None) -> Self:
        """This full record as an update of a project whose primary category is ``stored``:
        without a stated one, the stored one stays while it is still listed."""
        if "primary_category" in self.model_fields_set or stored is None:
            return self
        if stored not in self.categories or stored == self.primary_category:
            return self
        return self.model_copy(update={"primary_category": Category(stored)})


class ProjectCreate(ProjectFields):
    """A new project (a draft) pushed by a region."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "external_ref": "SZFT-2026-001",
                    "name": "福田区公共建筑屋顶分布式光伏",
                    "summary": "Distributed photovoltaics on 42 public buildings, 18 MWp.",
                    "region_code": "440304",
                    "owner": {
                        "name": "深圳市福田区能源发展有限公司",
                        "uscc": "9144030071526726XG",
                        "type": "state_owned",
                    },
                    "objective": "mitigation",
                    "categories": ["M2"],
                    "industry_code": "D4416",
                    "nature": "new_build",
                    "construction_status": "approved",
                    "start_date": "2027-03-01",
                    "end_date": "2028-06-30",
                    "total_investment": "72000000.00",
                    "financing_need": "50000000.00",
                    "financing_secured": "0.00",
                    "financing_types": ["loan", "leasing"],
                    "tenor_months": 120,
                    "annual_emission_reduction_tco2e": 10250.0,
                    "accounting_methodology": "ACM0002 (grid-connected renewable electricity)",
                    "third_party_verified": False,
                    "disclosure_commitment": True,
                    "contact": {"name": "李明", "phone": "0755-00000000", "email": "li@example.cn"},
                }
            ]
        }
    )


class ScreeningReason(OutputModel):
    code: str = Field(
        description=(
            "not_listed, fuel, two_high_sector, transition, capacity_replacement, "
            "no_transition_category or new_capacity."
        )
    )
    message: str = Field(description="Why, in words.")
    sector: str | None = Field(default=None, description="The 两高 sector, when there is one.")


class Screening(OutputModel):
    outcome: TwoHighOutcome = Field(
        description=(
            "not_two_high; two_high_transition (allowed, flagged for reviewers); or "
            "two_high_refused (refused at submission)."
        )
    )
    is_two_high: bool = Field(description="In a 两高 (high energy, high emission) sector.")
    flagged_for_review: bool = Field(
        description="A 两高 transition project: reviewers look at it with the screening's reasons."
    )
    rule_id: str = Field(
        description="The rule that decided the outcome.",
        examples=["two_high.transition_in_place"],
    )
    rule_version: str = Field(description="Version of the screening rules applied.")
    list_version: str | None = Field(description="Version of the 两高 sector list applied.")
    reasons: list[ScreeningReason] = Field(description="The reasons for the outcome.")


# What the library adds to the region's fields, around them in the answer.
_REGISTERED: dict[str, Any] = {
    "id": (Annotated[uuid.UUID, Plain(show=str)], Field(description="Project id.")),
    "library_code": (
        str | None,
        Field(
            description="CIF-<region>-<year>-<sequence>, given on approval.",
            examples=["CIF-440304-2026-00012"],
        ),
    ),
    "status": (ProjectStatus, Field(description="Lifecycle status (入库流程).")),
    "exit_reason": (
        ExitReason | None,
        Field(
            description=(
                "Why an exited project left the library (completed, financing_fulfilled, "
                "cancelled, non_compliant); null otherwise, and for exits recorded before "
                "reasons were."
            )
        ),
    ),
}
_REVIEWED: dict[str, Any] = {
    "screening": (
        Annotated[Screening, Screened()],
        Field(description="两高 screening result and its reasons."),
    ),
    "taxonomy_version": (
        str,
        Field(
            description=(
                "Version of the taxonomy the categories were last validated under (set by every "
                "write; a new taxonomy version never rewrites stored projects)."
            ),
            examples=["2026.1"],
        ),
    ),
    "verified": (
        Annotated[VerifiedResults, Results()],
        Field(
            description=(
                "Verified (ex-post) results next to the stated (ex-ante) annual figures above: "
                "the sums of the project's verified monitoring reports (MRV)."
            )
        ),
    ),
    "version": (int, Field(description="Version for If-Match (the ETag is its quoted value).")),
    "approved_at": (datetime | None, Field(description="When it entered the library.")),
    "created_at": (datetime, Field(description="Created.")),
    "updated_at": (datetime, Field(description="Last changed.")),
}


class _PatchExample(InputModel):
    """The base of ProjectUpdate: InputModel with an example of a partial update."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "financing_need": "45000000.00",
                    "tenor_months": 96,
                    "contact": {"name": "李明", "phone": "0755-00000000", "email": "li@example.cn"},
                }
            ]
        }
    )


if TYPE_CHECKING:  # made from ProjectFields; code uses them only as the models they are
    ProjectUpdate = InputModel
    ProjectRead = OutputModel
else:
    ProjectUpdate = optional_model(
        ProjectFields,
        "ProjectUpdate",
        _PatchExample,
        "A partial update: only the fields sent change; null clears an optional field.",
    )
    ProjectRead = create_model(
        "ProjectRead",
        __base__=OutputModel,
        __module__=__name__,
        **_REGISTERED,
        **shown_fields(ProjectFields),
        **_REVIEWED,
    )

# The table as the layers below read it: the fields a region sends, and the answer's fields.
INPUT_FIELDS = field_table(ProjectFields)
ANSWER_FIELDS = field_table(ProjectRead)
