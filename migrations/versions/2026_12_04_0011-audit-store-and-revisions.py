"""The audit store (project history becomes a view of it) and revisions of library projects.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-04

- ``audit_events``: one append-only row per write, numbered by a sequence. A trigger refuses
  UPDATE and DELETE on both databases. The rows of ``project_transitions`` move into it as events
  of their projects, in their order (time, then id), keeping who, when, from, to, why and the
  screening they saw; ``project_transitions`` is dropped.
- ``project_revisions``: proposed screening changes of library projects under review, at most
  one open per project (a partial unique index).

The downgrade carries the lifecycle events back into ``project_transitions`` (field-change
events have no place in that shape and are left behind).
"""

import uuid
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

OPEN_REVISION = "status IN ('submitted', 'recommended')"

_PG_TRIGGER = [
    """
    CREATE FUNCTION audit_events_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        RAISE EXCEPTION 'audit_events is append-only: % refused', TG_OP
            USING ERRCODE = 'insufficient_privilege';
    END $$
    """,
    """
    CREATE TRIGGER audit_events_append_only BEFORE UPDATE OR DELETE ON audit_events
    FOR EACH ROW EXECUTE FUNCTION audit_events_append_only()
    """,
]
_SQLITE_TRIGGERS = [
    f"""
    CREATE TRIGGER audit_events_no_{op_name.lower()} BEFORE {op_name} ON audit_events
    BEGIN SELECT RAISE(ABORT, 'audit_events is append-only: {op_name} refused'); END
    """
    for op_name in ("UPDATE", "DELETE")
]
# The steps the old table held (every other event is a field change or a revision step).
_LIFECYCLE = (
    "create",
    "submit",
    "recommend",
    "approve",
    "return",
    "reject",
    "withdraw",
    "exit",
    "resubmit",
)


def _dialect() -> str:
    return op.get_bind().dialect.name


def upgrade() -> None:
    op.create_table(
        "audit_events",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            primary_key=True,
            autoincrement=True,
        ),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("actor_key_id", sa.Uuid(), nullable=True),
        sa.Column("actor_role", sa.String(length=20), nullable=False),
        sa.Column("actor_scope", sa.String(length=64), nullable=True),
        sa.Column("action", sa.String(length=40), nullable=False),
        sa.Column("object_type", sa.String(length=20), nullable=False),
        sa.Column("object_id", sa.Uuid(), nullable=False),
        sa.Column("request_id", sa.String(length=100), nullable=True),
        sa.Column("from_status", sa.String(length=20), nullable=True),
        sa.Column("to_status", sa.String(length=20), nullable=True),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("screening", sa.JSON(), nullable=True),
        sa.Column("changes", sa.JSON(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_events")),
    )
    op.create_index("ix_audit_events_object", "audit_events", ["object_id", "id"])
    op.execute(
        "INSERT INTO audit_events (at, actor_key_id, actor_role, actor_scope, action,"
        " object_type, object_id, from_status, to_status, reason, screening)"
        " SELECT at, actor_key_id, actor_role, actor_scope, action, 'project', project_id,"
        " from_status, to_status, reason, screening FROM project_transitions ORDER BY at, id"
    )
    with op.batch_alter_table("project_transitions", schema=None) as batch_op:
        batch_op.drop_index("ix_project_transitions_project_id")
    op.drop_table("project_transitions")
    for statement in _PG_TRIGGER if _dialect() == "postgresql" else _SQLITE_TRIGGERS:
        op.execute(statement)

    op.create_table(
        "project_revisions",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("project_id", sa.Uuid(), nullable=False),
        sa.Column("status", sa.String(length=12), nullable=False),
        sa.Column("fields", sa.JSON(), nullable=False),
        sa.Column("screening", sa.JSON(), nullable=True),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("created_by", sa.Uuid(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["project_id"],
            ["projects.id"],
            name=op.f("fk_project_revisions_project_id_projects"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_project_revisions")),
    )
    op.create_index(op.f("ix_project_revisions_project_id"), "project_revisions", ["project_id"])
    op.create_index(
        "uq_project_revisions_open",
        "project_revisions",
        ["project_id"],
        unique=True,
        postgresql_where=sa.text(OPEN_REVISION),
        sqlite_where=sa.text(OPEN_REVISION),
    )


def downgrade() -> None:
    op.drop_index("uq_project_revisions_open", table_name="project_revisions")
    op.drop_index(op.f("ix_project_revisions_project_id"), table_name="project_revisions")
    op.drop_table("project_revisions")

    transitions = op.create_table(
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
        sa.Column("screening", sa.JSON(), nullable=True),
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
    assert transitions is not None
    events = sa.table(
        "audit_events",
        *(
            sa.column(name, type_)
            for name, type_ in [
                ("id", sa.Integer()),
                ("object_id", sa.Uuid()),
                ("object_type", sa.String()),
                ("action", sa.String()),
                ("from_status", sa.String()),
                ("to_status", sa.String()),
                ("reason", sa.Text()),
                ("actor_role", sa.String()),
                ("actor_scope", sa.String()),
                ("actor_key_id", sa.Uuid()),
                ("at", sa.DateTime(timezone=True)),
                ("screening", sa.JSON()),
            ]
        ),
    )
    bind = op.get_bind()
    rows = bind.execute(
        sa.select(events)
        .where(
            events.c.object_type == "project",
            events.c.action.in_(_LIFECYCLE),
            events.c.to_status.is_not(None),
            # Only steps of projects that still exist (the old table's foreign key).
            events.c.object_id.in_(
                sa.select(sa.column("id", sa.Uuid())).select_from(sa.table("projects"))
            ),
        )
        .order_by(events.c.id)
    ).mappings()
    steps = [
        {
            "id": uuid.uuid4(),
            "project_id": row["object_id"],
            **{
                name: row[name]
                for name in (
                    "action",
                    "from_status",
                    "to_status",
                    "reason",
                    "actor_role",
                    "actor_scope",
                    "actor_key_id",
                    "at",
                    "screening",
                )
            },
        }
        for row in rows
    ]
    if steps:
        op.bulk_insert(transitions, steps)

    if _dialect() == "postgresql":
        op.execute("DROP TRIGGER audit_events_append_only ON audit_events")
        op.execute("DROP FUNCTION audit_events_append_only()")
    else:
        op.execute("DROP TRIGGER audit_events_no_update")
        op.execute("DROP TRIGGER audit_events_no_delete")
    op.drop_index("ix_audit_events_object", table_name="audit_events")
    op.drop_table("audit_events")
