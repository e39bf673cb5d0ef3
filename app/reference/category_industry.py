"""Which GB/T 4754 industries fit which taxonomy category: the data of the integrity flag
``category_industry_mismatch`` (``category_industry.json`` says what it is and is not)."""

import json
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from typing import Any


@dataclass(frozen=True, slots=True)
class IndustryFit:
    category: str
    any_industry: bool
    prefixes: tuple[str, ...]

    def fits(self, industry_code: str) -> bool:
        return self.any_industry or industry_code.startswith(self.prefixes)


@lru_cache(maxsize=1)
def category_industry_version() -> str:
    return str(_data()["version"])


@lru_cache(maxsize=1)
def _data() -> dict[str, Any]:
    text = resources.files("app.reference").joinpath("category_industry.json").read_text("utf-8")
    data: dict[str, Any] = json.loads(text)
    return data


@lru_cache(maxsize=1)
def industry_fits() -> dict[str, IndustryFit]:
    """First-level category code → the industries that fit it."""
    categories: dict[str, Any] = _data()["categories"]
    return {
        code: IndustryFit(code, bool(entry.get("any")), tuple(entry["industries"]))
        for code, entry in categories.items()
    }
