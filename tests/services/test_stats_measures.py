"""The statistics' figures are one table: the answer declares exactly the measures, each with
the type of its unit, so a measure added for verified results or a fast path shows everywhere."""

from decimal import Decimal

from app.repositories.stats import MEASURES
from app.schemas.stats import Figures

_TYPE_OF_UNIT = {"count": int, "cny": Decimal, "tonnes": Decimal}


def test_the_answer_declares_every_measure_and_nothing_else() -> None:
    assert list(Figures.model_fields) == [m.name for m in MEASURES]


def test_each_measure_is_answered_in_its_unit() -> None:
    for measure in MEASURES:
        assert Figures.model_fields[measure.name].annotation is _TYPE_OF_UNIT[measure.unit]


def test_decimal_figures_are_strings_with_their_places() -> None:
    values = {m.name: 1 if m.unit == "count" else Decimal("0.3") for m in MEASURES}
    answer = Figures(**values).model_dump(mode="json")
    assert answer["total_investment"] == "0.30"
    assert answer["annual_emission_reduction_tco2e"] == "0.300"
    assert not any(isinstance(v, float) for v in answer.values())
