"""API keys get a lifecycle: expiry, rotation with a grace period, last use.

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-04

``expires_at``: a key stops working then (null: never). ``previous_digest`` and
``previous_valid_until``: after a rotation the old secret keeps working until then, so that a
deployment can switch to the new one without an outage. ``last_used_at``: when the key was last
seen, recorded at most every few minutes. Existing keys carry on unchanged: no expiry, no previous
secret, never seen.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("api_keys") as batch:
        batch.add_column(sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("last_used_at", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("previous_digest", sa.String(64), nullable=True))
        batch.add_column(
            sa.Column("previous_valid_until", sa.DateTime(timezone=True), nullable=True)
        )
        batch.create_index("ix_api_keys_previous_digest", ["previous_digest"], unique=True)


def downgrade() -> None:
    with op.batch_alter_table("api_keys") as batch:
        batch.drop_index("ix_api_keys_previous_digest")
        batch.drop_column("previous_valid_until")
        batch.drop_column("previous_digest")
        batch.drop_column("last_used_at")
        batch.drop_column("expires_at")
