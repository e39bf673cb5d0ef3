"""The IATI mapping tables (app/services/iati.py) against a plain re-statement of them."""

from decimal import Decimal

from hypothesis import given
from hypothesis import strategies as st

from app.models.project import ConstructionStatus, ExitReason, Objective, ProjectStatus
from app.services import iati

STATUSES = st.sampled_from([ProjectStatus.in_library, ProjectStatus.exited])
REASONS = st.sampled_from([None, *ExitReason])
BUILDING = st.sampled_from(list(ConstructionStatus))


def expected_status(status: str, reason: str | None, construction: str) -> str:
    # Restated by hand: planning 1, under construction or operational 2, exited completed 4,
    # cancelled 5. (Approved is still planning; a financing-fulfilled exit goes on building;
    # a non-compliant or unexplained exit closes the library's record.)
    going = "2" if construction in ("under_construction", "operational") else "1"
    if status == "in_library" or reason == "financing_fulfilled":
        return going
    return "5" if reason == "cancelled" else "4"


@given(STATUSES, REASONS, BUILDING)
def test_activity_status(status: str, reason: str | None, construction: str) -> None:
    if status == "in_library":
        reason = None
    assert iati.activity_status(status, reason, construction) == expected_status(
        status, reason, construction
    )


def test_policy_markers_follow_the_objective() -> None:
    assert {o.value: iati.POLICY_MARKERS[o] for o in Objective} == {
        "mitigation": (("6", "2"),),
        "adaptation": (("7", "2"),),
        "both": (("6", "1"), ("7", "1")),
    }


@given(st.integers(min_value=1, max_value=21))
def test_sector_percentages_add_up_to_100(count: int) -> None:
    shares = iati.sector_percentages(count)
    assert len(shares) == count
    assert sum(shares) == Decimal(100)
    assert max(shares) - min(shares) <= Decimal("0.01") * count
    assert all(s == s.quantize(Decimal("0.01")) for s in shares)
