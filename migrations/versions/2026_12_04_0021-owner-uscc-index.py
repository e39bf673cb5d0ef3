"""An index on the projects' owner USCC.

Revision ID: 0021
Revises: 0020
Create Date: 2026-12-04

The integrity flags look a project's owner up by its unified social credit code: a project's
``likely_duplicate`` check reads the other projects of the same owner, and the list's ``flag=``
filter joins the projects to themselves on the code. Without an index each is a scan of every
project (the join, one per flaggable project).
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0021"
down_revision: str | None = "0020"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index("ix_projects_owner_uscc", "projects", ["owner_uscc"])


def downgrade() -> None:
    op.drop_index("ix_projects_owner_uscc", table_name="projects")
