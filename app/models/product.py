"""Financial products (金融产品): an institution's own eligibility criteria, weights and quota."""

import uuid
from datetime import date, datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    CheckConstraint,
    Float,
    ForeignKey,
    Integer,
    Numeric,
    String,
    Text,
    Uuid,
)
from sqlalchemy.orm import Mapped, mapped_column

from app.models.base import Base, Money, Timestamp, UUIDPk, utcnow


class ProductType(StrEnum):
    green_loan = "green_loan"
    carbon_pledge_loan = "carbon_pledge_loan"
    carbon_insurance = "carbon_insurance"
    climate_insurance = "climate_insurance"
    carbon_fund = "carbon_fund"
    green_bond = "green_bond"
    sustainability_linked_loan = "sustainability_linked_loan"
    transition_loan = "transition_loan"
    guarantee = "guarantee"
    leasing = "leasing"
    equity = "equity"


class ProductStatus(StrEnum):
    draft = "draft"
    active = "active"
    paused = "paused"
    retired = "retired"


Rate = Numeric(7, 3)


class Product(Base):
    __tablename__ = "products"
    __table_args__ = (
        CheckConstraint("quota_used >= 0", name="quota_used_not_negative"),
        CheckConstraint(
            "quota_total IS NULL OR quota_used <= quota_total", name="quota_used_within_total"
        ),
    )

    id: Mapped[UUIDPk]
    institution_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("institutions.id", ondelete="RESTRICT"), index=True
    )
    name: Mapped[str] = mapped_column(String(300))
    description: Mapped[str] = mapped_column(Text, default="")
    type: Mapped[ProductType] = mapped_column(String(30))
    status: Mapped[ProductStatus] = mapped_column(String(10), default=ProductStatus.draft)
    valid_from: Mapped[date | None]
    valid_to: Mapped[date | None]
    quota_total: Mapped[Decimal | None] = mapped_column(Numeric(18, 2))
    quota_used: Mapped[Money] = mapped_column(default=Decimal("0.00"))
    # Criteria: null or an empty list does not restrict.
    objectives: Mapped[list[str] | None] = mapped_column(JSON)
    categories: Mapped[list[str] | None] = mapped_column(JSON)
    gfc_codes: Mapped[list[str] | None] = mapped_column(
        JSON, doc="Entries of 《绿色金融支持项目目录（2025年版）》 targeted (gfc-2025 codes)."
    )
    region_prefixes: Mapped[list[str] | None] = mapped_column(JSON)
    construction_statuses: Mapped[list[str] | None] = mapped_column(JSON)
    amount_min: Mapped[Decimal | None] = mapped_column(Numeric(18, 2))
    amount_max: Mapped[Decimal | None] = mapped_column(Numeric(18, 2))
    tenor_min_months: Mapped[int | None] = mapped_column(Integer)
    tenor_max_months: Mapped[int | None] = mapped_column(Integer)
    min_emission_reduction_tco2e: Mapped[float | None] = mapped_column(Float)
    requires_verification: Mapped[bool] = mapped_column(Boolean, default=False)
    requires_verified_results: Mapped[bool] = mapped_column(
        Boolean, default=False, doc="Only projects with verified monitoring results (MRV)."
    )
    accepts_two_high_transition: Mapped[bool] = mapped_column(Boolean, default=True)

    @property
    def accepts_two_high_retrofit(self) -> bool:
        """The deprecated name of ``accepts_two_high_transition``, still answered for a version."""
        return self.accepts_two_high_transition

    rate_min: Mapped[Decimal | None] = mapped_column(Rate)
    rate_max: Mapped[Decimal | None] = mapped_column(Rate)
    weights: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    version: Mapped[int] = mapped_column(Integer, default=1)
    created_at: Mapped[Timestamp]
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    __mapper_args__ = {"version_id_col": version}


class MatchingState(Base):
    """Positions the matcher's change log keeps about itself: ``pruned`` says how far old
    entries have been deleted (PostgreSQL: entries of transactions below this id; SQLite: ids up
    to it). A reader whose own position is older than that rebuilds instead of patching.

    Only the pruner writes here, at most one at a time and never waited for (migration 0006), so
    no project or product write queues on this table.
    """

    __tablename__ = "matching_state"

    name: Mapped[str] = mapped_column(String(20), primary_key=True)
    position: Mapped[int] = mapped_column(BigInteger, default=0)


CHANGES_KEPT = 10_000
"""Entries of ``matching_changes`` the pruner keeps at least (the newest ones)."""


class MatchingChange(Base):
    """One change to a matcher input: a project entering, leaving or changing in the library
    (``kind`` ``project``) or an active product written (``product``), logged by triggers in the
    writing transaction (migration 0006).

    ``id`` comes from a sequence (SQLite: the rowid), so concurrent writers never share a row;
    ids are handed out in write order, not commit order. ``xid`` is the writing transaction's id
    on PostgreSQL (NULL on SQLite, where one writer at a time commits ids in order): a reader
    only moves past entries whose transactions have all finished, so an entry that commits late
    is still read.
    """

    __tablename__ = "matching_changes"

    id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer(), "sqlite"), primary_key=True, autoincrement=True
    )
    kind: Mapped[str] = mapped_column(String(10))
    object_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    xid: Mapped[int | None] = mapped_column(BigInteger, index=True)
