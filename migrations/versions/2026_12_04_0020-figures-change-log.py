"""The public statistics' change log: writes that move a public figure are logged too.

Revision ID: 0020
Revises: 0018
Create Date: 2026-12-04

The public overview is served from figures each process keeps (app/services/stats.py) and
recomputes only when something it counts has changed. The matcher's log (revision 0006) already
records every write to a project that is or was ``in_library``; this revision adds entries of
kind ``figures`` to the same log, with the same ids and transaction ids, for the other writes the
public figures read:

- a project that is or was ``exited`` (exits stay in every total);
- any offer (``engagements``) or payment (``engagement_payments``): the offer funnel;
- any pilot: ``by_pilot`` lists every pilot by name;
- any monitoring report (revision 0016): a verification moves the verified figures.

One entry per statement on PostgreSQL (the reader only asks whether anything changed), one per
row on SQLite (its triggers are per row). A table that later adds a public figure gets a trigger
here the same way (``_LOGGED``). The matcher reads past these entries and ignores them.
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0020"
down_revision: str | None = "0018"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_PRUNE_EVERY = 1_000  # revision 0006: the log is pruned every 1,000 ids
# table → the status in which its rows count (None: every row)
_LOGGED: dict[str, str | None] = {
    "projects": "exited",
    "engagements": None,
    "engagement_payments": None,
    "pilots": None,
    "monitoring_reports": None,
}
_EVENTS = ("insert", "update", "delete")
_TRANSITION_TABLES = {
    "insert": "NEW TABLE AS new_rows",
    "update": "OLD TABLE AS old_rows NEW TABLE AS new_rows",
    "delete": "OLD TABLE AS old_rows",
}
_OWN_XID = "pg_current_xact_id()::text::bigint"


def _postgresql() -> bool:
    return op.get_bind().dialect.name == "postgresql"


_NIL = "00000000-0000-0000-0000-000000000000"
_LOG_ONE = (
    "INSERT INTO matching_changes (kind, object_id, xid) "
    f"VALUES ('figures', '{_NIL}', {_OWN_XID}) RETURNING id INTO logged; "
    f"IF logged % {_PRUNE_EVERY} = 0 THEN PERFORM matching_log_prune(); END IF; "
)


def _function(name: str, counted: str) -> str:
    """A statement trigger's function: one entry when the statement touched a counted row.
    ``counted`` is the condition on a transition table's row (TRUE: every row)."""
    exists = {
        side: f"EXISTS (SELECT 1 FROM {side} WHERE {counted})" for side in ("new_rows", "old_rows")
    }
    return (
        f"CREATE FUNCTION {name}() RETURNS trigger LANGUAGE plpgsql AS $$ "
        "DECLARE changed boolean; logged bigint; BEGIN "
        f"IF TG_OP = 'INSERT' THEN changed := {exists['new_rows']}; "
        f"ELSIF TG_OP = 'UPDATE' THEN changed := {exists['new_rows']} OR {exists['old_rows']}; "
        f"ELSE changed := {exists['old_rows']}; END IF; "
        f"IF changed THEN {_LOG_ONE}END IF; "
        "RETURN NULL; END $$"
    )


def _pg_function(status: str | None) -> str:
    return "figures_log_any" if status is None else f"figures_log_{status}"


def upgrade() -> None:
    if _postgresql():
        for status in sorted({s for s in _LOGGED.values() if s}):
            op.execute(_function(_pg_function(status), f"status = '{status}'"))
        op.execute(_function(_pg_function(None), "TRUE"))
        for table, status in _LOGGED.items():
            for event in _EVENTS:
                op.execute(
                    f"CREATE TRIGGER trg_{table}_figures_{event} AFTER {event.upper()} ON {table} "
                    f"REFERENCING {_TRANSITION_TABLES[event]} "
                    f"FOR EACH STATEMENT EXECUTE FUNCTION {_pg_function(status)}()"
                )
        return
    for table, status in _LOGGED.items():
        for event in _EVENTS:
            row = "OLD" if event == "delete" else "NEW"
            when = ""
            if status is not None:
                when = f"WHEN {row}.status = '{status}' "
                if event == "update":
                    when = f"WHEN NEW.status = '{status}' OR OLD.status = '{status}' "
            op.execute(
                f"CREATE TRIGGER trg_{table}_figures_{event} AFTER {event.upper()} ON {table} "
                f"{when}BEGIN INSERT INTO matching_changes (kind, object_id) "
                f"VALUES ('figures', {row}.id); END"
            )


def downgrade() -> None:
    postgresql = _postgresql()
    for table in _LOGGED:
        for event in _EVENTS:
            if postgresql:
                op.execute(f"DROP TRIGGER IF EXISTS trg_{table}_figures_{event} ON {table}")
            else:
                op.execute(f"DROP TRIGGER IF EXISTS trg_{table}_figures_{event}")
    op.execute("DELETE FROM matching_changes WHERE kind = 'figures'")
    if postgresql:
        for status in {*_LOGGED.values()}:
            op.execute(f"DROP FUNCTION IF EXISTS {_pg_function(status)}()")
