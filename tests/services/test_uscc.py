"""The owner code check's fast path (an already compact code) answers exactly as the full check
(stdnum's compaction first) does, for valid codes, near misses and codes that need compacting."""

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from stdnum.cn import uscc as stdnum_uscc
from stdnum.exceptions import InvalidChecksum, InvalidFormat, InvalidLength

from app.reference import uscc

CHARSET = "0123456789ABCDEFGHJKLMNPQRTUWXY"


def _full(number: str) -> str | type[Exception]:
    """The answer without the fast path: the compact code, or the error's class."""
    code = stdnum_uscc.compact(number)
    try:
        if code[:2].isdigit() and code[:2].isascii():
            return str(stdnum_uscc.validate(code))
        if len(code) != 18:
            raise InvalidLength()
        if not (
            uscc.ALPHABET.issuperset(code[:2] + code[8:]) and set(code[2:8]) <= set("0123456789")
        ):
            raise InvalidFormat()
        if code[-1] != stdnum_uscc.calc_check_digit(code[:17]):
            raise InvalidChecksum()
    except uscc.ValidationError as exc:
        return type(exc)
    return code


def _now(number: str) -> str | type[Exception]:
    try:
        return uscc.validate(number)
    except uscc.ValidationError as exc:
        return type(exc)


def _with_check(body: str) -> str:
    return body + stdnum_uscc.calc_check_digit(body)


codes = st.text(CHARSET, min_size=17, max_size=17).map(_with_check)


@settings(max_examples=400, deadline=None)
@given(codes)
def test_valid_codes_answer_alike(code: str) -> None:
    assert _now(code) == _full(code)


@settings(max_examples=400, deadline=None)
@given(codes, st.integers(0, 17), st.sampled_from(CHARSET + "aIOSVZ -１"))
def test_altered_codes_answer_alike(code: str, at: int, char: str) -> None:
    altered = code[:at] + char + code[at + 1 :]
    assert _now(altered) == _full(altered)


@pytest.mark.parametrize(
    "number",
    ["91110000600037341L", "91110000600037341l", " 9111-0000-6000-3734-1L ", "N2110000600037341L"],
)
def test_known_codes_answer_alike(number: str) -> None:
    assert _now(number) == _full(number)
