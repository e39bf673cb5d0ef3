"""Taxonomy levels: second-level categories, the taxonomy version, external classifications.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-04

- A project's categories may now be second-level codes (M2.1 …). Their bits are appended to
  ``projects.categories_mask`` after the thirteen first-level bits (app/reference/taxonomy.json
  ``mask_order``), and a stored mask holds a second-level code's parent bit too. Existing masks
  hold only first-level bits, which keep their positions: they mean what they meant.
- ``projects.taxonomy_version``: the taxonomy version the categories were validated under.
  Existing projects were classified under the version served until today, 2026.1.
- ``projects.classifications``: entries in external schemes (gfc-2025), none for existing rows.
- ``products.gfc_codes``: the catalogue entries a product targets, none for existing rows.

Columns are added with plain ALTER on both databases: a batch copy of the table on SQLite would
drop the matcher's triggers on it.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# The taxonomy version in force before this revision; every existing project was filed under it.
PREVIOUS_TAXONOMY_VERSION = "2026.1"
# The thirteen first-level bits (M1…M6, A1…A7); second-level bits start above them.
_FIRST_LEVEL_BITS = (1 << 13) - 1

projects = sa.table("projects", sa.column("categories_mask", sa.Integer()))


def upgrade() -> None:
    op.add_column(
        "projects",
        sa.Column(
            "taxonomy_version",
            sa.String(length=16),
            nullable=False,
            server_default=PREVIOUS_TAXONOMY_VERSION,
        ),
    )
    op.add_column(
        "projects",
        sa.Column("classifications", sa.JSON(), nullable=False, server_default=sa.text("'[]'")),
    )
    op.add_column("products", sa.Column("gfc_codes", sa.JSON(), nullable=True))


def _drop_column(table: str, column: str) -> None:
    # Plain ALTER on both databases (SQLite ≥ 3.35), keeping the triggers on the table.
    op.execute(f"ALTER TABLE {table} DROP COLUMN {column}")


def downgrade() -> None:
    # The old service knows only first-level bits: a second-level code falls back to the parent
    # bit its mask already holds.
    op.get_bind().execute(
        projects.update()
        .where(projects.c.categories_mask.op("&")(~_FIRST_LEVEL_BITS) != 0)
        .values(categories_mask=projects.c.categories_mask.op("&")(_FIRST_LEVEL_BITS))
    )
    _drop_column("products", "gfc_codes")
    _drop_column("projects", "classifications")
    _drop_column("projects", "taxonomy_version")
