"""两高 screening outcomes: fuel, capacity replacement, transition projects.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-03

The screening used to refuse every 两高 project but an M3 retrofit, so CCUS (M4) and
process-emission control (M5) at the very plants the policy asks them for were refused, and any
4411/4412 plant counted as coal power. Now (app/services/screening.py, rules 2026.12):

- projects gain ``fuel`` (only coal makes a 4411/4412 plant 煤电) and ``capacity_replacement``;
- ``is_two_high_retrofit`` gives way to ``two_high_outcome`` (``not_two_high``,
  ``two_high_transition``, ``two_high_refused``), and ``screening`` holds the rule id, the rule
  version and the reasons instead of a bare list of reasons;
- history steps that screen (create, submit, resubmit) keep the screening they saw;
- products' ``accepts_two_high_retrofit`` becomes ``accepts_two_high_transition``, values kept.

Existing rows are carried forward by running the new rules on their stored fields. Existing
4411/4412 projects get ``fuel = 'coal'``: the old rule screened every one of them as coal power,
so their outcome stays what their owners were told unless the new rules admit more (an M4/M5
retrofit, formerly refused, is now a transition project); a region corrects the fuel by an edit.
``capacity_replacement`` starts false: nobody has stated it yet. The rules and the 两高 list of
this day are frozen below, so the revision means the same whatever the application becomes.
"""

from collections.abc import Sequence
from itertools import groupby
from typing import Any

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

RULE_VERSION = "2026.12"
LIST_VERSION = "2026.2"
# Bits of M3, M4, M5 in projects.categories_mask (taxonomy order; new codes go at the end).
_TRANSITION_BITS = {"M3": 1 << 2, "M4": 1 << 3, "M5": 1 << 4}
_IN_PLACE = ("retrofit", "operation", "other")
_FUEL_CLASSES = ("D4411", "D4412")
# The 两高 list (app/reference/two_high.json, version 2026.2): sector → (name, classes).
_SECTORS = {
    "coal_power": ("煤电", "D4411 D4412"),
    "petrochemicals": ("石化", "C2511"),
    "coal_chemicals": ("煤化工、焦化", "C2521 C2522 C2523"),
    "chemicals": ("化工", "C2611 C2612 C2613 C2614 C2619 C2621"),
    "steel": ("钢铁", "C3110 C3120 C3140"),
    "nonferrous_smelting": (
        "有色金属冶炼",
        "C3211 C3212 C3213 C3214 C3215 C3216 C3217 C3218 C3219 C3221 C3222 C3229 C3231 C3232 C3239",
    ),
    "building_materials": ("建材", "C3011 C3012 C3033 C3041 C3071"),
}
_SECTOR_OF = {
    code: (sector, name) for sector, (name, codes) in _SECTORS.items() for code in codes.split()
}

projects = sa.table(
    "projects",
    sa.column("id", sa.Uuid()),
    sa.column("industry_code", sa.String()),
    sa.column("nature", sa.String()),
    sa.column("categories_mask", sa.Integer()),
    sa.column("fuel", sa.String()),
    sa.column("is_two_high", sa.Boolean()),
    sa.column("two_high_outcome", sa.String()),
    sa.column("screening", sa.JSON()),
)


def _reason(code: str, message: str, sector: str | None = None) -> dict[str, Any]:
    return {"code": code, "message": message, "sector": sector}


def _screen(industry_code: str, nature: str, mask: int) -> tuple[str, dict[str, Any]]:
    """The outcome and stored screening of the rules of 2026.12 (fuel coal, no replacement)."""

    def result(outcome: str, rule: str, reasons: list[dict[str, Any]]) -> tuple[str, Any]:
        return outcome, {
            "outcome": outcome,
            "rule_id": f"two_high.{rule}",
            "rule_version": RULE_VERSION,
            "list_version": LIST_VERSION,
            "reasons": reasons,
        }

    listed = _SECTOR_OF.get(industry_code)
    if listed is None:
        message = f"{industry_code} is not in the 两高 list."
        return result("not_two_high", "not_listed", [_reason("not_listed", message)])
    sector, sector_zh = listed
    reasons = [_reason("two_high_sector", f"{industry_code} is a 两高 industry ({sector_zh}).")]
    reasons[0]["sector"] = sector
    under = [code for code, bit in _TRANSITION_BITS.items() if mask & bit]
    if not under:
        message = "A 两高 project is accepted only as a transition project under M3, M4 or M5."
        reasons.append(_reason("no_transition_category", message, sector))
        return result("two_high_refused", "refused_no_transition_category", reasons)
    if nature in _IN_PLACE:
        message = (
            f"A {nature} under {', '.join(under)}: a transition project, flagged for reviewers."
        )
        reasons.append(_reason("transition", message, sector))
        return result("two_high_transition", "transition_in_place", reasons)
    message = (
        f"A {nature} under {', '.join(under)} that replaces no existing capacity adds 两高 "
        "capacity; it is accepted only with capacity_replacement (产能置换)."
    )
    reasons.append(_reason("new_capacity", message, sector))
    return result("two_high_refused", "refused_new_capacity", reasons)


def _drop_column(table: str, column: str) -> None:
    # Plain ALTER on both databases (SQLite ≥ 3.35): a batch copy of the table would drop the
    # matcher's triggers on it.
    op.execute(f"ALTER TABLE {table} DROP COLUMN {column}")


def _rename_column(table: str, old: str, new: str) -> None:
    op.execute(f"ALTER TABLE {table} RENAME COLUMN {old} TO {new}")


def upgrade() -> None:
    op.add_column("projects", sa.Column("fuel", sa.String(length=10), nullable=True))
    op.add_column(
        "projects",
        sa.Column("capacity_replacement", sa.Boolean(), nullable=False, server_default=sa.false()),
    )
    op.add_column(
        "projects",
        sa.Column(
            "two_high_outcome",
            sa.String(length=20),
            nullable=False,
            server_default="not_two_high",
        ),
    )
    op.add_column("project_transitions", sa.Column("screening", sa.JSON(), nullable=True))
    _rename_column("products", "accepts_two_high_retrofit", "accepts_two_high_transition")

    bind = op.get_bind()
    bind.execute(
        projects.update().where(projects.c.industry_code.in_(_FUEL_CLASSES)).values(fuel="coal")
    )
    # One UPDATE per distinct screened combination, not per project: a large library has few.
    combos = bind.execute(
        sa.select(projects.c.industry_code, projects.c.nature, projects.c.categories_mask)
        .distinct()
        .order_by(projects.c.industry_code)
    ).all()
    for industry_code, rows in groupby(combos, key=lambda r: r[0]):
        if industry_code not in _SECTOR_OF:
            outcome, screening = _screen(industry_code, "other", 0)
            _set(bind, outcome, screening, projects.c.industry_code == industry_code)
            continue
        for _, nature, mask in rows:
            outcome, screening = _screen(industry_code, nature, mask)
            where = sa.and_(
                projects.c.industry_code == industry_code,
                projects.c.nature == nature,
                projects.c.categories_mask == mask,
            )
            _set(bind, outcome, screening, where)
    _drop_column("projects", "is_two_high_retrofit")


def _set(bind: sa.Connection, outcome: str, screening: Any, where: Any) -> None:
    bind.execute(
        projects.update()
        .where(where)
        .values(
            is_two_high=outcome != "not_two_high",
            two_high_outcome=outcome,
            screening=screening,
        )
    )


# The stored reasons' codes before this revision, by outcome (and nature for transitions).
_OLD_CODES = {"not_two_high": "not_two_high", "two_high_refused": "two_high_project"}


def downgrade() -> None:
    op.add_column(
        "projects",
        sa.Column("is_two_high_retrofit", sa.Boolean(), nullable=False, server_default=sa.false()),
    )
    bind = op.get_bind()
    old = sa.table(
        "projects",
        sa.column("id", sa.Uuid()),
        sa.column("is_two_high_retrofit", sa.Boolean()),
        sa.column("screening", sa.JSON()),
    )
    rows = bind.execute(
        sa.select(
            projects.c.id, projects.c.nature, projects.c.two_high_outcome, projects.c.screening
        )
    ).all()
    for project_id, nature, outcome, screening in rows:
        retrofit = outcome == "two_high_transition" and nature == "retrofit"
        code = _OLD_CODES.get(outcome) or ("two_high_retrofit" if retrofit else "two_high_industry")
        last = (screening or {}).get("reasons") or [{}]
        reason = {
            "code": code,
            "message": last[-1].get("message", ""),
            "sector": last[-1].get("sector"),
        }
        bind.execute(
            old.update()
            .where(old.c.id == project_id)
            .values(is_two_high_retrofit=retrofit, screening=[reason])
        )
    # The old rule took every 4411/4412 plant for coal power.
    bind.execute(
        projects.update()
        .where(projects.c.industry_code.in_(list(_SECTOR_OF)))
        .values(is_two_high=True)
    )
    _rename_column("products", "accepts_two_high_transition", "accepts_two_high_retrofit")
    _drop_column("project_transitions", "screening")
    _drop_column("projects", "two_high_outcome")
    _drop_column("projects", "capacity_replacement")
    _drop_column("projects", "fuel")
