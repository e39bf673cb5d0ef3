"""Figures that count each project once: primary category, exit reasons, disbursements.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-04

- ``projects.primary_category``: the category the statistics attribute a project to (a project
  with several categories was summed in each). Existing rows get their first category in taxonomy
  order, the lowest bit of ``categories_mask``: the mask keeps no order of listing, and the
  taxonomy order (M1…M6, A1…A7) is what every answer has listed them in since. The codes of this
  day are frozen below so the revision means the same whatever the taxonomy becomes.
- ``projects.exit_reason`` (``completed``, ``financing_fulfilled``, ``cancelled``,
  ``non_compliant``): existing exited projects keep it null. Nobody stated why they left; taking
  them as ``completed`` would invent a fact, and taking them as ``cancelled`` would remove their
  benefits from the totals on a guess. Null exits count like completed ones in the figures and
  show as ``unspecified``; the history keeps the free-text reason they were given.
- ``engagement_payments``: disbursements (放款) and repayments under a financed engagement.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# projects.categories_mask bit i is the i-th code (app/reference/taxonomy.json, 2026-12-04).
_CODES = ("M1", "M2", "M3", "M4", "M5", "M6", "A1", "A2", "A3", "A4", "A5", "A6", "A7")

projects = sa.table(
    "projects",
    sa.column("categories_mask", sa.Integer()),
    sa.column("primary_category", sa.String()),
)


def _first_code(mask: int) -> str:
    return next((code for i, code in enumerate(_CODES) if mask & (1 << i)), _CODES[0])


def upgrade() -> None:
    # Plain ALTERs (no batch copy on SQLite, which would drop the matcher's triggers on projects).
    op.add_column(
        "projects",
        sa.Column("primary_category", sa.String(length=10), nullable=False, server_default=""),
    )
    op.add_column("projects", sa.Column("exit_reason", sa.String(length=20), nullable=True))
    bind = op.get_bind()
    # One UPDATE per distinct mask, not per project: a large library has few combinations.
    masks = bind.execute(sa.select(projects.c.categories_mask).distinct()).scalars().all()
    for mask in masks:
        bind.execute(
            projects.update()
            .where(projects.c.categories_mask == mask)
            .values(primary_category=_first_code(mask or 0))
        )
    if bind.dialect.name == "postgresql":
        op.alter_column("projects", "primary_category", server_default=None)

    op.create_table(
        "engagement_payments",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("engagement_id", sa.Uuid(), nullable=False),
        sa.Column("kind", sa.String(length=12), nullable=False),
        sa.Column("amount", sa.Numeric(precision=18, scale=2), nullable=False),
        sa.Column("paid_on", sa.Date(), nullable=False),
        sa.Column("created_by", sa.Uuid(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["engagement_id"],
            ["engagements.id"],
            name=op.f("fk_engagement_payments_engagement_id_engagements"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_engagement_payments")),
    )
    op.create_index(
        "ix_engagement_payments_engagement",
        "engagement_payments",
        ["engagement_id", "paid_on"],
        unique=False,
    )


def downgrade() -> None:
    op.drop_index("ix_engagement_payments_engagement", table_name="engagement_payments")
    op.drop_table("engagement_payments")
    op.execute("ALTER TABLE projects DROP COLUMN exit_reason")
    op.execute("ALTER TABLE projects DROP COLUMN primary_category")
