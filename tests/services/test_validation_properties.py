"""Property-based tests (hypothesis) of the project validators and the 两高 screening."""

from datetime import date
from decimal import Decimal
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from stdnum.cn import uscc as stdnum_uscc

from app.auth import Principal
from app.models import Role
from app.reference.industries import DIVISIONS, industry_code_problem, two_high_classes
from app.schemas.project import MONEY_MAX, ProjectCreate
from app.services import validation
from app.services.screening import screen

CHARSET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
FUTIAN = Principal(role=Role.region, scope="440304", region_prefixes=("440304",))
MITIGATION = ["M1", "M2", "M3", "M4", "M5", "M6"]
ADAPTATION = ["A1", "A2", "A3", "A4", "A5", "A6", "A7"]
PROPERTY = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _check_char(body: str) -> str:
    total = sum(CHARSET.index(c) * pow(3, i, 31) for i, c in enumerate(body))
    return CHARSET[(31 - total % 31) % 31]


# GB 32100: authority and entity type from CHARSET (N2 …), the registration region in digits,
# the organisation code from CHARSET.
usccs = st.builds(
    lambda head, region, tail: head + region + tail + _check_char(head + region + tail),
    st.text(alphabet=CHARSET, min_size=2, max_size=2),
    st.text(alphabet="0123456789", min_size=6, max_size=6),
    st.text(alphabet=CHARSET, min_size=9, max_size=9),
)
money = st.decimals(min_value=0, max_value=MONEY_MAX, places=2, allow_nan=False)


def _project(**overrides: Any) -> ProjectCreate:
    body: dict[str, Any] = {
        "name": "P",
        "region_code": "440304",
        "owner": {"name": "O", "uscc": "9144030071526726XG"},
        "objective": "mitigation",
        "categories": ["M2"],
        "industry_code": "D4416",
        "nature": "new_build",
        "construction_status": "planning",
        "total_investment": "100.00",
        "financing_need": "50.00",
        "annual_emission_reduction_tco2e": 1.0,
    }
    body.update(overrides)
    return ProjectCreate.model_validate(body)


def _codes(data: ProjectCreate) -> set[str]:
    return {e.code for e in validation.check(data, FUTIAN)}


class TestUsccProperty:
    @PROPERTY
    @given(code=usccs)
    def test_checksum_valid_codes_pass(self, code: str) -> None:
        # stdnum decides alone wherever it reads the code at all (digits in positions 1–2).
        if code[:2].isdigit():
            assert stdnum_uscc.is_valid(code)
        assert "invalid_uscc" not in _codes(_project(owner={"name": "O", "uscc": code}))
        lower = code.lower()
        assert "invalid_uscc" not in _codes(_project(owner={"name": "O", "uscc": lower}))

    @PROPERTY
    @given(code=usccs, position=st.integers(0, 17), shift=st.integers(1, 30))
    def test_any_single_substitution_is_caught(self, code: str, position: int, shift: int) -> None:
        wrong = CHARSET[(CHARSET.index(code[position]) + shift) % 31]
        mutated = code[:position] + wrong + code[position + 1 :]
        assert "invalid_uscc" in _codes(_project(owner={"name": "O", "uscc": mutated}))


class TestIndustryCodeProperty:
    @PROPERTY
    @given(data=st.data())
    def test_codes_of_existing_divisions_pass(self, data: st.DataObject) -> None:
        section = data.draw(st.sampled_from(sorted(DIVISIONS)))
        low, high = DIVISIONS[section]
        division = data.draw(st.integers(low, high))
        rest = data.draw(st.integers(0, 99))
        assert industry_code_problem(f"{section}{division:02d}{rest:02d}") is None

    @PROPERTY
    @given(section=st.sampled_from(sorted(DIVISIONS)), division=st.integers(0, 99))
    def test_division_outside_its_section_is_unknown(self, section: str, division: int) -> None:
        low, high = DIVISIONS[section]
        problem = industry_code_problem(f"{section}{division:02d}00")
        assert (problem is None) == (low <= division <= high)

    @PROPERTY
    @given(text=st.text(max_size=5))
    def test_malformed_codes_are_refused_as_malformed(self, text: str) -> None:
        problem = industry_code_problem(text)
        well_formed = (
            len(text) == 5 and text[0] in DIVISIONS and all(c in "0123456789" for c in text[1:])
        )
        if not well_formed:
            assert problem is not None and problem.value == "malformed_industry_code"

    def test_divisions_number_97(self) -> None:
        assert sum(high - low + 1 for low, high in DIVISIONS.values()) == 97

    def test_two_high_classes_are_well_formed(self) -> None:
        assert all(industry_code_problem(code) is None for code in two_high_classes())


class TestAmountsAndDatesProperty:
    @PROPERTY
    @given(total=money, need=money, secured=money)
    def test_money_rules_hold_exactly(
        self, total: Decimal, need: Decimal, secured: Decimal
    ) -> None:
        codes = _codes(
            _project(
                total_investment=str(total),
                financing_need=str(need),
                financing_secured=str(secured),
            )
        )
        assert ("need_exceeds_investment" in codes) == (need > total)
        assert ("secured_exceeds_need" in codes) == (secured > need)

    @PROPERTY
    @given(start=st.dates(), end=st.dates())
    def test_end_not_before_start(self, start: date, end: date) -> None:
        codes = _codes(_project(start_date=start.isoformat(), end_date=end.isoformat()))
        assert ("end_before_start" in codes) == (end < start)


class TestObjectiveProperty:
    @PROPERTY
    @given(
        objective=st.sampled_from(["mitigation", "adaptation", "both"]),
        categories=st.lists(
            st.sampled_from(MITIGATION + ADAPTATION), min_size=1, max_size=5, unique=True
        ),
        reduction=st.one_of(st.none(), st.floats(0, 1e6)),
        sink=st.one_of(st.none(), st.floats(0, 1e6)),
        benefit=st.one_of(
            st.none(), st.text(st.characters(exclude_characters="\x00"), max_size=20)
        ),
    )
    def test_categories_and_benefits_agree_with_objective(
        self,
        objective: str,
        categories: list[str],
        reduction: float | None,
        sink: float | None,
        benefit: str | None,
    ) -> None:
        data = _project(
            objective=objective,
            categories=categories,
            annual_emission_reduction_tco2e=reduction,
            annual_carbon_sink_tco2e=sink,
            adaptation_benefit=benefit,
        )
        codes = _codes(data)
        has_m = any(c in MITIGATION for c in categories)
        has_a = any(c in ADAPTATION for c in categories)
        consistent = {
            "mitigation": not has_a,
            "adaptation": not has_m,
            "both": has_m and has_a,
        }[objective]
        assert ("category_objective_mismatch" in codes) == (not consistent)
        needs_m = objective in ("mitigation", "both")
        needs_a = objective in ("adaptation", "both")
        states_m = (reduction or 0) > 0 or (sink or 0) > 0
        states_a = bool(data.adaptation_benefit and data.adaptation_benefit.strip())
        assert ("missing_mitigation_benefit" in codes) == (needs_m and not states_m)
        assert ("missing_adaptation_benefit" in codes) == (needs_a and not states_a)


class TestScreeningProperty:
    @PROPERTY
    @given(
        industry=st.sampled_from([*sorted(two_high_classes()), "D4416", "A0220", "E4822"]),
        fuel=st.sampled_from(["coal", "gas", "oil", "biomass", "waste", "other"]),
        nature=st.sampled_from(["new_build", "expansion", "retrofit", "operation", "other"]),
        categories=st.lists(st.sampled_from(MITIGATION), min_size=1, max_size=3, unique=True),
        replacement=st.booleans(),
    )
    def test_outcome_exactly_when_the_rule_says(
        self, industry: str, fuel: str, nature: str, categories: list[str], replacement: bool
    ) -> None:
        result = screen(industry, nature, categories, fuel, replacement)
        # Only coal makes a thermal plant (4411/4412) 煤电.
        two_high = industry in two_high_classes() and (
            industry not in ("D4411", "D4412") or fuel == "coal"
        )
        transition_category = bool({"M3", "M4", "M5"} & set(categories))
        in_place = nature in ("retrofit", "operation", "other")
        if not two_high:
            expected = "not_two_high"
        elif transition_category and (in_place or replacement):
            expected = "two_high_transition"
        else:
            expected = "two_high_refused"
        assert result.outcome.value == expected
        assert result.is_two_high == two_high
        assert bool(result.errors) == (expected == "two_high_refused")
        assert (result.refusal() is not None) == (expected == "two_high_refused")
        assert result.reasons and result.rule.value.startswith("two_high.")
