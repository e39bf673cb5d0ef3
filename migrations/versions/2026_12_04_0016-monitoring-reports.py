"""Monitoring reports (MRV) and the verified results they add to projects; products may
require verified results.

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-04

``monitoring_reports``: one row per reported period, submitted by the project's region and
verified or rejected by its province's reviewer or the administrator. ``projects`` gets the
sums of its verified reports (tonnes exact to the kilogram, the beneficiaries' largest figure,
how many reports and the days their periods cover), zero for every stored project: none has a
verified report yet. ``products.requires_verified_results``: false for every stored product, so
no product's matches change.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0016"
down_revision: str | None = "0015"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_TONNES = (
    "verified_emission_reduction_tco2e",
    "verified_carbon_sink_tco2e",
    "verified_energy_saving_tce",
    "verified_credited_tco2e",
)
_COUNTS = ("verified_adaptation_beneficiaries", "verified_reports", "verified_days")


def upgrade() -> None:
    op.create_table(
        "monitoring_reports",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("project_id", sa.Uuid(), nullable=False),
        sa.Column("period_start", sa.Date(), nullable=False),
        sa.Column("period_end", sa.Date(), nullable=False),
        sa.Column("emission_reduction_tco2e", sa.Numeric(18, 3), nullable=False),
        sa.Column("carbon_sink_tco2e", sa.Numeric(18, 3), nullable=False),
        sa.Column("energy_saving_tce", sa.Numeric(18, 3), nullable=False),
        sa.Column("adaptation_beneficiaries", sa.Integer(), nullable=False),
        sa.Column("methodology", sa.String(300), nullable=False),
        sa.Column("verifier", sa.String(300), nullable=False),
        sa.Column("carbon_credit_scheme", sa.String(10), nullable=True),
        sa.Column("credited_tco2e", sa.Numeric(18, 3), nullable=False),
        sa.Column("document_id", sa.Uuid(), nullable=True),
        sa.Column("status", sa.String(10), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("reviewed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("reviewed_by", sa.Uuid(), nullable=True),
        sa.Column("created_by", sa.Uuid(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["project_id"],
            ["projects.id"],
            name=op.f("fk_monitoring_reports_project_id_projects"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["document_id"],
            ["documents.id"],
            name=op.f("fk_monitoring_reports_document_id_documents"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_monitoring_reports")),
    )
    op.create_index(
        "ix_monitoring_reports_project_period",
        "monitoring_reports",
        ["project_id", "period_start", "id"],
    )
    # Plain ALTERs (no batch copy on SQLite, which would drop the matcher's triggers on
    # projects and products).
    for name in _TONNES:
        op.add_column(
            "projects", sa.Column(name, sa.Numeric(18, 3), nullable=False, server_default="0")
        )
    for name in _COUNTS:
        op.add_column("projects", sa.Column(name, sa.Integer(), nullable=False, server_default="0"))
    op.add_column(
        "products",
        sa.Column(
            "requires_verified_results", sa.Boolean(), nullable=False, server_default=sa.false()
        ),
    )


def downgrade() -> None:
    op.execute("ALTER TABLE products DROP COLUMN requires_verified_results")
    for name in (*reversed(_COUNTS), *reversed(_TONNES)):
        op.execute(f"ALTER TABLE projects DROP COLUMN {name}")
    op.drop_index("ix_monitoring_reports_project_period", table_name="monitoring_reports")
    op.drop_table("monitoring_reports")
