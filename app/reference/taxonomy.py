"""The climate project taxonomy (支持范围) of the pilot work plan, section 二(二)."""

import json
from functools import lru_cache
from importlib import resources
from typing import Any


@lru_cache(maxsize=1)
def taxonomy() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(
        resources.files("app.reference").joinpath("taxonomy.json").read_text(encoding="utf-8")
    )
    return data


def category_codes() -> tuple[str, ...]:
    """The top-level category codes (M1…M6, A1…A7), in order: the one source of them."""
    return tuple(c["code"] for c in taxonomy()["categories"])


def category_objective() -> dict[str, str]:
    """Top-level category code → the objective it serves (M… mitigation, A… adaptation)."""
    return {c["code"]: c["objective"] for c in taxonomy()["categories"]}
