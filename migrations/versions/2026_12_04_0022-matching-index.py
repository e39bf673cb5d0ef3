"""A covering index of the library's matching columns.

Revision ID: 0022
Revises: 0021
Create Date: 2026-12-04

The matcher's full re-match reads every library project's matching columns in one statement
(``app.repositories.matching.library_columns``). Read from the table, that is a walk of the
wide ``projects`` rows (names, summaries, contacts, screening…), on SQLite with one table
lookup per project behind ``ix_projects_status_region``: most of the re-match's time. This index
holds exactly those columns, for the library's projects only, so the read is a scan of its
narrow pages.

It is partial (``status = 'in_library'``): a draft, the state every create and import writes,
never enters it, so creates and imports pay only the predicate; a project enters it on approval
and leaves on exit, and an update of a library project keeps its entry current.

The two databases get different definitions of the same index, for the same purpose:

- PostgreSQL: keyed by ``id`` with the other columns as ``INCLUDE`` (not part of the key, so
  not compared; ``classifications`` is ``json``, which has no B-tree order): an index-only scan.
- SQLite has no ``INCLUDE``: every column is part of the key, ``status`` first, because SQLite
  3.40 counts an index as covering only when it holds every column the statement names, the
  partial index's own ``status`` included.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0022"
down_revision: str | None = "0021"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

INDEX = "ix_projects_matching"
IN_LIBRARY = sa.text("status = 'in_library'")
# What the matcher reads of a project, after its id (app.repositories.matching).
COLUMNS = [
    "region_code",
    "objective",
    "categories_mask",
    "financing_types_mask",
    "construction_status",
    "financing_need",
    "financing_secured",
    "tenor_months",
    "annual_emission_reduction_tco2e",
    "annual_carbon_sink_tco2e",
    "adaptation_beneficiaries",
    "third_party_verified",
    "is_two_high",
    "classifications",
    "verified_reports",
    "verified_emission_reduction_tco2e",
    "verified_carbon_sink_tco2e",
    "verified_days",
    "verified_adaptation_beneficiaries",
]


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.create_index(
            INDEX, "projects", ["id"], postgresql_include=COLUMNS, postgresql_where=IN_LIBRARY
        )
    else:
        op.create_index(INDEX, "projects", ["status", "id", *COLUMNS], sqlite_where=IN_LIBRARY)


def downgrade() -> None:
    op.drop_index(INDEX, table_name="projects")
