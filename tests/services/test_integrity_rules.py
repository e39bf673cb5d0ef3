"""The integrity rules against a plain re-statement of what app/services/integrity.py says."""

import math
import statistics

from hypothesis import given
from hypothesis import strategies as st

from app.demo.catalogue import TEMPLATES
from app.reference.category_industry import industry_fits
from app.reference.industries import DIVISIONS
from app.reference.taxonomy import taxonomy
from app.services.integrity import (
    DUPLICATE_SIMILARITY,
    CategoryStats,
    is_similar,
    similarity,
)

intensities = st.floats(min_value=1e-3, max_value=1e3, allow_nan=False, allow_infinity=False)


def _restated(values: list[float], x: float) -> bool | None:
    """Flagged by the words of the rule: |robust z| > 5 and at least 3 times off the median
    (None: too close to a threshold to compare floats computed two ways)."""
    logs = [math.log(v) for v in values]
    median = statistics.median(logs)
    mad = statistics.median(abs(v - median) for v in logs)
    deviation = math.log(x) - median
    if abs(abs(deviation) - math.log(3)) < 1e-9:
        return None
    if mad == 0:
        return deviation != 0 and abs(deviation) >= math.log(3)
    z = 0.6745 * deviation / mad
    if abs(abs(z) - 5) < 1e-9:
        return None
    return abs(z) > 5 and abs(deviation) >= math.log(3)


@given(st.lists(intensities, min_size=10, max_size=40), intensities)
def test_outlier_bounds_say_what_the_rule_says(values: list[float], x: float) -> None:
    logs = [math.log(v) for v in values]
    median = statistics.median(logs)
    mad = statistics.median(abs(v - median) for v in logs)
    stats = CategoryStats("M2", len(values), median, mad)
    expected = _restated(values, x)
    if expected is not None:
        assert (not stats.low <= x <= stats.high) == expected


names = st.text(alphabet="福田区屋顶分布式光伏项目发电二期 abc", max_size=20)


@given(names, names)
def test_the_quick_similarity_test_decides_as_the_ratio(a: str, b: str) -> None:
    assert is_similar(a, b) == (similarity(a, b) >= DUPLICATE_SIMILARITY)


def test_the_category_industry_table_covers_the_taxonomy_with_real_codes() -> None:
    first_level = {c["code"] for c in taxonomy()["categories"]}
    fits = industry_fits()
    assert set(fits) == first_level
    for fit in fits.values():
        assert fit.any_industry or fit.prefixes
        for prefix in fit.prefixes:
            assert prefix[0] in DIVISIONS, prefix
            if len(prefix) > 1:
                low, high = DIVISIONS[prefix[0]]
                assert low <= int(prefix[1:3]) <= high, prefix


def test_every_demo_kind_of_project_fits_its_industries() -> None:
    fits = industry_fits()
    for template in TEMPLATES:
        for industry in template.industries:
            assert any(fits[c.split(".")[0]].fits(industry) for c in template.categories), (
                template.name,
                industry,
            )
