"""Financial institutions, products, engagements and the matcher's change counters.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-26

Triggers on ``projects`` and ``products`` bump ``matching_state.generation`` in the same
transaction as the change, so every server process notices a change with one primary-key read and
rebuilds its derived matching arrays. On PostgreSQL the triggers run once per statement (a batch
import bumps once); SQLite only has row triggers.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_WATCHED = ("projects", "products")


def upgrade() -> None:
    op.create_table(
        "institutions",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("name", sa.String(length=300), nullable=False),
        sa.Column("uscc", sa.String(length=18), nullable=False),
        sa.Column("type", sa.String(length=20), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_institutions")),
        sa.UniqueConstraint("uscc", name=op.f("uq_institutions_uscc")),
    )
    op.create_table(
        "products",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("institution_id", sa.Uuid(), nullable=False),
        sa.Column("name", sa.String(length=300), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("type", sa.String(length=30), nullable=False),
        sa.Column("status", sa.String(length=10), nullable=False),
        sa.Column("valid_from", sa.Date(), nullable=True),
        sa.Column("valid_to", sa.Date(), nullable=True),
        sa.Column("quota_total", sa.Numeric(precision=18, scale=2), nullable=True),
        sa.Column("quota_used", sa.Numeric(precision=18, scale=2), nullable=False),
        sa.Column("objectives", sa.JSON(), nullable=True),
        sa.Column("categories", sa.JSON(), nullable=True),
        sa.Column("region_prefixes", sa.JSON(), nullable=True),
        sa.Column("construction_statuses", sa.JSON(), nullable=True),
        sa.Column("amount_min", sa.Numeric(precision=18, scale=2), nullable=True),
        sa.Column("amount_max", sa.Numeric(precision=18, scale=2), nullable=True),
        sa.Column("tenor_min_months", sa.Integer(), nullable=True),
        sa.Column("tenor_max_months", sa.Integer(), nullable=True),
        sa.Column("min_emission_reduction_tco2e", sa.Float(), nullable=True),
        sa.Column("requires_verification", sa.Boolean(), nullable=False),
        sa.Column("accepts_two_high_retrofit", sa.Boolean(), nullable=False),
        sa.Column("rate_min", sa.Numeric(precision=7, scale=3), nullable=True),
        sa.Column("rate_max", sa.Numeric(precision=7, scale=3), nullable=True),
        sa.Column("weights", sa.JSON(), nullable=True),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("quota_used >= 0", name=op.f("ck_products_quota_used_not_negative")),
        sa.CheckConstraint(
            "quota_total IS NULL OR quota_used <= quota_total",
            name=op.f("ck_products_quota_used_within_total"),
        ),
        sa.ForeignKeyConstraint(
            ["institution_id"],
            ["institutions.id"],
            name=op.f("fk_products_institution_id_institutions"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_products")),
    )
    with op.batch_alter_table("products", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_products_institution_id"), ["institution_id"], unique=False
        )

    op.create_table(
        "engagements",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("project_id", sa.Uuid(), nullable=False),
        sa.Column("product_id", sa.Uuid(), nullable=False),
        sa.Column("institution_id", sa.Uuid(), nullable=False),
        sa.Column("status", sa.String(length=15), nullable=False),
        sa.Column("amount", sa.Numeric(precision=18, scale=2), nullable=False),
        sa.Column("annual_rate", sa.Numeric(precision=7, scale=3), nullable=False),
        sa.Column("tenor_months", sa.Integer(), nullable=False),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("accepted_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("contact_deadline", sa.DateTime(timezone=True), nullable=True),
        sa.Column("contacted_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("due_diligence_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("declined_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("decline_reason", sa.Text(), nullable=True),
        sa.Column("closed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("financed_amount", sa.Numeric(precision=18, scale=2), nullable=True),
        sa.Column("financed_rate", sa.Numeric(precision=7, scale=3), nullable=True),
        sa.Column("financed_on", sa.Date(), nullable=True),
        sa.Column("not_financed_reason", sa.String(length=30), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["institution_id"],
            ["institutions.id"],
            name=op.f("fk_engagements_institution_id_institutions"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["product_id"],
            ["products.id"],
            name=op.f("fk_engagements_product_id_products"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["project_id"],
            ["projects.id"],
            name=op.f("fk_engagements_project_id_projects"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_engagements")),
    )
    with op.batch_alter_table("engagements", schema=None) as batch_op:
        batch_op.create_index("ix_engagements_created", ["created_at", "id"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_engagements_institution_id"), ["institution_id"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_engagements_product_id"), ["product_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_engagements_project_id"), ["project_id"], unique=False)

    op.create_table(
        "matching_state",
        sa.Column("name", sa.String(length=20), nullable=False),
        sa.Column("generation", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_matching_state")),
    )
    op.bulk_insert(
        sa.table("matching_state", sa.column("name", sa.String), sa.column("generation")),
        [{"name": table, "generation": 0} for table in _WATCHED],
    )
    _create_triggers()


def _create_triggers() -> None:
    dialect = op.get_bind().dialect.name
    for table in _WATCHED:
        bump = f"UPDATE matching_state SET generation = generation + 1 WHERE name = '{table}'"
        if dialect == "postgresql":
            op.execute(
                f"CREATE FUNCTION matching_bump_{table}() RETURNS trigger LANGUAGE plpgsql AS "
                f"$$ BEGIN {bump}; RETURN NULL; END $$"
            )
            op.execute(
                f"CREATE TRIGGER trg_{table}_matching AFTER INSERT OR UPDATE OR DELETE "
                f"ON {table} FOR EACH STATEMENT EXECUTE FUNCTION matching_bump_{table}()"
            )
        else:
            for event in ("INSERT", "UPDATE", "DELETE"):
                op.execute(
                    f"CREATE TRIGGER trg_{table}_matching_{event.lower()} AFTER {event} "
                    f"ON {table} BEGIN {bump}; END"
                )


def _drop_triggers() -> None:
    dialect = op.get_bind().dialect.name
    for table in _WATCHED:
        if dialect == "postgresql":
            op.execute(f"DROP TRIGGER IF EXISTS trg_{table}_matching ON {table}")
            op.execute(f"DROP FUNCTION IF EXISTS matching_bump_{table}()")
        else:
            for event in ("insert", "update", "delete"):
                op.execute(f"DROP TRIGGER IF EXISTS trg_{table}_matching_{event}")


def downgrade() -> None:
    _drop_triggers()
    op.drop_table("matching_state")
    with op.batch_alter_table("engagements", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_engagements_project_id"))
        batch_op.drop_index(batch_op.f("ix_engagements_product_id"))
        batch_op.drop_index(batch_op.f("ix_engagements_institution_id"))
        batch_op.drop_index("ix_engagements_created")
    op.drop_table("engagements")
    with op.batch_alter_table("products", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_products_institution_id"))
    op.drop_table("products")
    op.drop_table("institutions")
