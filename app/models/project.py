"""Projects of the library (入库项目) and the per-region library code counter (their history is
in the audit store, app/models/audit.py)."""

import uuid
from datetime import date, datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    CheckConstraint,
    ColumnElement,
    Float,
    Index,
    Integer,
    Numeric,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from app.models.base import Base, Money, Timestamp, UUIDPk, db_now, only_on
from app.models.flags import CATEGORIES, FINANCING_TYPES
from app.reference.taxonomy import taxonomy_version


class Objective(StrEnum):
    mitigation = "mitigation"
    adaptation = "adaptation"
    both = "both"


class Nature(StrEnum):
    new_build = "new_build"
    expansion = "expansion"
    retrofit = "retrofit"
    operation = "operation"
    other = "other"


class Fuel(StrEnum):
    """What a thermal plant burns: only coal makes a 4411/4412 plant 煤电."""

    coal = "coal"
    gas = "gas"
    oil = "oil"
    biomass = "biomass"
    waste = "waste"
    other = "other"


class TwoHighOutcome(StrEnum):
    """The 两高 screening's outcome (app/services/screening.py)."""

    not_two_high = "not_two_high"
    two_high_transition = "two_high_transition"
    two_high_refused = "two_high_refused"


class ConstructionStatus(StrEnum):
    planning = "planning"
    approved = "approved"
    under_construction = "under_construction"
    operational = "operational"


class OwnerType(StrEnum):
    state_owned = "state_owned"
    private = "private"
    foreign = "foreign"
    public_institution = "public_institution"
    government = "government"
    collective = "collective"  # 农村集体经济组织
    cooperative = "cooperative"  # 农民专业合作社
    other = "other"


class ExitReason(StrEnum):
    """Why a project left the library (出库)."""

    completed = "completed"
    financing_fulfilled = "financing_fulfilled"
    cancelled = "cancelled"
    non_compliant = "non_compliant"


# Exits whose climate benefits never happened: left out of the benefit totals (the statistics'
# benefit sums, the portfolio's attribution).
BENEFITS_VOID = frozenset({ExitReason.cancelled, ExitReason.non_compliant})


def _first_category(context: Any) -> str | None:
    """A row written without its primary category gets its first category in taxonomy order."""
    codes = CATEGORIES.decode(context.get_current_parameters().get("categories_mask") or 0)
    return codes[0] if codes else None


class ProjectStatus(StrEnum):
    draft = "draft"
    submitted = "submitted"
    recommended = "recommended"
    in_library = "in_library"
    returned = "returned"
    rejected = "rejected"
    withdrawn = "withdrawn"
    exited = "exited"


# What the matcher's full load reads of a library project besides its id
# (app/repositories/matching.py), held by ix_projects_matching.
_MATCHING_COLUMNS = (
    "region_code",
    "objective",
    "categories_mask",
    "financing_types_mask",
    "construction_status",
    "financing_need",
    "financing_secured",
    "tenor_months",
    "annual_emission_reduction_tco2e",
    "annual_carbon_sink_tco2e",
    "adaptation_beneficiaries",
    "third_party_verified",
    "is_two_high",
    "classifications",
    "verified_reports",
    "verified_emission_reduction_tco2e",
    "verified_carbon_sink_tco2e",
    "verified_days",
    "verified_adaptation_beneficiaries",
)
_IN_LIBRARY = text("status = 'in_library'")


class Project(Base):
    __tablename__ = "projects"
    __table_args__ = (
        UniqueConstraint("source_scope", "external_ref"),
        CheckConstraint("financing_need <= total_investment", name="need_within_investment"),
        CheckConstraint("financing_secured <= financing_need", name="secured_within_need"),
        CheckConstraint("financing_secured >= 0", name="secured_not_negative"),
        Index("ix_projects_status_region", "status", "region_code"),
        Index("ix_projects_updated", "updated_at", "id"),
        # The default list order (newest first), for everyone and for the public's in_library.
        Index("ix_projects_created", "created_at", "id"),
        Index("ix_projects_status_created", "status", "created_at", "id"),
        # The bbox filter narrows by longitude first (a point is both coordinates or none).
        Index("ix_projects_location", "location_lon", "location_lat"),
        # The integrity flags' likely_duplicate: the other projects of the same owner.
        Index("ix_projects_owner_uscc", "owner_uscc"),
        # The matcher's full load scans this instead of the wide rows; drafts (what creates and
        # imports write) never enter it. One index, defined per database (migration 0022).
        only_on(
            "postgresql",
            Index(
                "ix_projects_matching",
                "id",
                postgresql_include=list(_MATCHING_COLUMNS),
                postgresql_where=_IN_LIBRARY,
            ),
        ),
        only_on(
            "sqlite",
            Index(
                "ix_projects_matching",
                "status",
                "id",
                *_MATCHING_COLUMNS,
                sqlite_where=_IN_LIBRARY,
            ),
        ),
    )

    id: Mapped[UUIDPk]
    external_ref: Mapped[str | None] = mapped_column(String(100))
    source_scope: Mapped[str] = mapped_column(
        String(64), doc="Scope of the region key that created it; external_ref is unique within it."
    )
    name: Mapped[str] = mapped_column(String(300))
    summary: Mapped[str] = mapped_column(Text, default="")
    name_en: Mapped[str | None] = mapped_column(String(300), doc="The name in English.")
    summary_en: Mapped[str | None] = mapped_column(Text, doc="The summary in English.")
    location_lat: Mapped[float | None] = mapped_column(Float, doc="WGS 84 latitude.")
    location_lon: Mapped[float | None] = mapped_column(Float, doc="WGS 84 longitude.")
    region_code: Mapped[str] = mapped_column(String(6), index=True)
    # No foreign key (revision 0012 explains why): writes check that the pilot exists.
    pilot_id: Mapped[uuid.UUID | None] = mapped_column(
        index=True, doc="The pilot the project belongs to (services/pilot_membership.py)."
    )
    owner_name: Mapped[str] = mapped_column(String(300))
    owner_uscc: Mapped[str] = mapped_column(String(18))
    owner_type: Mapped[str | None] = mapped_column(String(30))
    objective: Mapped[Objective] = mapped_column(String(12))
    categories_mask: Mapped[int] = mapped_column(Integer)
    classifications: Mapped[list[dict[str, str]]] = mapped_column(
        JSON, default=list, doc="Entries in external schemes: [{scheme, code}]."
    )
    taxonomy_version: Mapped[str] = mapped_column(
        String(16), default=taxonomy_version, doc="Taxonomy the categories follow."
    )
    primary_category: Mapped[str] = mapped_column(
        String(10),
        default=_first_category,
        doc="The category the statistics attribute the project to; one of its categories.",
    )
    industry_code: Mapped[str] = mapped_column(String(5), index=True)
    fuel: Mapped[Fuel | None] = mapped_column(String(10))
    capacity_replacement: Mapped[bool] = mapped_column(Boolean, default=False)
    nature: Mapped[Nature] = mapped_column(String(12))
    construction_status: Mapped[ConstructionStatus] = mapped_column(String(20))
    start_date: Mapped[date | None]
    end_date: Mapped[date | None]
    total_investment: Mapped[Money]
    financing_need: Mapped[Money]
    financing_secured: Mapped[Money] = mapped_column(default=Decimal("0.00"))
    financing_types_mask: Mapped[int] = mapped_column(Integer, default=0)
    tenor_months: Mapped[int | None]
    annual_emission_reduction_tco2e: Mapped[float | None] = mapped_column(Float)
    annual_energy_saving_tce: Mapped[float | None] = mapped_column(Float)
    annual_carbon_sink_tco2e: Mapped[float | None] = mapped_column(Float)
    adaptation_beneficiaries: Mapped[int | None]
    adaptation_benefit: Mapped[str | None] = mapped_column(Text)
    accounting_methodology: Mapped[str | None] = mapped_column(String(300))
    baseline: Mapped[str | None] = mapped_column(Text)
    third_party_verified: Mapped[bool] = mapped_column(Boolean, default=False)
    verifier: Mapped[str | None] = mapped_column(String(300))
    disclosure_commitment: Mapped[bool] = mapped_column(Boolean, default=False)
    contact_name: Mapped[str | None] = mapped_column(String(100))
    contact_phone: Mapped[str | None] = mapped_column(String(40))
    contact_email: Mapped[str | None] = mapped_column(String(200))

    status: Mapped[ProjectStatus] = mapped_column(String(12), default=ProjectStatus.draft)
    is_two_high: Mapped[bool] = mapped_column(Boolean, default=False)
    two_high_outcome: Mapped[TwoHighOutcome] = mapped_column(
        String(20), default=TwoHighOutcome.not_two_high
    )
    screening: Mapped[Any] = mapped_column(
        JSON, default=dict, doc="Screening: outcome, rule id and version, reasons."
    )
    library_code: Mapped[str | None] = mapped_column(String(30), unique=True)
    exit_reason: Mapped[ExitReason | None] = mapped_column(
        String(20), doc="Why it left the library (exited only); null for exits before 0010."
    )
    # Verified results (MRV): the sums of the project's verified monitoring reports, kept here
    # by the verification (services/monitoring.py) so that lists, statistics and the matcher
    # read them without a join. ``verified_days``: the days the verified periods cover.
    verified_emission_reduction_tco2e: Mapped[Decimal] = mapped_column(
        Numeric(18, 3), default=Decimal("0.000")
    )
    verified_carbon_sink_tco2e: Mapped[Decimal] = mapped_column(
        Numeric(18, 3), default=Decimal("0.000")
    )
    verified_energy_saving_tce: Mapped[Decimal] = mapped_column(
        Numeric(18, 3), default=Decimal("0.000")
    )
    verified_credited_tco2e: Mapped[Decimal] = mapped_column(
        Numeric(18, 3), default=Decimal("0.000")
    )
    verified_adaptation_beneficiaries: Mapped[int] = mapped_column(Integer, default=0)
    verified_reports: Mapped[int] = mapped_column(Integer, default=0)
    verified_days: Mapped[int] = mapped_column(Integer, default=0)
    approved_at: Mapped[datetime | None]
    version: Mapped[int] = mapped_column(Integer, default=1)
    created_by: Mapped[uuid.UUID | None]
    created_at: Mapped[Timestamp]
    # Stamped by the database on every write (a feed reads it: see db_now), and read back with
    # RETURNING (eager_defaults) so that the answer to the write shows the stored stamp.
    updated_at: Mapped[datetime] = mapped_column(default=db_now(), onupdate=db_now())

    __mapper_args__ = {"version_id_col": version, "eager_defaults": True}

    @property
    def categories(self) -> list[str]:
        return CATEGORIES.decode(self.categories_mask)

    @property
    def financing_types(self) -> list[str]:
        return FINANCING_TYPES.decode(self.financing_types_mask)

    @property
    def remaining_need(self) -> Decimal:
        return self.financing_need - self.financing_secured


class LibrarySequence(Base):
    """Last library code number issued per region and year; incremented inside the approval."""

    __tablename__ = "library_sequences"

    region_code: Mapped[str] = mapped_column(String(6), primary_key=True)
    year: Mapped[int] = mapped_column(Integer, primary_key=True)
    last_value: Mapped[int] = mapped_column(Integer, default=0)


def has_verified_results() -> ColumnElement[bool]:
    """A project with at least one verified monitoring report: the count its verifications
    keep on it (app/repositories/monitoring.py). What "verified" means for statistics, flags
    and every other reader."""
    return Project.verified_reports > 0
