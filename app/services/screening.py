"""两高 screening (policy task 2): high energy, high emission industries stay out of the library.

New builds and expansions in a 两高 industry are refused at submission (``two_high_project``);
a retrofit there is allowed only as an energy-saving and carbon-reduction retrofit (M3) and is
flagged ``two_high_retrofit`` for reviewers. The industry list is data: app/reference/two_high.json.
"""

from dataclasses import dataclass, field
from typing import Any

from app.errors import FieldError, RuleViolation, field_error
from app.models.project import Nature
from app.reference.industries import two_high_classes

_REFUSED_NATURES = frozenset({Nature.new_build, Nature.expansion})


@dataclass(frozen=True)
class ScreeningResult:
    is_two_high: bool
    is_two_high_retrofit: bool
    refused: bool
    reasons: list[dict[str, Any]] = field(default_factory=list)
    errors: list[FieldError] = field(default_factory=list)

    @property
    def outcome(self) -> str:
        if self.refused:
            return "refused"
        return "flagged" if self.is_two_high_retrofit else "clear"

    def as_json(self) -> list[dict[str, Any]]:
        """The stored form (the project's ``screening`` column): the reasons."""
        return self.reasons

    def refusal(self) -> RuleViolation | None:
        """The 422 ``two_high_project`` of a refused project (errors located in the body)."""
        if not self.refused:
            return None
        return RuleViolation(
            self.reasons[0]["message"], code="two_high_project", errors=self.errors
        )


def screen(industry_code: str, nature: Nature | str, categories: list[str]) -> ScreeningResult:
    """Screen a project's industry and nature against the 两高 list."""
    cls = two_high_classes().get(industry_code)
    if cls is None:
        return ScreeningResult(
            False,
            False,
            False,
            [{"code": "not_two_high", "message": f"{industry_code} is not a 两高 industry."}],
        )
    where = f"{cls.code} {cls.name_zh} is a 两高 industry ({cls.sector_zh})"
    nature = Nature(nature)
    if nature in _REFUSED_NATURES:
        message = f"{where}: a {nature.value} there cannot enter the library."
        return ScreeningResult(
            True,
            False,
            True,
            [{"code": "two_high_project", "message": message, "sector": cls.sector}],
            [field_error(["body", "nature"], "two_high_project", message)],
        )
    if nature is Nature.retrofit:
        if "M3" not in categories:
            message = f"{where}: a retrofit there is accepted only under M3 (节能降碳改造)."
            return ScreeningResult(
                True,
                True,
                True,
                [{"code": "two_high_project", "message": message, "sector": cls.sector}],
                [field_error(["body", "categories"], "two_high_retrofit_not_m3", message)],
            )
        message = f"{where}: an M3 retrofit, flagged for reviewers."
        return ScreeningResult(
            True,
            True,
            False,
            [{"code": "two_high_retrofit", "message": message, "sector": cls.sector}],
        )
    message = f"{where}: a {nature.value} project, flagged for reviewers."
    return ScreeningResult(
        True,
        False,
        False,
        [{"code": "two_high_industry", "message": message, "sector": cls.sector}],
    )
