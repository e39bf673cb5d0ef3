"""Financial institutions, products, engagements and the matcher's change counters.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-26

Triggers on ``projects`` and ``products`` bump ``matching_state.generation`` in the same
transaction as the change, so every server process notices a change with one primary-key read; the
project triggers also log which projects changed at which generation (``matching_changes``), so a
process patches its derived matching arrays with just those rows. The generation row is updated
under its row lock, so generations are handed out in commit order. On PostgreSQL the triggers run
once per statement (a batch import bumps once, with a transition table of its rows); SQLite only
has row triggers.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_WATCHED = ("projects", "products")
_KEPT = 10_000  # app.models.product.CHANGES_KEPT


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
    op.create_table(
        "matching_changes",
        sa.Column("generation", sa.BigInteger(), nullable=False),
        sa.Column("project_id", sa.Uuid(), nullable=False),
        sa.PrimaryKeyConstraint("generation", "project_id", name=op.f("pk_matching_changes")),
    )
    op.bulk_insert(
        sa.table("matching_state", sa.column("name", sa.String), sa.column("generation")),
        [{"name": table, "generation": 0} for table in _WATCHED],
    )
    _create_triggers()


_EVENTS = (("insert", "NEW"), ("update", "NEW"), ("delete", "OLD"))


def _create_triggers() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            "CREATE FUNCTION matching_bump_products() RETURNS trigger LANGUAGE plpgsql AS $$ "
            "BEGIN UPDATE matching_state SET generation = generation + 1 "
            "WHERE name = 'products'; RETURN NULL; END $$"
        )
        op.execute(
            "CREATE TRIGGER trg_products_matching AFTER INSERT OR UPDATE OR DELETE ON products "
            "FOR EACH STATEMENT EXECUTE FUNCTION matching_bump_products()"
        )
        op.execute(
            "CREATE FUNCTION matching_log_projects() RETURNS trigger LANGUAGE plpgsql AS $$ "
            "DECLARE g bigint; BEGIN "
            "UPDATE matching_state SET generation = generation + 1 WHERE name = 'projects' "
            "RETURNING generation INTO g; "
            "INSERT INTO matching_changes (generation, project_id) SELECT g, id FROM changed_rows; "
            f"DELETE FROM matching_changes WHERE generation <= g - {_KEPT}; "
            "RETURN NULL; END $$"
        )
        for event, table in _EVENTS:
            op.execute(
                f"CREATE TRIGGER trg_projects_matching_{event} AFTER {event.upper()} ON projects "
                f"REFERENCING {table} TABLE AS changed_rows "
                "FOR EACH STATEMENT EXECUTE FUNCTION matching_log_projects()"
            )
        return
    for event, _table in _EVENTS:
        op.execute(
            f"CREATE TRIGGER trg_products_matching_{event} AFTER {event.upper()} ON products "
            "BEGIN UPDATE matching_state SET generation = generation + 1 "
            "WHERE name = 'products'; END"
        )
    for event, row in _EVENTS:
        op.execute(
            f"CREATE TRIGGER trg_projects_matching_{event} AFTER {event.upper()} ON projects BEGIN "
            "UPDATE matching_state SET generation = generation + 1 WHERE name = 'projects'; "
            "INSERT INTO matching_changes (generation, project_id) "
            f"SELECT generation, {row}.id FROM matching_state WHERE name = 'projects'; "
            "DELETE FROM matching_changes WHERE generation <= "
            f"(SELECT generation FROM matching_state WHERE name = 'projects') - {_KEPT}; "
            "END"
        )


def _drop_triggers() -> None:
    postgresql = op.get_bind().dialect.name == "postgresql"
    for event, _row in _EVENTS:
        if postgresql:
            op.execute(f"DROP TRIGGER IF EXISTS trg_projects_matching_{event} ON projects")
        else:
            op.execute(f"DROP TRIGGER IF EXISTS trg_projects_matching_{event}")
            op.execute(f"DROP TRIGGER IF EXISTS trg_products_matching_{event}")
    if postgresql:
        op.execute("DROP TRIGGER IF EXISTS trg_products_matching ON products")
        op.execute("DROP FUNCTION IF EXISTS matching_log_projects()")
        op.execute("DROP FUNCTION IF EXISTS matching_bump_products()")


def downgrade() -> None:
    _drop_triggers()
    op.drop_table("matching_changes")
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
