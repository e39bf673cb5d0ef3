"""Chinese and English labels of the service's codes: enumerations (``labels.json``), taxonomy
categories (``taxonomy.json``) and regions (GB/T 2260 names; English at the provincial level,
``provinces.json``). Each file states its source."""

import json
from functools import lru_cache
from importlib import resources
from typing import Literal

from app.reference.provinces import province_of
from app.reference.regions import region_table
from app.reference.taxonomy import taxonomy

Language = Literal["zh", "en"]


@lru_cache(maxsize=1)
def enumerations() -> dict[str, dict[str, tuple[str, str]]]:
    """Each enumeration's codes with their (Chinese, English) labels."""
    text = resources.files("app.reference").joinpath("labels.json").read_text("utf-8")
    data = json.loads(text)["enumerations"]
    return {
        name: {code: (zh, en) for code, (zh, en) in codes.items()} for name, codes in data.items()
    }


def enum_label(enumeration: str, code: str | None, language: Language) -> str | None:
    """The label of ``code`` in ``enumeration``; the code itself when none is known."""
    if code is None:
        return None
    labels = enumerations()[enumeration].get(code)
    if labels is None:
        return code
    return labels[0] if language == "zh" else labels[1]


@lru_cache(maxsize=1)
def _categories() -> dict[str, tuple[str, str]]:
    out: dict[str, tuple[str, str]] = {}
    for category in taxonomy()["categories"]:
        out[category["code"]] = (category["name_zh"], category["name_en"])
        for child in category.get("children", ()):
            out[child["code"]] = (child["name_zh"], child["name_en"])
    return out


def category_label(code: str, language: Language) -> str:
    labels = _categories().get(code)
    if labels is None:
        return code
    return labels[0] if language == "zh" else labels[1]


def region_label(code: str | None, language: Language) -> str | None:
    """A region's GB/T 2260 name; in English the province's English name follows it (names below
    the provincial level have no English source here)."""
    if code is None:
        return None
    region = region_table().get(code)
    name = region.name if region is not None else code
    if language == "zh":
        return name
    province = province_of(code)
    if province is None:
        return name
    if code.endswith("0000"):
        return province.name_en
    return f"{name}, {province.name_en}"
