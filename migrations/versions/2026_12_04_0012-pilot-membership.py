"""Pilot membership: coverage and validity of pilot codes, projects' explicit ``pilot_id``.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-04

A pilot used to be the set of projects whose region code starts with one of its codes, so a
project anywhere in 500109 北碚区, which 两江新区 covers only in part, counted for 两江 and its key
acted on it. Now:

- ``pilot_regions.is_partial`` becomes ``coverage`` (``full`` / ``partial``, values kept) and each
  code gains ``valid_from`` / ``valid_to`` (inclusive days; null: open);
- the 2025 change for 重庆两江新区 is shipped: 500157 两江新区 (established 2025-11-06) is a full
  code from that day; 500105 江北区 and 500112 渝北区 (abolished that day) stay partial codes up
  to 2025-11-05, so old projects recorded under them keep their pilot (民政部 2025 changes, as
  app/reference/region_changes.json records them);
- ``pilot_transitions`` gains ``changes`` (before/after codes of an admin's edit of the codes);
- ``projects`` gains ``pilot_id``. Existing projects get it where their region code lies in a
  pilot's ``full`` code valid on the day they were created, never by a ``partial`` code: a
  project in a partly covered district belongs to the pilot only when its region says so (an
  edit). Where two pilots' full codes hold the same project, the first in code order wins.

Downgrade drops the validity (a retired code is kept as a plain partial code), the membership
and the history entries of code edits (the older schema has no place for them).
"""

import uuid
from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta

import sqlalchemy as sa
from alembic import op

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

LIANGJIANG = "9307a0f5-5a51-51ef-9af5-085cf758ba38"  # 重庆市两江新区 (revision 0005)
CHANGED_ON = date(2025, 11, 6)
# (code, coverage, valid_from, valid_to) of 两江新区 after the 2025 change.
LIANGJIANG_CODES: list[tuple[str, str, date | None, date | None]] = [
    ("500157", "full", CHANGED_ON, None),
    ("500105", "partial", None, CHANGED_ON - timedelta(days=1)),
    ("500112", "partial", None, CHANGED_ON - timedelta(days=1)),
    ("500109", "partial", None, None),
]

pilot_regions = sa.table(
    "pilot_regions",
    sa.column("pilot_id", sa.Uuid()),
    sa.column("region_code", sa.String()),
    sa.column("is_partial", sa.Boolean()),
    sa.column("coverage", sa.String()),
    sa.column("valid_from", sa.Date()),
    sa.column("valid_to", sa.Date()),
)
pilot_transitions = sa.table("pilot_transitions", sa.column("action", sa.String()))
projects = sa.table(
    "projects",
    sa.column("id", sa.Uuid()),
    sa.column("region_code", sa.String()),
    sa.column("created_at", sa.DateTime(timezone=True)),
    sa.column("pilot_id", sa.Uuid()),
)


def _prefix(code: str) -> str:
    """The codes a code covers: 440000 → 44, 440300 → 4403, 440304 → 440304."""
    if code.endswith("0000"):
        return code[:2]
    if code.endswith("00"):
        return code[:4]
    return code


def _day_start(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=UTC)


def upgrade() -> None:
    with op.batch_alter_table("pilot_regions") as batch:
        batch.add_column(
            sa.Column("coverage", sa.String(length=10), nullable=False, server_default="full")
        )
        batch.add_column(sa.Column("valid_from", sa.Date(), nullable=True))
        batch.add_column(sa.Column("valid_to", sa.Date(), nullable=True))
    op.execute(
        pilot_regions.update()
        .where(pilot_regions.c.is_partial == sa.true())
        .values(coverage="partial")
    )
    with op.batch_alter_table("pilot_regions") as batch:
        batch.drop_column("is_partial")
        batch.alter_column("coverage", server_default=None)

    for code, coverage, valid_from, valid_to in LIANGJIANG_CODES:
        op.execute(
            pilot_regions.update()
            .where(
                pilot_regions.c.pilot_id == uuid.UUID(LIANGJIANG),
                pilot_regions.c.region_code == code,
            )
            .values(coverage=coverage, valid_from=valid_from, valid_to=valid_to)
        )

    with op.batch_alter_table("pilot_transitions") as batch:
        batch.add_column(sa.Column("changes", sa.JSON(), nullable=True))

    # Plain ALTERs on projects (a batch copy of the table would drop the matcher's triggers on
    # it), hence no foreign key: SQLite cannot drop a column that carries one. The writes check
    # that the pilot exists, and pilots are never deleted.
    op.add_column("projects", sa.Column("pilot_id", sa.Uuid(), nullable=True))
    op.create_index(op.f("ix_projects_pilot_id"), "projects", ["pilot_id"], unique=False)

    bind = op.get_bind()
    full = bind.execute(
        sa.select(
            pilot_regions.c.pilot_id,
            pilot_regions.c.region_code,
            pilot_regions.c.valid_from,
            pilot_regions.c.valid_to,
        )
        .where(pilot_regions.c.coverage == "full")
        .order_by(pilot_regions.c.region_code, pilot_regions.c.pilot_id)
    ).all()
    for pilot_id, code, valid_from, valid_to in full:
        where = [
            projects.c.pilot_id.is_(None),
            projects.c.region_code.startswith(_prefix(code), autoescape=True),
        ]
        if valid_from is not None:
            where.append(projects.c.created_at >= _day_start(valid_from))
        if valid_to is not None:
            where.append(projects.c.created_at < _day_start(valid_to + timedelta(days=1)))
        bind.execute(projects.update().where(*where).values(pilot_id=pilot_id))


def downgrade() -> None:
    op.drop_index(op.f("ix_projects_pilot_id"), table_name="projects")
    op.execute("ALTER TABLE projects DROP COLUMN pilot_id")

    op.execute(pilot_transitions.delete().where(pilot_transitions.c.action == "replace_codes"))
    with op.batch_alter_table("pilot_transitions") as batch:
        batch.drop_column("changes")

    with op.batch_alter_table("pilot_regions") as batch:
        batch.add_column(
            sa.Column("is_partial", sa.Boolean(), nullable=False, server_default=sa.false())
        )
    op.execute(
        pilot_regions.update()
        .where(pilot_regions.c.coverage == "partial")
        .values(is_partial=sa.true())
    )
    with op.batch_alter_table("pilot_regions") as batch:
        batch.alter_column("is_partial", server_default=None)
        batch.drop_column("valid_to")
        batch.drop_column("valid_from")
        batch.drop_column("coverage")
