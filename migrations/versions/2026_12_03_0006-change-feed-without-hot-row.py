"""The matcher's change log without a shared counter row.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-03

Revision 0003 bumped one ``matching_state`` row per written statement and held its lock until
commit: every project write in the country queued behind the longest open writer (a large import
held it for its whole run), and a transaction updating that one row thousands of times made each
update slower than the last. Now triggers only append to ``matching_changes``:

- ids come from the table's own sequence (SQLite: the rowid); no row is shared by two writers;
- only changes the matcher sees are logged: a project whose status is or was ``in_library``, a
  product whose status is or was ``active`` (a draft import logs nothing);
- PostgreSQL triggers run once per statement over its transition table, and store the writing
  transaction's id (``xid``): sequence numbers are handed out in write order, not commit order,
  so a reader moves its position only past transactions that have all finished (the snapshot's
  ``xmin``) and never skips an entry that commits late. SQLite has one writer at a time, so its
  ids commit in order and the reader just remembers the last id;
- old entries are pruned every 1,000 ids, keeping at least the newest 10,000, by one pruner at a
  time (PostgreSQL: whoever finds the ``pruned`` row locked skips pruning instead of waiting).
  ``matching_state.pruned`` says how far: a reader behind it rebuilds instead of patching.
"""

import importlib.util
from collections.abc import Sequence
from pathlib import Path
from types import ModuleType

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_KEPT = 10_000  # app.models.product.CHANGES_KEPT
_PRUNE_EVERY = 1_000
# table → (logged kind, the status in which the matcher sees its rows)
_WATCHED = {"projects": ("project", "in_library"), "products": ("product", "active")}
_EVENTS = ("insert", "update", "delete")
_TRANSITION_TABLES = {
    "insert": "NEW TABLE AS new_rows",
    "update": "OLD TABLE AS old_rows NEW TABLE AS new_rows",
    "delete": "OLD TABLE AS old_rows",
}


def _postgresql() -> bool:
    return op.get_bind().dialect.name == "postgresql"


def upgrade() -> None:
    _drop_counter_triggers()
    op.drop_table("matching_changes")
    op.drop_table("matching_state")
    op.create_table(
        "matching_state",
        sa.Column("name", sa.String(length=20), nullable=False),
        sa.Column("position", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_matching_state")),
    )
    op.bulk_insert(
        sa.table("matching_state", sa.column("name", sa.String), sa.column("position")),
        [{"name": "pruned", "position": 0}],
    )
    op.create_table(
        "matching_changes",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("kind", sa.String(length=10), nullable=False),
        sa.Column("object_id", sa.Uuid(), nullable=False),
        sa.Column("xid", sa.BigInteger(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_matching_changes")),
    )
    with op.batch_alter_table("matching_changes", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_matching_changes_xid"), ["xid"], unique=False)
    if _postgresql():
        _create_postgresql_log()
    else:
        _create_sqlite_log()


# The writing transaction's id and the oldest one still running, as bigint (xid8 has no cast).
_OWN_XID = "pg_current_xact_id()::text::bigint"
_XMIN = "pg_snapshot_xmin(pg_current_snapshot())::text::bigint"


def _create_postgresql_log() -> None:
    op.execute(
        "CREATE FUNCTION matching_log_prune() RETURNS void LANGUAGE plpgsql AS $$ "
        "DECLARE horizon bigint; BEGIN "
        # One pruner at a time, and no writer ever waits for it.
        "PERFORM 1 FROM matching_state WHERE name = 'pruned' FOR UPDATE SKIP LOCKED; "
        "IF NOT FOUND THEN RETURN; END IF; "
        # Keep every entry of the transactions that wrote the newest entries, and of any
        # transaction still running (their readers have not moved past them).
        f"SELECT least(min(xid), {_XMIN}, {_OWN_XID}) INTO horizon FROM "
        f"(SELECT xid FROM matching_changes ORDER BY id DESC LIMIT {_KEPT}) AS recent; "
        "DELETE FROM matching_changes WHERE xid < horizon; "
        "UPDATE matching_state SET position = horizon "
        "WHERE name = 'pruned' AND position < horizon; "
        "END $$"
    )
    # TG_ARGV: the logged kind, the status in which the matcher sees a row.
    op.execute(
        "CREATE FUNCTION matching_log() RETURNS trigger LANGUAGE plpgsql AS $$ "
        "DECLARE first_id bigint; last_id bigint; BEGIN "
        "IF TG_OP = 'INSERT' THEN "
        "WITH logged AS (INSERT INTO matching_changes (kind, object_id, xid) "
        f"SELECT TG_ARGV[0], id, {_OWN_XID} FROM new_rows WHERE status = TG_ARGV[1] "
        "RETURNING id) SELECT min(id), max(id) INTO first_id, last_id FROM logged; "
        "ELSIF TG_OP = 'UPDATE' THEN "
        "WITH logged AS (INSERT INTO matching_changes (kind, object_id, xid) "
        f"SELECT TG_ARGV[0], id, {_OWN_XID} FROM ("
        "SELECT id FROM new_rows WHERE status = TG_ARGV[1] "
        "UNION SELECT id FROM old_rows WHERE status = TG_ARGV[1]) AS seen "
        "RETURNING id) SELECT min(id), max(id) INTO first_id, last_id FROM logged; "
        "ELSE "
        "WITH logged AS (INSERT INTO matching_changes (kind, object_id, xid) "
        f"SELECT TG_ARGV[0], id, {_OWN_XID} FROM old_rows WHERE status = TG_ARGV[1] "
        "RETURNING id) SELECT min(id), max(id) INTO first_id, last_id FROM logged; "
        "END IF; "
        f"IF last_id / {_PRUNE_EVERY} > (first_id - 1) / {_PRUNE_EVERY} THEN "
        "PERFORM matching_log_prune(); END IF; "
        "RETURN NULL; END $$"
    )
    for table, (kind, status) in _WATCHED.items():
        for event in _EVENTS:
            op.execute(
                f"CREATE TRIGGER trg_{table}_matching_{event} AFTER {event.upper()} ON {table} "
                f"REFERENCING {_TRANSITION_TABLES[event]} "
                f"FOR EACH STATEMENT EXECUTE FUNCTION matching_log('{kind}', '{status}')"
            )


def _create_sqlite_log() -> None:
    for table, (kind, status) in _WATCHED.items():
        for event in _EVENTS:
            row = "OLD" if event == "delete" else "NEW"
            when = f"{row}.status = '{status}'"
            if event == "update":
                when = f"NEW.status = '{status}' OR OLD.status = '{status}'"
            op.execute(
                f"CREATE TRIGGER trg_{table}_matching_{event} AFTER {event.upper()} ON {table} "
                f"WHEN {when} BEGIN INSERT INTO matching_changes (kind, object_id) "
                f"VALUES ('{kind}', {row}.id); END"
            )
    op.execute(
        "CREATE TRIGGER trg_matching_changes_prune AFTER INSERT ON matching_changes "
        f"WHEN NEW.id % {_PRUNE_EVERY} = 0 BEGIN "
        f"DELETE FROM matching_changes WHERE id <= NEW.id - {_KEPT}; "
        f"UPDATE matching_state SET position = NEW.id - {_KEPT} "
        f"WHERE name = 'pruned' AND position < NEW.id - {_KEPT}; "
        "END"
    )


def _drop_log_triggers() -> None:
    if _postgresql():
        for table in _WATCHED:
            for event in _EVENTS:
                op.execute(f"DROP TRIGGER IF EXISTS trg_{table}_matching_{event} ON {table}")
        op.execute("DROP FUNCTION IF EXISTS matching_log()")
        op.execute("DROP FUNCTION IF EXISTS matching_log_prune()")
        return
    for table in _WATCHED:
        for event in _EVENTS:
            op.execute(f"DROP TRIGGER IF EXISTS trg_{table}_matching_{event}")
    op.execute("DROP TRIGGER IF EXISTS trg_matching_changes_prune")


def downgrade() -> None:
    _drop_log_triggers()
    with op.batch_alter_table("matching_changes", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_matching_changes_xid"))
    op.drop_table("matching_changes")
    op.drop_table("matching_state")
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
    _create_counter_triggers()


def _revision_0003() -> ModuleType:
    """Revision 0003's module: its counter triggers are what a downgrade restores."""
    path = Path(__file__).with_name("2026_11_26_0003-finance.py")
    spec = importlib.util.spec_from_file_location("climatelib_migration_0003", path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _create_counter_triggers() -> None:
    _revision_0003()._create_triggers()


def _drop_counter_triggers() -> None:
    _revision_0003()._drop_triggers()
