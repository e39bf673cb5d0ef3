"""GB/T 4754-2017 (国民经济行业分类) class codes and the 两高 industry list.

A class code is a section letter and four digits (``C3110``); the first two digits are the
division, and each section owns a fixed range of divisions (20 sections, 97 divisions).
"""

import json
import re
from dataclasses import dataclass
from enum import StrEnum
from functools import lru_cache
from importlib import resources
from typing import Any

DIVISIONS: dict[str, tuple[int, int]] = {
    "A": (1, 5),
    "B": (6, 12),
    "C": (13, 43),
    "D": (44, 46),
    "E": (47, 50),
    "F": (51, 52),
    "G": (53, 60),
    "H": (61, 62),
    "I": (63, 65),
    "J": (66, 69),
    "K": (70, 70),
    "L": (71, 72),
    "M": (73, 75),
    "N": (76, 79),
    "O": (80, 82),
    "P": (83, 83),
    "Q": (84, 85),
    "R": (86, 90),
    "S": (91, 96),
    "T": (97, 97),
}

_CLASS = re.compile(r"[A-T]\d{4}")


class IndustryCodeProblem(StrEnum):
    malformed = "malformed_industry_code"
    unknown_division = "unknown_industry_division"


def industry_code_problem(code: str) -> IndustryCodeProblem | None:
    """Why a GB/T 4754-2017 class code is not acceptable, or None when it is."""
    if not _CLASS.fullmatch(code):
        return IndustryCodeProblem.malformed
    low, high = DIVISIONS[code[0]]
    if not low <= int(code[1:3]) <= high:
        return IndustryCodeProblem.unknown_division
    return None


@dataclass(frozen=True, slots=True)
class TwoHighClass:
    code: str
    name_zh: str
    sector: str
    sector_zh: str
    fuels: tuple[str, ...] | None = None
    """The fuels under which the class counts as 两高 (None: whatever the fuel)."""


@lru_cache(maxsize=1)
def two_high_data() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(
        resources.files("app.reference").joinpath("two_high.json").read_text(encoding="utf-8")
    )
    return data


@lru_cache(maxsize=1)
def two_high_classes() -> dict[str, TwoHighClass]:
    """GB/T 4754-2017 class code → the 两高 sector it belongs to."""
    out = {}
    for sector in two_high_data()["sectors"]:
        for cls in sector["classes"]:
            fuels = sector.get("fuels")
            out[cls["code"]] = TwoHighClass(
                cls["code"],
                cls["name_zh"],
                sector["code"],
                sector["name_zh"],
                tuple(fuels) if fuels is not None else None,
            )
    return out
