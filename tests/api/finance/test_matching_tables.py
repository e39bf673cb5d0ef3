"""The matcher's tables agree with the vocabulary they implement."""

from app.services.matching.criteria import DEFAULT_WEIGHTS
from app.services.matching.eligibility import CRITERIA
from app.services.matching.scoring import COMPONENTS


class TestTables:
    def test_components_are_the_weighted_ones_in_weight_order(self) -> None:
        assert [c.name for c in COMPONENTS] == list(DEFAULT_WEIGHTS)

    def test_criteria_are_named_once(self) -> None:
        names = [c.name for c in CRITERIA]
        assert len(names) == len(set(names)) == 12
