"""两高 screening (policy task 2: curb the *blind* expansion of 两高 projects).

The same policy asks for CCUS pilots and non-energy emission control, which happen almost only in
the 两高 sectors, so the screening tells transition projects from new 两高 capacity:

- outside the 两高 list (app/reference/two_high.json), or a 4411/4412 plant burning anything but
  coal, a project is ``not_two_high``;
- a 两高 project under M3 (节能降碳改造), M4 (CCUS) or M5 (process emissions) is
  ``two_high_transition`` (allowed, flagged for reviewers) when it works on existing capacity
  (``retrofit``, ``operation``, ``other``), or when it is a new build or expansion that replaces
  existing capacity (``capacity_replacement``, 产能置换);
- any other 两高 project is ``two_high_refused``: saved as a draft, refused at submission.

Each outcome names the rule that decided it and the rule version, so a stored result can be
traced to the rules of its day. The rule table is in docs/architecture.md.
"""

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from app.errors import FieldError, RuleViolation, field_error
from app.models.project import Fuel, Nature, TwoHighOutcome
from app.reference.industries import two_high_classes, two_high_data

RULE_VERSION = "2026.12"
"""Bumped whenever a rule below changes meaning; stored with every result."""

TRANSITION_CATEGORIES = ("M3", "M4", "M5")
_IN_PLACE = frozenset({Nature.retrofit, Nature.operation, Nature.other})
_CATEGORY_NAMES = {"M3": "节能降碳改造", "M4": "CCUS", "M5": "非能源活动排放控制"}


class Rule(StrEnum):
    """The screening rules, each with a stable id."""

    not_listed = "two_high.not_listed"
    fuel_not_coal = "two_high.fuel_not_coal"
    transition_in_place = "two_high.transition_in_place"
    transition_capacity_replacement = "two_high.transition_capacity_replacement"
    refused_new_capacity = "two_high.refused_new_capacity"
    refused_no_transition_category = "two_high.refused_no_transition_category"


@dataclass(frozen=True)
class ScreeningResult:
    outcome: TwoHighOutcome
    rule: Rule
    reasons: list[dict[str, Any]]
    errors: list[FieldError] = field(default_factory=list)

    @property
    def is_two_high(self) -> bool:
        return self.outcome is not TwoHighOutcome.not_two_high

    def as_json(self) -> dict[str, Any]:
        """The stored form (the project's ``screening`` column, a history step's screening)."""
        return {
            "outcome": self.outcome.value,
            "rule_id": self.rule.value,
            "rule_version": RULE_VERSION,
            "list_version": two_high_data()["version"],
            "reasons": self.reasons,
        }

    def refusal(self) -> RuleViolation | None:
        """The 422 ``two_high_refused`` of a refused project, naming the rule."""
        if self.outcome is not TwoHighOutcome.two_high_refused:
            return None
        return RuleViolation(
            self.reasons[-1]["message"],
            code="two_high_refused",
            errors=self.errors,
            rule_id=self.rule.value,
            rule_version=RULE_VERSION,
        )


def _reason(code: str, message: str, sector: str | None = None) -> dict[str, Any]:
    return {"code": code, "message": message, "sector": sector}


def screen(
    industry_code: str,
    nature: Nature | str,
    categories: list[str],
    fuel: Fuel | str | None = None,
    capacity_replacement: bool = False,
) -> ScreeningResult:
    """Screen a project's industry, fuel, nature and categories against the 两高 rules."""
    cls = two_high_classes().get(industry_code)
    if cls is None:
        message = f"{industry_code} is not in the 两高 list."
        return ScreeningResult(
            TwoHighOutcome.not_two_high, Rule.not_listed, [_reason("not_listed", message)]
        )
    fuel = Fuel(fuel) if fuel is not None else None
    # A plant whose fuel is unknown (only rows older than the fuel rule) is taken as coal.
    if cls.fuels is not None and fuel is not None and fuel.value not in cls.fuels:
        message = (
            f"{cls.code} {cls.name_zh} burning {fuel.value}: only a "
            f"{'/'.join(cls.fuels)}-fired plant counts as {cls.sector_zh}."
        )
        return ScreeningResult(
            TwoHighOutcome.not_two_high, Rule.fuel_not_coal, [_reason("fuel", message)]
        )
    sector = cls.sector
    listed = _reason(
        "two_high_sector", f"{cls.code} {cls.name_zh} is a 两高 industry ({cls.sector_zh}).", sector
    )
    nature = Nature(nature)
    transition = [c for c in categories if c in TRANSITION_CATEGORIES]
    if not transition:
        message = (
            f"A 两高 project is accepted only as a transition project under M3 (节能降碳改造), "
            f"M4 (CCUS) or M5 (process-emission control); its categories are "
            f"{', '.join(categories)}."
        )
        return ScreeningResult(
            TwoHighOutcome.two_high_refused,
            Rule.refused_no_transition_category,
            [listed, _reason("no_transition_category", message, sector)],
            [field_error(["body", "categories"], "two_high_refused", message)],
        )
    under = ", ".join(f"{c} ({_CATEGORY_NAMES[c]})" for c in transition)
    if nature in _IN_PLACE:
        message = f"A {nature.value} under {under}: a transition project, flagged for reviewers."
        return ScreeningResult(
            TwoHighOutcome.two_high_transition,
            Rule.transition_in_place,
            [listed, _reason("transition", message, sector)],
        )
    if capacity_replacement:
        message = (
            f"A {nature.value} under {under} replacing existing capacity (产能置换): "
            "a transition project, flagged for reviewers."
        )
        return ScreeningResult(
            TwoHighOutcome.two_high_transition,
            Rule.transition_capacity_replacement,
            [listed, _reason("capacity_replacement", message, sector)],
        )
    message = (
        f"A {nature.value} under {under} that replaces no existing capacity adds 两高 capacity; "
        "it is accepted only with capacity_replacement (产能置换)."
    )
    return ScreeningResult(
        TwoHighOutcome.two_high_refused,
        Rule.refused_new_capacity,
        [listed, _reason("new_capacity", message, sector)],
        [field_error(["body", "capacity_replacement"], "two_high_refused", message)],
    )


def fuel_required(industry_code: str) -> bool:
    """Whether projects in this class state their fuel (only some fuels make it 两高)."""
    cls = two_high_classes().get(industry_code)
    return cls is not None and cls.fuels is not None


def screen_fields(data: Any) -> ScreeningResult:
    """Screen validated input or a stored project (anything with the screening's fields)."""
    categories = [getattr(c, "value", c) for c in data.categories]
    return screen(
        data.industry_code, data.nature, categories, data.fuel, bool(data.capacity_replacement)
    )
