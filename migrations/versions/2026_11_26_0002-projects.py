"""The project library: projects, transitions, library code sequences.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-26
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "projects",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("external_ref", sa.String(length=100), nullable=True),
        sa.Column("source_scope", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=300), nullable=False),
        sa.Column("summary", sa.Text(), nullable=False),
        sa.Column("region_code", sa.String(length=6), nullable=False),
        sa.Column("owner_name", sa.String(length=300), nullable=False),
        sa.Column("owner_uscc", sa.String(length=18), nullable=False),
        sa.Column("owner_type", sa.String(length=30), nullable=True),
        sa.Column("objective", sa.String(length=12), nullable=False),
        sa.Column("categories_mask", sa.Integer(), nullable=False),
        sa.Column("industry_code", sa.String(length=5), nullable=False),
        sa.Column("nature", sa.String(length=12), nullable=False),
        sa.Column("construction_status", sa.String(length=20), nullable=False),
        sa.Column("start_date", sa.Date(), nullable=True),
        sa.Column("end_date", sa.Date(), nullable=True),
        sa.Column("total_investment", sa.Numeric(precision=18, scale=2), nullable=False),
        sa.Column("financing_need", sa.Numeric(precision=18, scale=2), nullable=False),
        sa.Column("financing_secured", sa.Numeric(precision=18, scale=2), nullable=False),
        sa.Column("financing_types_mask", sa.Integer(), nullable=False),
        sa.Column("tenor_months", sa.Integer(), nullable=True),
        sa.Column("annual_emission_reduction_tco2e", sa.Float(), nullable=True),
        sa.Column("annual_energy_saving_tce", sa.Float(), nullable=True),
        sa.Column("annual_carbon_sink_tco2e", sa.Float(), nullable=True),
        sa.Column("adaptation_beneficiaries", sa.Integer(), nullable=True),
        sa.Column("adaptation_benefit", sa.Text(), nullable=True),
        sa.Column("accounting_methodology", sa.String(length=300), nullable=True),
        sa.Column("baseline", sa.Text(), nullable=True),
        sa.Column("third_party_verified", sa.Boolean(), nullable=False),
        sa.Column("verifier", sa.String(length=300), nullable=True),
        sa.Column("disclosure_commitment", sa.Boolean(), nullable=False),
        sa.Column("contact_name", sa.String(length=100), nullable=True),
        sa.Column("contact_phone", sa.String(length=40), nullable=True),
        sa.Column("contact_email", sa.String(length=200), nullable=True),
        sa.Column("status", sa.String(length=12), nullable=False),
        sa.Column("is_two_high", sa.Boolean(), nullable=False),
        sa.Column("is_two_high_retrofit", sa.Boolean(), nullable=False),
        sa.Column("screening", sa.JSON(), nullable=False),
        sa.Column("library_code", sa.String(length=30), nullable=True),
        sa.Column("approved_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("created_by", sa.Uuid(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "financing_need <= total_investment", name=op.f("ck_projects_need_within_investment")
        ),
        sa.CheckConstraint(
            "financing_secured <= financing_need", name=op.f("ck_projects_secured_within_need")
        ),
        sa.CheckConstraint("financing_secured >= 0", name=op.f("ck_projects_secured_not_negative")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_projects")),
        sa.UniqueConstraint("library_code", name=op.f("uq_projects_library_code")),
        sa.UniqueConstraint(
            "source_scope", "external_ref", name=op.f("uq_projects_source_scope_external_ref")
        ),
    )
    with op.batch_alter_table("projects", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_projects_industry_code"), ["industry_code"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_projects_region_code"), ["region_code"], unique=False)
        batch_op.create_index("ix_projects_status_region", ["status", "region_code"], unique=False)
        batch_op.create_index("ix_projects_updated", ["updated_at", "id"], unique=False)
        batch_op.create_index("ix_projects_created", ["created_at", "id"], unique=False)
        batch_op.create_index(
            "ix_projects_status_created", ["status", "created_at", "id"], unique=False
        )

    op.create_table(
        "project_transitions",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("project_id", sa.Uuid(), nullable=False),
        sa.Column("action", sa.String(length=20), nullable=False),
        sa.Column("from_status", sa.String(length=12), nullable=True),
        sa.Column("to_status", sa.String(length=12), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("actor_role", sa.String(length=20), nullable=False),
        sa.Column("actor_scope", sa.String(length=64), nullable=True),
        sa.Column("actor_key_id", sa.Uuid(), nullable=True),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["project_id"],
            ["projects.id"],
            name=op.f("fk_project_transitions_project_id_projects"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_project_transitions")),
    )
    with op.batch_alter_table("project_transitions", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_project_transitions_project_id"), ["project_id"], unique=False
        )

    op.create_table(
        "library_sequences",
        sa.Column("region_code", sa.String(length=6), nullable=False),
        sa.Column("year", sa.Integer(), nullable=False),
        sa.Column("last_value", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("region_code", "year", name=op.f("pk_library_sequences")),
    )


def downgrade() -> None:
    op.drop_table("library_sequences")

    with op.batch_alter_table("project_transitions", schema=None) as batch_op:
        batch_op.drop_index("ix_project_transitions_project_id")
    op.drop_table("project_transitions")

    with op.batch_alter_table("projects", schema=None) as batch_op:
        batch_op.drop_index("ix_projects_industry_code")
        batch_op.drop_index("ix_projects_region_code")
        batch_op.drop_index("ix_projects_status_region")
        batch_op.drop_index("ix_projects_updated")
        batch_op.drop_index("ix_projects_created")
        batch_op.drop_index("ix_projects_status_created")
    op.drop_table("projects")
