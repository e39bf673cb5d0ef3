"""Projects get a place on the map and English text; institutions say whether they may be named
in open data.

Revision ID: 0017
Revises: 0013
Create Date: 2026-12-04

``location_lat`` / ``location_lon``: an optional WGS 84 point (the API takes both or neither),
indexed by longitude for the list's ``bbox`` filter. ``name_en`` / ``summary_en``: optional
English text.
``institutions.open_data_consent``: whether the institution agreed to be named as the provider
of funds in open data (the IATI export); every existing institution starts without (false).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0017"
down_revision: str | None = "0016"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Plain ALTERs: a batch copy on SQLite would drop the matcher's triggers on projects.
    op.add_column("projects", sa.Column("name_en", sa.String(300), nullable=True))
    op.add_column("projects", sa.Column("summary_en", sa.Text(), nullable=True))
    op.add_column("projects", sa.Column("location_lat", sa.Float(), nullable=True))
    op.add_column("projects", sa.Column("location_lon", sa.Float(), nullable=True))
    op.create_index("ix_projects_location", "projects", ["location_lon", "location_lat"])
    op.add_column(
        "institutions",
        sa.Column("open_data_consent", sa.Boolean(), nullable=False, server_default=sa.false()),
    )


def downgrade() -> None:
    op.execute("ALTER TABLE institutions DROP COLUMN open_data_consent")
    op.drop_index("ix_projects_location", table_name="projects")
    for column in ("location_lon", "location_lat", "summary_en", "name_en"):
        op.execute(f"ALTER TABLE projects DROP COLUMN {column}")
