"""Financial institutions (金融机构) that publish products and make offers."""

from enum import StrEnum

from sqlalchemy import Boolean, String, false
from sqlalchemy.orm import Mapped, mapped_column

from app.models.base import Base, Timestamp, UUIDPk


class InstitutionType(StrEnum):
    bank = "bank"
    insurer = "insurer"
    securities = "securities"
    fund = "fund"
    guarantee = "guarantee"
    leasing = "leasing"
    trust = "trust"
    other = "other"


class Institution(Base):
    __tablename__ = "institutions"

    id: Mapped[UUIDPk]
    name: Mapped[str] = mapped_column(String(300))
    uscc: Mapped[str] = mapped_column(String(18), unique=True)
    type: Mapped[InstitutionType] = mapped_column(String(20))
    # Agreed to be named as the provider of funds in open data (the IATI export's provider-org).
    open_data_consent: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    created_at: Mapped[Timestamp]
