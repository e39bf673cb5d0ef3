"""The climate project taxonomy (支持范围) of the pilot work plan, section 二(二).

The first level (M1…M6, A1…A7) is the policy's; a second level (M2.1 …) refines a first-level
code and serves its parent's objective.
"""

import json
from collections.abc import Mapping
from functools import lru_cache
from importlib import resources
from typing import Any


@lru_cache(maxsize=1)
def taxonomy() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(
        resources.files("app.reference").joinpath("taxonomy.json").read_text(encoding="utf-8")
    )
    return data


def taxonomy_version() -> str:
    """The version of the shipped taxonomy: what a project is classified under today."""
    version: str = taxonomy()["version"]
    return version


def category_codes() -> tuple[str, ...]:
    """The top-level category codes (M1…M6, A1…A7), in order."""
    return tuple(c["code"] for c in taxonomy()["categories"])


def category_parents() -> dict[str, str]:
    """Second-level code → its first-level parent (M2.1 → M2), in the file's order."""
    return dict(_parents())


@lru_cache(maxsize=1)
def _parents() -> dict[str, str]:
    # Kept, not rebuilt: every project validated asks twice (an import, 2,000 times a second).
    # Read only; category_parents hands out copies.
    return {
        child["code"]: c["code"]
        for c in taxonomy()["categories"]
        for child in c.get("children", ())
    }


def mask_order() -> tuple[str, ...]:
    """Every code a project may carry, in the order of the stored bit mask (app/models/flags.py).

    The file lists the order explicitly and only ever appends to it, so that a stored mask keeps
    its meaning whatever codes either level gains.
    """
    order = tuple(taxonomy()["mask_order"])
    codes = {*category_codes(), *category_parents()}
    if set(order) != codes or len(order) != len(codes):
        raise ValueError("taxonomy.json: mask_order must list every category code once")
    return order


@lru_cache(maxsize=1)
def category_objective() -> Mapping[str, str]:
    """Category code (either level) → the objective it serves (M… mitigation, A… adaptation).
    Kept (read only): every project validated asks."""
    top = {c["code"]: c["objective"] for c in taxonomy()["categories"]}
    return {**top, **{child: top[parent] for child, parent in _parents().items()}}


def redundant_categories(codes: list[str]) -> list[tuple[int, str, str]]:
    """(position, code, parent) of each second-level code listed next to its own parent."""
    parents = _parents()
    listed = set(codes)
    return [
        (i, code, parents[code])
        for i, code in enumerate(codes)
        if code in parents and parents[code] in listed
    ]
