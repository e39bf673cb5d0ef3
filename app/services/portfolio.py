"""An institution's portfolio: its offers, the money under its signed contracts and
the emission reductions attributed to it, per category, province, product or month and in total.

What each figure is:

- ``offers``: every offer the institution made, whatever its status; ``financed`` those with a
  signed contract.
- ``signed_amount``: the financed offers' signed amounts (``financed_amount``, 签约金额).
- ``disbursed_amount`` / ``repaid_amount``: the disbursements (放款) and repayments recorded under
  those contracts (app/services/payments.py), summed in cents; ``outstanding_amount`` =
  disbursed − repaid, never negative because repayments never exceed disbursements.
- ``average_rate``: the financed offers' annual rates weighted by their signed amounts, half up
  to three places (null without a financed offer).
- ``attributed_emission_reductions``: PCAF's project-finance attribution, per offer
  outstanding ÷ the project's total investment × the project's figure, rounded to the kilogram,
  then added up (so the groups add up to the total exactly). It is reported as avoided
  emissions, never netted against financed emissions. One field per basis, from the ``BASES``
  table: ``stated_annual_tco2e`` (the project's stated annual emission reduction plus carbon
  sink) and ``verified_cumulative_tco2e`` (what its verified monitoring reports recorded, over
  the periods they cover; a project without one adds nothing there). Projects exited as
  cancelled or non_compliant attribute nothing, as their benefits leave the statistics
  (``BENEFITS_VOID`` in app/models/project.py).

Groups: ``category`` is the project's primary category at the first level (M2.1 under M2),
``region`` its province (the code's first two digits), ``product`` the offer's product and
``month`` the month the offer was made (UTC).

Readers: the institution itself (an institution key of that id) and administrators; other keys
403, no key 401, an unknown institution 404.
"""

import asyncio
import io
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from openpyxl import Workbook
from sqlalchemy.ext.asyncio import AsyncSession

from app.auth import Principal
from app.errors import Forbidden, NotFound, Unauthorized
from app.models import EngagementStatus, Role
from app.models.project import BENEFITS_VOID, ProjectStatus
from app.reference.regions import region_table
from app.reference.taxonomy import taxonomy
from app.repositories import institutions as institutions_repo
from app.repositories import portfolio as repo
from app.schemas.portfolio import (
    AttributedEmissions,
    Portfolio,
    PortfolioFigures,
    PortfolioGroup,
    PortfolioGrouping,
)
from app.services.cell_safety import neutralise

_ZERO = Decimal(0)
_KILOGRAM = Decimal("0.001")
XLSX_MEDIA_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


@dataclass(frozen=True)
class Basis:
    """One basis of attributed emissions: its field in ``AttributedEmissions`` and the project's
    figure (tCO2e) it attributes from, read off an offer row; None when the project has none."""

    name: str
    figure: Callable[[Any], Decimal | None]


def _decimal(value: float | None) -> Decimal | None:
    # The benefit columns are floats: their shortest repr is the figure as it was written.
    return None if value is None else Decimal(repr(value))


def _stated(row: Any) -> Decimal | None:
    parts = [
        _decimal(v) for v in (row.annual_emission_reduction_tco2e, row.annual_carbon_sink_tco2e)
    ]
    present = [p for p in parts if p is not None]
    return sum(present, _ZERO) if present else None


def _verified(row: Any) -> Decimal | None:
    # Verified monitoring reports (MRV): their emission reduction and sink, summed over the
    # periods they cover (exact decimals on the project); none before a report is verified.
    if not row.verified_reports:
        return None
    return Decimal(row.verified_emission_reduction_tco2e) + Decimal(row.verified_carbon_sink_tco2e)


BASES: tuple[Basis, ...] = (
    Basis("stated_annual_tco2e", _stated),
    Basis("verified_cumulative_tco2e", _verified),
)


@dataclass
class _Sums:
    offers: int = 0
    financed: int = 0
    signed: Decimal = _ZERO
    disbursed_cents: int = 0
    repaid_cents: int = 0
    rate_weight: Decimal = _ZERO  # Σ rate × signed amount
    rate_signed: Decimal = _ZERO  # Σ signed amount of the offers with a rate
    attributed: dict[str, Decimal] = field(default_factory=dict)

    def add(self, row: Any) -> None:
        self.offers += 1
        disbursed, repaid = int(row.disbursed_cents or 0), int(row.repaid_cents or 0)
        self.disbursed_cents += disbursed
        self.repaid_cents += repaid
        if row.status == EngagementStatus.financed:
            self.financed += 1
            signed = Decimal(row.financed_amount or 0)
            self.signed += signed
            if row.financed_rate is not None:
                self.rate_weight += Decimal(row.financed_rate) * signed
                self.rate_signed += signed
        outstanding = Decimal(disbursed - repaid) / 100
        for basis in BASES:
            share = _attributed(row, outstanding, basis)
            self.attributed[basis.name] = self.attributed.get(basis.name, _ZERO) + share

    def figures(self) -> dict[str, Any]:
        disbursed = Decimal(self.disbursed_cents) / 100
        repaid = Decimal(self.repaid_cents) / 100
        rate = None
        if self.rate_signed > 0:
            rate = (self.rate_weight / self.rate_signed).quantize(_KILOGRAM, ROUND_HALF_UP)
        return {
            "offers": self.offers,
            "financed": self.financed,
            "signed_amount": self.signed,
            "disbursed_amount": disbursed,
            "repaid_amount": repaid,
            "outstanding_amount": disbursed - repaid,
            "average_rate": rate,
            "attributed_emission_reductions": AttributedEmissions(
                **{b.name: self.attributed.get(b.name, _ZERO) for b in BASES}
            ),
        }


def _attributed(row: Any, outstanding: Decimal, basis: Basis) -> Decimal:
    """The offer's share of the project's figure: outstanding ÷ total investment × figure."""
    if row.project_status == ProjectStatus.exited and row.exit_reason in BENEFITS_VOID:
        return _ZERO
    figure = basis.figure(row)
    investment = Decimal(row.total_investment)
    if figure is None or outstanding <= 0 or investment <= 0:
        return _ZERO
    return (outstanding / investment * figure).quantize(_KILOGRAM, ROUND_HALF_UP)


def _month(created_at: datetime) -> str:
    stamp = created_at if created_at.tzinfo is None else created_at.astimezone(UTC)
    return stamp.strftime("%Y-%m")


def _key(row: Any, group_by: PortfolioGrouping) -> tuple[str, str | None]:
    if group_by is PortfolioGrouping.category:
        code = str(row.primary_category).split(".")[0]
        return code, _category_names().get(code)
    if group_by is PortfolioGrouping.region:
        province = str(row.region_code)[:2]
        return province, _province_names().get(province)
    if group_by is PortfolioGrouping.product:
        return str(row.product_id), str(row.product_name)
    return _month(row.created_at), None


def _category_names() -> dict[str, str]:
    return {c["code"]: c["name_zh"] for c in taxonomy()["categories"]}


def _province_names() -> dict[str, str]:
    return {r.code[:2]: r.name for r in region_table().provinces() if r.is_current}


def _ensure_reader(principal: Principal, institution_id: uuid.UUID) -> None:
    if principal.is_anonymous:
        raise Unauthorized("A portfolio needs an API key.")
    if principal.is_admin:
        return
    if principal.role is Role.institution and principal.institution_id == institution_id:
        return
    raise Forbidden(
        "A portfolio is read by its own institution and by administrators.",
        code="not_your_portfolio",
    )


async def report(
    session: AsyncSession,
    principal: Principal,
    institution_id: uuid.UUID,
    group_by: PortfolioGrouping,
) -> Portfolio:
    """The institution's portfolio per group and in total (its own key or admin; 401/403/404)."""
    _ensure_reader(principal, institution_id)
    if await institutions_repo.get(session, institution_id) is None:
        raise NotFound("No institution with that id.", code="institution_not_found")
    total = _Sums()
    groups: dict[str, _Sums] = {}
    labels: dict[str, str | None] = {}
    for row in await repo.offer_rows(session, institution_id):
        key, label = _key(row, group_by)
        groups.setdefault(key, _Sums()).add(row)
        labels[key] = label
        total.add(row)
    return Portfolio(
        institution_id=str(institution_id),
        group_by=group_by,
        groups=[
            PortfolioGroup(key=key, label=labels[key], **groups[key].figures())
            for key in sorted(groups)
        ],
        total=PortfolioFigures(**total.figures()),
    )


# ---- the spreadsheet --------------------------------------------------------------------------

_MONEY_COLUMNS = ("signed_amount", "disbursed_amount", "repaid_amount", "outstanding_amount")


def xlsx_header() -> list[str]:
    """Row 1 of the workbook: the answer's field names (attributed figures by basis)."""
    return [
        "key",
        "label",
        "offers",
        "financed",
        *_MONEY_COLUMNS,
        "average_rate",
        *(f"attributed_{b.name}" for b in BASES),
    ]


def _xlsx_row(key: str, label: str | None, figures: PortfolioFigures) -> list[Any]:
    attributed = figures.attributed_emission_reductions
    return [
        neutralise(key),
        None if label is None else neutralise(label),
        figures.offers,
        figures.financed,
        *(getattr(figures, name) for name in _MONEY_COLUMNS),
        figures.average_rate,
        *(getattr(attributed, b.name) for b in BASES),
    ]


def _workbook(answer: Portfolio) -> bytes:
    book = Workbook(write_only=True)
    sheet = book.create_sheet(f"by_{answer.group_by.value}")
    sheet.append(xlsx_header())
    for group in answer.groups:
        sheet.append(_xlsx_row(group.key, group.label, group))
    sheet.append(_xlsx_row("total", None, answer.total))
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


async def report_xlsx(
    session: AsyncSession,
    principal: Principal,
    institution_id: uuid.UUID,
    group_by: PortfolioGrouping,
) -> bytes:
    """The portfolio as an XLSX workbook: a row per group, then ``total``; text neutralised
    (app/services/cell_safety.py), numbers typed."""
    answer = await report(session, principal, institution_id, group_by)
    return await asyncio.to_thread(_workbook, answer)
