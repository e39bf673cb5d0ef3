"""External classification schemes a project may be filed under besides the taxonomy.

Each scheme is shipped as data with its source (``gfc-2025``: 《绿色金融支持项目目录（2025年版）》,
in ``gfc_2025.json``), with the levels shipped said in the file, and a suggested crosswalk from
the taxonomy's codes to its entries (``crosswalk_gfc_2025.json``). A scheme's codes nest by dots:
``4.1`` falls under ``4``.
"""

import json
from collections.abc import Iterable
from functools import cache
from importlib import resources
from typing import Any

from app.reference.taxonomy import category_parents

GFC_2025 = "gfc-2025"
_FILES = {GFC_2025: ("gfc_2025.json", "crosswalk_gfc_2025.json")}


def _read(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(
        resources.files("app.reference").joinpath(name).read_text(encoding="utf-8")
    )
    return data


@cache
def schemes() -> dict[str, dict[str, Any]]:
    """Scheme id → the scheme's shipped document (source, levels, entries), in a stable order."""
    return {scheme: _read(catalogue) for scheme, (catalogue, _) in _FILES.items()}


@cache
def scheme_codes(scheme: str) -> frozenset[str]:
    return frozenset(entry["code"] for entry in schemes()[scheme]["entries"])


@cache
def crosswalk(scheme: str) -> dict[str, Any]:
    """The suggested mapping from taxonomy codes to the scheme's entries, with its note."""
    return _read(_FILES[scheme][1])


def suggested(scheme: str, category: str) -> list[str]:
    """The scheme's entries suggested for a taxonomy code (a second-level code not listed takes
    its parent's suggestion)."""
    mappings: dict[str, list[str]] = crosswalk(scheme)["mappings"]
    if category in mappings:
        return mappings[category]
    return mappings.get(category_parents().get(category, ""), [])


def ancestors(code: str) -> list[str]:
    """The code and every code it falls under: ``4.1.2`` → ``4.1.2``, ``4.1``, ``4``."""
    parts = code.split(".")
    return [".".join(parts[:n]) for n in range(len(parts), 0, -1)]


def falls_under(code: str, listed: Iterable[str]) -> bool:
    """Whether ``code`` equals or falls under one of ``listed``."""
    wanted = set(listed)
    return any(a in wanted for a in ancestors(code))
