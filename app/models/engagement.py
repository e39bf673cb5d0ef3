"""Engagements: an institution's offer on a library project and its funnel to financing."""

import uuid
from datetime import date, datetime
from decimal import Decimal
from enum import StrEnum

from sqlalchemy import ForeignKey, Index, Integer, Numeric, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from app.models.base import Base, Money, Timestamp, UUIDPk, utcnow


class EngagementStatus(StrEnum):
    offered = "offered"
    accepted = "accepted"
    declined = "declined"
    contacted = "contacted"
    due_diligence = "due_diligence"
    financed = "financed"
    not_financed = "not_financed"


class NotFinancedReason(StrEnum):
    credit_risk = "credit_risk"
    insufficient_collateral = "insufficient_collateral"
    project_not_ready = "project_not_ready"
    terms_not_agreed = "terms_not_agreed"
    owner_withdrew = "owner_withdrew"
    quota_exhausted = "quota_exhausted"
    other = "other"


class Engagement(Base):
    __tablename__ = "engagements"
    __table_args__ = (Index("ix_engagements_created", "created_at", "id"),)

    id: Mapped[UUIDPk]
    project_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("projects.id", ondelete="CASCADE"), index=True
    )
    product_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("products.id", ondelete="RESTRICT"), index=True
    )
    institution_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("institutions.id", ondelete="RESTRICT"), index=True
    )
    status: Mapped[EngagementStatus] = mapped_column(String(15), default=EngagementStatus.offered)
    amount: Mapped[Money]
    annual_rate: Mapped[Decimal] = mapped_column(Numeric(7, 3))
    tenor_months: Mapped[int] = mapped_column(Integer)
    message: Mapped[str] = mapped_column(Text, default="")
    accepted_at: Mapped[datetime | None]
    contact_deadline: Mapped[datetime | None]
    contacted_at: Mapped[datetime | None]
    due_diligence_at: Mapped[datetime | None]
    declined_at: Mapped[datetime | None]
    decline_reason: Mapped[str | None] = mapped_column(Text)
    closed_at: Mapped[datetime | None]
    financed_amount: Mapped[Decimal | None] = mapped_column(Numeric(18, 2))
    financed_rate: Mapped[Decimal | None] = mapped_column(Numeric(7, 3))
    financed_on: Mapped[date | None]
    not_financed_reason: Mapped[str | None] = mapped_column(String(30))
    created_at: Mapped[Timestamp]
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class PaymentKind(StrEnum):
    disbursement = "disbursement"  # 放款: money paid out under the signed contract
    repayment = "repayment"  # 还款: principal paid back


class Payment(Base):
    """Money moving under a financed engagement's signed contract: paid out or paid back.

    ``outstanding = disbursed − repaid``; disbursements never add up to more than the signed
    amount, repayments never to more than was disbursed.
    """

    __tablename__ = "engagement_payments"
    __table_args__ = (Index("ix_engagement_payments_engagement", "engagement_id", "paid_on"),)

    id: Mapped[UUIDPk]
    engagement_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("engagements.id", ondelete="CASCADE")
    )
    kind: Mapped[PaymentKind] = mapped_column(String(12))
    amount: Mapped[Money]
    paid_on: Mapped[date]
    created_by: Mapped[uuid.UUID | None]
    created_at: Mapped[Timestamp]
