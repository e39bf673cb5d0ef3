"""Offer and funnel requests and answers."""

import datetime as dt
import uuid
from datetime import date, datetime
from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import ConfigDict, Field

from app.models import NotFinancedReason, PaymentKind
from app.schemas.common import DecimalText, InputModel, MoneyOut, OutputModel, RateOut

Amount = Annotated[
    Decimal, Field(gt=0, max_digits=18, decimal_places=2), DecimalText(16, 2, positive=True)
]
Rate = Annotated[
    Decimal,
    Field(gt=0, le=100, max_digits=7, decimal_places=3),
    DecimalText(4, 3, positive=True, at_most_100=True),
]


class EngagementCreate(InputModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "project_id": "8c6b6490-9d65-4efc-bef3-366168a8bad8",
                    "product_id": "afd3e767-5894-42e9-843d-2fe9b8c77d6f",
                    "amount": "5000000.00",
                    "annual_rate": "3.450",
                    "tenor_months": 36,
                    "message": "Indicative terms, subject to due diligence.",
                }
            ]
        }
    )

    project_id: uuid.UUID = Field(description="A library project the product matches.")
    product_id: uuid.UUID = Field(description="One of the caller's active products.")
    amount: Amount = Field(description="Indicative amount, CNY.", examples=["5000000.00"])
    annual_rate: Rate = Field(description="Indicative annual rate, %.", examples=["3.450"])
    tenor_months: int = Field(ge=1, le=600, description="Indicative tenor.", examples=[36])
    message: str = Field(default="", max_length=5000, description="Note to the owner.")


EngagementAction = Literal[
    "accept", "decline", "contact", "due_diligence", "financed", "not_financed"
]


class EngagementTransition(InputModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {"action": "contact"},
                {
                    "action": "financed",
                    "amount": "5000000.00",
                    "annual_rate": "3.450",
                    "date": "2027-01-15",
                },
                {"action": "not_financed", "reason_code": "credit_risk"},
            ]
        }
    )

    action: EngagementAction = Field(
        description=(
            "accept / decline (the owning region); contact, due_diligence, financed (amount, "
            "annual_rate, date), not_financed (reason_code) (the institution)."
        )
    )
    reason: str | None = Field(default=None, max_length=2000, description="Free-text reason.")
    amount: Amount | None = Field(default=None, description="financed: amount, CNY.")
    annual_rate: Rate | None = Field(default=None, description="financed: annual rate, %.")
    date: dt.date | None = Field(default=None, description="financed: date of financing.")
    reason_code: NotFinancedReason | None = Field(default=None, description="not_financed: why.")


class Contact(OutputModel):
    name: str | None = Field(description="Contact person.")
    phone: str | None = Field(description="Phone.")
    email: str | None = Field(description="Email.")


# An offer financed through the whole funnel, as GET /engagements shows it.
_FINANCED: dict[str, Any] = {
    "id": "a1cb129c-8d58-4477-8c8d-1c395e6f1d5e",
    "project_id": "8c6b6490-9d65-4efc-bef3-366168a8bad8",
    "product_id": "afd3e767-5894-42e9-843d-2fe9b8c77d6f",
    "institution_id": "76582dfb-d195-4c6f-860b-62a77161d4f0",
    "status": "financed",
    "is_lapsed": False,
    "amount": "105950000.00",
    "annual_rate": "5.160",
    "tenor_months": 60,
    "message": "指示性条款，可根据尽职调查结果调整。",
    "accepted_at": "2026-12-04T08:38:20.953171Z",
    "contact_deadline": "2026-12-11T08:38:20.953171Z",
    "contacted_at": "2026-12-04T08:38:20.958693Z",
    "due_diligence_at": "2026-12-04T08:38:20.963789Z",
    "declined_at": None,
    "decline_reason": None,
    "closed_at": "2026-12-04T08:38:20.968880Z",
    "financed_amount": "105950000.00",
    "signed_amount": "105950000.00",
    "disbursed_amount": "105950000.00",
    "repaid_amount": "0.00",
    "outstanding_amount": "105950000.00",
    "financed_rate": "5.160",
    "financed_on": "2026-12-04",
    "not_financed_reason": None,
    "project_name": "滁州长青水泥窑烟气碳捕集利用示范项目",
    "project_region_code": "341126",
    "product_name": "CCUS 早期股权投资",
    "institution_name": "国绿碳中和产业投资基金（有限合伙）",
    "contact": {"name": "李洋超", "phone": "15521367452", "email": "contact0014@example.cn"},
    "created_at": "2026-12-04T08:38:20.845897Z",
    "updated_at": "2026-12-04T08:38:20.973685Z",
}


class EngagementRead(OutputModel):
    model_config = ConfigDict(json_schema_extra={"examples": [_FINANCED]})

    id: uuid.UUID = Field(description="Engagement id.")
    project_id: uuid.UUID = Field(description="Project id.")
    product_id: uuid.UUID = Field(description="Product id.")
    institution_id: uuid.UUID = Field(description="Institution making the offer.")
    status: str = Field(
        description=(
            "offered, accepted, lapsed (accepted, contact deadline passed), declined, contacted, "
            "due_diligence, financed or not_financed."
        )
    )
    is_lapsed: bool = Field(description="Accepted, not contacted, and past the contact deadline.")
    amount: MoneyOut = Field(description="Offered amount, CNY.")
    annual_rate: RateOut = Field(description="Offered annual rate, %.")
    tenor_months: int = Field(description="Offered tenor.")
    message: str = Field(description="Note to the owner.")
    accepted_at: datetime | None = Field(description="When the owner accepted.")
    contact_deadline: datetime | None = Field(description="Contact due by (UTC).")
    contacted_at: datetime | None = Field(description="When contact was recorded.")
    due_diligence_at: datetime | None = Field(description="When due diligence started.")
    declined_at: datetime | None = Field(description="When the owner declined.")
    decline_reason: str | None = Field(description="The owner's reason.")
    closed_at: datetime | None = Field(description="When the outcome was recorded.")
    financed_amount: MoneyOut | None = Field(
        description="Signed contract amount (签约金额), CNY; the same as signed_amount."
    )
    signed_amount: MoneyOut | None = Field(
        description="Signed contract amount (签约金额) once financed, CNY; null before."
    )
    disbursed_amount: MoneyOut = Field(
        description="Sum of disbursements (放款) under the signed contract, CNY."
    )
    repaid_amount: MoneyOut = Field(description="Sum of repayments recorded, CNY.")
    outstanding_amount: MoneyOut = Field(description="disbursed_amount − repaid_amount, CNY.")
    financed_rate: RateOut | None = Field(description="Financed annual rate, %.")
    financed_on: date | None = Field(description="Financing date.")
    not_financed_reason: str | None = Field(description="Reason code when not financed.")
    project_name: str = Field(description="Project name.")
    project_region_code: str = Field(description="Project region.")
    product_name: str = Field(description="Product name.")
    institution_name: str = Field(description="Institution name.")
    contact: Contact | None = Field(
        description="The project's contact: shown to the institution once its offer is accepted."
    )
    created_at: datetime = Field(description="When the offer was made.")
    updated_at: datetime = Field(description="Last change.")


class PaymentCreate(InputModel):
    """Money moving under a financed engagement's signed contract."""

    amount: Amount = Field(description="Amount, CNY.", examples=["2000000.00"])
    date: dt.date = Field(description="Value date; not in the future, not before signing.")
    kind: PaymentKind = Field(
        default=PaymentKind.disbursement,
        description=(
            "disbursement (放款, the default): paid out to the project; their sum never above "
            "the signed amount. repayment: paid back; their sum never above what was disbursed."
        ),
    )


class PaymentRead(OutputModel):
    id: uuid.UUID = Field(description="Payment id.")
    engagement_id: uuid.UUID = Field(description="The financed engagement.")
    kind: PaymentKind = Field(description="disbursement or repayment.")
    amount: MoneyOut = Field(description="Amount, CNY.")
    date: dt.date = Field(description="Value date.")
    created_at: datetime = Field(description="When it was recorded.")
