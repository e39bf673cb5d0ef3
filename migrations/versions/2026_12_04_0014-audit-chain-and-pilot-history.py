"""The audit store's hash chain, and pilot history as a view of the audit store.

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-04

- ``audit_seals``: one row per sealed event (``event_id``, ``hash``, ``algorithm``,
  ``sealed_at``), written by the sealer after the event committed (app/services/audit_chain.py).
  Append-only like ``audit_events``: a trigger refuses UPDATE and DELETE on both databases.
- The rows of ``pilot_transitions`` move into ``audit_events`` as events of their pilots, in their
  order (time, then id), keeping the role and key that acted, from, to, why and the codes before
  and after (as the ``codes`` change). What the old table never held stays unknown: the actor's
  scope and the request (null); an old row without a key id keeps none. ``pilot_transitions`` is
  dropped: nothing else reads it.

The downgrade carries the pilot events back into ``pilot_transitions`` (pilot creations and
reference edits have no place in that shape and are left behind) and drops ``audit_seals``. The
events stay in the store, which refuses DELETE; an upgrade again does not copy them twice.
"""

import uuid
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op

revision: str = "0014"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_PG_TRIGGER = [
    """
    CREATE FUNCTION audit_seals_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        RAISE EXCEPTION 'audit_seals is append-only: % refused', TG_OP
            USING ERRCODE = 'insufficient_privilege';
    END $$
    """,
    """
    CREATE TRIGGER audit_seals_append_only BEFORE UPDATE OR DELETE ON audit_seals
    FOR EACH ROW EXECUTE FUNCTION audit_seals_append_only()
    """,
]
_SQLITE_TRIGGERS = [
    f"""
    CREATE TRIGGER audit_seals_no_{op_name.lower()} BEFORE {op_name} ON audit_seals
    BEGIN SELECT RAISE(ABORT, 'audit_seals is append-only: {op_name} refused'); END
    """
    for op_name in ("UPDATE", "DELETE")
]
# The steps the old table held: section 三's actions and the edits of the codes.
_PILOT_STEPS = ("submit", "approve", "accept", "disqualify", "replace_codes")

_TRANSITION_COLUMNS: list[tuple[str, Any]] = [
    ("id", sa.Uuid()),
    ("pilot_id", sa.Uuid()),
    ("action", sa.String()),
    ("from_status", sa.String()),
    ("to_status", sa.String()),
    ("reason", sa.Text()),
    ("changes", sa.JSON()),
    ("actor_role", sa.String()),
    ("actor_key_id", sa.Uuid()),
    ("at", sa.DateTime(timezone=True)),
]
_EVENT_COLUMNS: list[tuple[str, Any]] = [
    ("id", sa.Integer()),
    ("at", sa.DateTime(timezone=True)),
    ("actor_key_id", sa.Uuid()),
    ("actor_role", sa.String()),
    ("actor_scope", sa.String()),
    ("action", sa.String()),
    ("object_type", sa.String()),
    ("object_id", sa.Uuid()),
    ("request_id", sa.String()),
    ("from_status", sa.String()),
    ("to_status", sa.String()),
    ("reason", sa.Text()),
    ("screening", sa.JSON()),
    ("changes", sa.JSON()),
]


def _table(name: str, columns: list[tuple[str, Any]]) -> sa.TableClause:
    return sa.table(name, *(sa.column(n, t) for n, t in columns))


def _dialect() -> str:
    return op.get_bind().dialect.name


def upgrade() -> None:
    op.create_table(
        "audit_seals",
        sa.Column(
            "event_id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            primary_key=True,
            autoincrement=False,
        ),
        sa.Column("hash", sa.String(length=64), nullable=False),
        sa.Column("algorithm", sa.String(length=10), nullable=False),
        sa.Column("sealed_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("event_id", name=op.f("pk_audit_seals")),
    )
    for statement in _PG_TRIGGER if _dialect() == "postgresql" else _SQLITE_TRIGGERS:
        op.execute(statement)

    bind = op.get_bind()
    transitions = _table("pilot_transitions", _TRANSITION_COLUMNS)
    events = _table("audit_events", _EVENT_COLUMNS[1:])
    rows = bind.execute(
        sa.select(transitions).order_by(transitions.c.at, transitions.c.id)
    ).mappings()
    # Steps a downgrade carried back are still in the store (it refuses DELETE): not twice.
    present = {
        (row.object_id, row.action, row.at)
        for row in bind.execute(
            sa.select(events.c.object_id, events.c.action, events.c.at).where(
                events.c.object_type == "pilot"
            )
        )
    }
    moved = [
        {
            "at": row["at"],
            "actor_key_id": row["actor_key_id"],
            "actor_role": row["actor_role"],
            "actor_scope": None,
            "action": row["action"],
            "object_type": "pilot",
            "object_id": row["pilot_id"],
            "request_id": None,
            "from_status": row["from_status"],
            "to_status": row["to_status"],
            "reason": row["reason"],
            "screening": None,
            "changes": {"codes": row["changes"]} if row["changes"] else None,
        }
        for row in rows
        if (row["pilot_id"], row["action"], row["at"]) not in present
    ]
    if moved:
        op.bulk_insert(events, moved)  # type: ignore[arg-type]
    with op.batch_alter_table("pilot_transitions") as batch:
        batch.drop_index("ix_pilot_transitions_pilot_id")
    op.drop_table("pilot_transitions")


def downgrade() -> None:
    transitions = op.create_table(
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
        sa.Column("changes", sa.JSON(), nullable=True),
        sa.ForeignKeyConstraint(
            ["pilot_id"],
            ["pilots.id"],
            name=op.f("fk_pilot_transitions_pilot_id_pilots"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_pilot_transitions")),
    )
    op.create_index(
        op.f("ix_pilot_transitions_pilot_id"), "pilot_transitions", ["pilot_id"], unique=False
    )
    assert transitions is not None
    events = _table("audit_events", _EVENT_COLUMNS)
    rows = (
        op.get_bind()
        .execute(
            sa.select(events)
            .where(
                events.c.object_type == "pilot",
                events.c.action.in_(_PILOT_STEPS),
                events.c.object_id.in_(
                    sa.select(sa.column("id", sa.Uuid())).select_from(sa.table("pilots"))
                ),
            )
            .order_by(events.c.id)
        )
        .mappings()
    )
    steps = [
        {
            "id": uuid.uuid4(),
            "pilot_id": row["object_id"],
            "action": row["action"],
            "from_status": row["from_status"],
            "to_status": row["to_status"],
            "reason": row["reason"],
            "actor_role": row["actor_role"],
            "actor_key_id": row["actor_key_id"],
            "at": row["at"],
            "changes": (row["changes"] or {}).get("codes"),
        }
        for row in rows
    ]
    if steps:
        op.bulk_insert(transitions, steps)

    if _dialect() == "postgresql":
        op.execute("DROP TRIGGER audit_seals_append_only ON audit_seals")
        op.execute("DROP FUNCTION audit_seals_append_only()")
    else:
        op.execute("DROP TRIGGER audit_seals_no_update")
        op.execute("DROP TRIGGER audit_seals_no_delete")
    op.drop_table("audit_seals")
