"""An import job's file is stored before its job row: parts no longer need the row to exist.

Revision ID: 0024
Revises: 0023
Create Date: 2026-12-05

The request that submits a large import stores the file's parts in short transactions of their
own before the transaction that creates the job (on SQLite one write lock is held from a write
transaction's first statement to its commit, and storing 50 MB in it kept every other writer
waiting). So a part is written while its job row does not exist yet: the foreign key goes, and
``staged_at`` says when the part was stored, so that housekeeping can remove the parts of a
request that never created its job (its process died between the two) once they are old. Rows
stored before this revision keep a null ``staged_at``: every one of them has its job.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0024"
down_revision: str | None = "0023"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

FK = "fk_import_uploads_job_id_import_jobs"


def upgrade() -> None:
    with op.batch_alter_table("import_uploads", schema=None) as batch_op:
        batch_op.drop_constraint(FK, type_="foreignkey")
        batch_op.add_column(sa.Column("staged_at", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    # Parts of jobs never created cannot keep a key to a job.
    op.execute(
        "DELETE FROM import_uploads WHERE NOT EXISTS "
        "(SELECT 1 FROM import_jobs WHERE import_jobs.id = import_uploads.job_id)"
    )
    with op.batch_alter_table("import_uploads", schema=None) as batch_op:
        batch_op.drop_column("staged_at")
        batch_op.create_foreign_key(FK, "import_jobs", ["job_id"], ["id"], ondelete="CASCADE")
