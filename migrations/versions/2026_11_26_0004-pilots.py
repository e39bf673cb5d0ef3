"""Climate investment and financing pilots, the region codes they cover, their transitions.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-26
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "pilots",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("province_code", sa.String(length=2), nullable=False),
        sa.Column("batch", sa.Integer(), nullable=True),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("designation_ref", sa.String(length=300), nullable=True),
        sa.Column("work_plan_ref", sa.String(length=300), nullable=True),
        sa.Column("implementation_plan_ref", sa.String(length=300), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_pilots")),
        sa.UniqueConstraint("name", "batch", name=op.f("uq_pilots_name_batch")),
    )
    with op.batch_alter_table("pilots", schema=None) as batch_op:
        batch_op.create_index(
            "ix_pilots_province_name", ["province_code", "name", "id"], unique=False
        )

    op.create_table(
        "pilot_regions",
        sa.Column("pilot_id", sa.Uuid(), nullable=False),
        sa.Column("region_code", sa.String(length=6), nullable=False),
        sa.Column("is_partial", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(
            ["pilot_id"],
            ["pilots.id"],
            name=op.f("fk_pilot_regions_pilot_id_pilots"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("pilot_id", "region_code", name=op.f("pk_pilot_regions")),
    )
    with op.batch_alter_table("pilot_regions", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_pilot_regions_region_code"), ["region_code"], unique=False
        )

    op.create_table(
        "pilot_transitions",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("pilot_id", sa.Uuid(), nullable=False),
        sa.Column("action", sa.String(length=20), nullable=False),
        sa.Column("from_status", sa.String(length=20), nullable=False),
        sa.Column("to_status", sa.String(length=20), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("actor_role", sa.String(length=20), nullable=False),
        sa.Column("actor_key_id", sa.Uuid(), nullable=True),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["pilot_id"],
            ["pilots.id"],
            name=op.f("fk_pilot_transitions_pilot_id_pilots"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_pilot_transitions")),
    )
    with op.batch_alter_table("pilot_transitions", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_pilot_transitions_pilot_id"), ["pilot_id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("pilot_transitions", schema=None) as batch_op:
        batch_op.drop_index("ix_pilot_transitions_pilot_id")
    op.drop_table("pilot_transitions")

    with op.batch_alter_table("pilot_regions", schema=None) as batch_op:
        batch_op.drop_index("ix_pilot_regions_region_code")
    op.drop_table("pilot_regions")

    with op.batch_alter_table("pilots", schema=None) as batch_op:
        batch_op.drop_index("ix_pilots_province_name")
    op.drop_table("pilots")
