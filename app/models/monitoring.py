"""Monitoring reports (MRV, 监测报告): what a project delivered over a period, as its region
reports it and its province's reviewer or the administrator verifies it.

A verified report adds its figures to the project's verified totals (the ``verified_*`` columns
of ``projects``), kept there so that the project list, the statistics and the matcher read them
without a join.
"""

import uuid
from datetime import date, datetime
from decimal import Decimal
from enum import StrEnum

from sqlalchemy import ForeignKey, Index, Integer, Numeric, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from app.models.base import Base, Timestamp, UUIDPk, utcnow

Tonnes = Numeric(18, 3)


class ReportStatus(StrEnum):
    submitted = "submitted"
    verified = "verified"
    rejected = "rejected"


class CarbonCreditScheme(StrEnum):
    ccer = "ccer"  # 国家核证自愿减排量
    vcs = "vcs"  # Verra Verified Carbon Standard
    gs = "gs"  # Gold Standard
    other = "other"


class MonitoringReport(Base):
    __tablename__ = "monitoring_reports"
    __table_args__ = (
        Index("ix_monitoring_reports_project_period", "project_id", "period_start", "id"),
    )

    id: Mapped[UUIDPk]
    project_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"))
    period_start: Mapped[date]
    period_end: Mapped[date]
    emission_reduction_tco2e: Mapped[Decimal] = mapped_column(Tonnes)
    carbon_sink_tco2e: Mapped[Decimal] = mapped_column(Tonnes)
    energy_saving_tce: Mapped[Decimal] = mapped_column(Tonnes)
    adaptation_beneficiaries: Mapped[int] = mapped_column(Integer)
    methodology: Mapped[str] = mapped_column(String(300))
    verifier: Mapped[str] = mapped_column(String(300))
    carbon_credit_scheme: Mapped[CarbonCreditScheme | None] = mapped_column(String(10))
    credited_tco2e: Mapped[Decimal] = mapped_column(Tonnes)
    document_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("documents.id", ondelete="RESTRICT")
    )
    status: Mapped[ReportStatus] = mapped_column(String(10), default=ReportStatus.submitted)
    reason: Mapped[str | None] = mapped_column(Text)
    reviewed_at: Mapped[datetime | None]
    reviewed_by: Mapped[uuid.UUID | None]
    created_by: Mapped[uuid.UUID | None]
    created_at: Mapped[Timestamp]
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
