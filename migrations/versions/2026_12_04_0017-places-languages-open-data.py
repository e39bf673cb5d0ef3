"""Projects get a place on the map and English text; institutions say whether they may be named
in open data.

Revision ID: 0017
Revises: 0013
Create Date: 2026-12-04

``location_lat`` / ``location_lon``: an optional WGS 84 point (both or neither), indexed by
longitude for the list's ``bbox`` filter. ``name_en`` / ``summary_en``: optional English text.
``institutions.open_data_consent``: whether the institution agreed to be named as the provider
of funds in open data (the IATI export); every existing institution starts without (false).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0017"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("projects") as batch:
        batch.add_column(sa.Column("name_en", sa.String(300), nullable=True))
        batch.add_column(sa.Column("summary_en", sa.Text(), nullable=True))
        batch.add_column(sa.Column("location_lat", sa.Float(), nullable=True))
        batch.add_column(sa.Column("location_lon", sa.Float(), nullable=True))
        batch.create_check_constraint(
            op.f("ck_projects_location_both_or_neither"),
            "(location_lat IS NULL) = (location_lon IS NULL)",
        )
        batch.create_index("ix_projects_location", ["location_lon", "location_lat"])
    with op.batch_alter_table("institutions") as batch:
        batch.add_column(
            sa.Column("open_data_consent", sa.Boolean(), nullable=False, server_default=sa.false())
        )


def downgrade() -> None:
    with op.batch_alter_table("institutions") as batch:
        batch.drop_column("open_data_consent")
    with op.batch_alter_table("projects") as batch:
        batch.drop_index("ix_projects_location")
        batch.drop_constraint(op.f("ck_projects_location_both_or_neither"), type_="check")
        batch.drop_column("location_lon")
        batch.drop_column("location_lat")
        batch.drop_column("summary_en")
        batch.drop_column("name_en")
