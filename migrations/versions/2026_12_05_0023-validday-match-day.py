"""How far ``match.new`` has announced the days products' validity starts.

Revision ID: 0023
Revises: 0022
Create Date: 2026-12-05

Nothing is written when a product's ``valid_from`` day arrives, so no writer's transaction can
carry the ``match.new`` events of that day. The delivery worker announces them once a day
instead, and ``webhook_match_day`` (one row) says which day it has reached: a run moves it in the
transaction that writes the day's events, so a day is announced exactly once across processes,
a run that dies writes nothing, and days missed while no process ran are caught up. The row
starts with no day, so the first run announces only the products starting on its own day.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0023"
down_revision: str | None = "0022"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    table = op.create_table(
        "webhook_match_day",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("checked_through", sa.Date(), nullable=True),
        sa.Column("checked_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_webhook_match_day"),
    )
    op.bulk_insert(table, [{"id": 1, "checked_through": None, "checked_at": None}])


def downgrade() -> None:
    op.drop_table("webhook_match_day")
