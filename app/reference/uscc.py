"""Unified social credit codes (统一社会信用代码, GB 32100-2015): python-stdnum's check, widened
to the letters the standard allows in positions 1–2.

Position 1 is the registration authority and position 2 the organisation category, both drawn
from the code's 31-character alphabet: ``N2…`` is a 村级 农村集体经济组织 registered by the
agriculture authorities, ``Y…`` an organisation of another authority, ``93…`` a 农民专业合作社.
``stdnum.cn.uscc.validate`` wants digits in positions 1–8 and refuses those lawful codes, while its
compaction and its check character already work on the whole alphabet. So a code with digits in
positions 1–2 is stdnum's alone; for the others only the format rule of positions 1–2 is ours,
and compaction and the check character stay stdnum's.
"""

from stdnum.cn import uscc
from stdnum.exceptions import InvalidChecksum, InvalidFormat, InvalidLength, ValidationError

# GB 32100-2015 §4: the digits and the capital letters without I, O, S, V and Z.
_ORDER = "0123456789ABCDEFGHJKLMNPQRTUWXY"
ALPHABET = frozenset(_ORDER)
_DIGITS = frozenset("0123456789")
_VALUE = {c: i for i, c in enumerate(_ORDER)}
# The standard's weights of positions 1–17: 3 ** i mod 31.
_WEIGHTS = tuple(pow(3, i, 31) for i in range(17))


def _compact_and_valid(number: str) -> bool:
    """Whether ``number`` is already compact and valid: the shape almost every code in a file
    has. An import checks thousands of owners a second, and stdnum's compaction (a Unicode
    look-alike map over every character, three times per code) was most of the check's cost."""
    if len(number) != 18 or not ALPHABET.issuperset(number):
        return False
    if not _DIGITS.issuperset(number[2:8]):
        return False
    total = sum(_VALUE[c] * w for c, w in zip(number, _WEIGHTS, strict=False))
    return _ORDER[(31 - total) % 31] == number[17]


__all__ = ["ALPHABET", "ValidationError", "is_valid", "validate"]


def validate(number: str) -> str:
    """The compact code (upper case, no spaces or dashes), or stdnum's ValidationError."""
    if _compact_and_valid(number):
        return number  # what the full check below returns for it (tests/services/test_uscc.py)
    code = uscc.compact(number)
    if _DIGITS.issuperset(code[:2]):
        return str(uscc.validate(code))
    if len(code) != 18:
        raise InvalidLength()
    if not (ALPHABET.issuperset(code[:2] + code[8:]) and _DIGITS.issuperset(code[2:8])):
        raise InvalidFormat()
    if code[-1] != uscc.calc_check_digit(code[:17]):
        raise InvalidChecksum()
    return code


def is_valid(number: str) -> bool:
    """Whether ``number`` is a lawful, checksum-valid code."""
    try:
        validate(number)
    except ValidationError:
        return False
    return True
