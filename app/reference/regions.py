"""GB/T 2260 administrative division codes, read from python-stdnum's ``cn/loc`` table.

python-stdnum keeps the table current with each year's changes and marks every name with the
years it was valid (``[1997-2025]江北区``); a code without an end year is current. What the table
does not say — the day of a change and which codes took over an abolished code's area — comes
from ``region_changes.json`` (民政部's 行政区划变更情况, cited in the file); the validity years
stay the table's alone, and a test keeps the two in agreement.
"""

import json
import re
from dataclasses import dataclass
from datetime import date
from enum import StrEnum
from functools import lru_cache
from importlib import resources
from typing import Any

_VALIDITY = re.compile(r"^\[(?P<start>\d{4})?-(?P<end>\d{4})?\](?P<name>.*)$")


class RegionLevel(StrEnum):
    province = "province"
    prefecture = "prefecture"
    county = "county"


@dataclass(frozen=True, slots=True)
class Region:
    code: str
    name: str
    level: RegionLevel
    parent: str | None
    valid_from: int | None
    valid_to: int | None

    @property
    def is_current(self) -> bool:
        return self.valid_to is None


@dataclass(frozen=True, slots=True)
class Successor:
    """A code that took over an abolished code's area; ``part`` when it took only that part."""

    code: str
    part: str | None = None


@dataclass(frozen=True, slots=True)
class Abolition:
    code: str
    on: date
    successors: tuple[Successor, ...]


@dataclass(frozen=True)
class RegionTable:
    by_code: dict[str, Region]
    children: dict[str, tuple[str, ...]]
    abolished: dict[str, Abolition]
    established: dict[str, date]

    def get(self, code: str) -> Region | None:
        return self.by_code.get(code)

    def is_current(self, code: str) -> bool:
        region = self.by_code.get(code)
        return region is not None and region.is_current

    def provinces(self) -> list[Region]:
        return [r for r in self.by_code.values() if r.level is RegionLevel.province]


def _level(code: str) -> RegionLevel:
    if code.endswith("0000"):
        return RegionLevel.province
    if code.endswith("00"):
        return RegionLevel.prefecture
    return RegionLevel.county


def _entry(text: str) -> tuple[str, int | None, int | None]:
    match = _VALIDITY.match(text)
    if match is None:
        return text, None, None
    start = int(match["start"]) if match["start"] else None
    end = int(match["end"]) if match["end"] else None
    return match["name"], start, end


def _parse(text: str) -> dict[str, Region]:
    raw: dict[str, tuple[str, int | None, int | None]] = {}
    province = ""
    for line in text.splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        key, _, rest = line.strip().partition(" ")
        name = rest.split("=", 1)[1].strip().strip('"')
        if not line.startswith(" "):
            province = key
            continue
        # A code reused over time lists each name with its years: "[1983-1989]甲,[1990-]乙".
        # The last entry is the latest; the earliest start year is when the code appeared.
        entries = [_entry(part) for part in re.split(r",(?=\[)", name)]
        first_start = entries[0][1]
        latest_name, _, latest_end = entries[-1]
        raw[province + key] = (latest_name, first_start, latest_end)
    regions = {}
    for code, (name, start, end) in raw.items():
        level = _level(code)
        parent = None
        if level is RegionLevel.prefecture:
            parent = code[:2] + "0000"
        elif level is RegionLevel.county:
            prefecture = code[:4] + "00"
            parent = prefecture if prefecture in raw else code[:2] + "0000"
        regions[code] = Region(code, name, level, parent, start, end)
    return regions


@lru_cache(maxsize=1)
def region_changes() -> dict[str, Any]:
    """The shipped record of changes (民政部 行政区划变更情况), as the file holds it."""
    text = resources.files("app.reference").joinpath("region_changes.json").read_text("utf-8")
    data: dict[str, Any] = json.loads(text)
    return data


def _changes() -> tuple[dict[str, Abolition], dict[str, date]]:
    abolished: dict[str, Abolition] = {}
    established: dict[str, date] = {}
    for change in region_changes()["changes"]:
        on = date.fromisoformat(change["date"])
        for old in change["abolished"]:
            successors = tuple(Successor(s["code"], s.get("part")) for s in old["successors"])
            abolished[old["code"]] = Abolition(old["code"], on, successors)
        for new in change["established"]:
            established[new["code"]] = on
    return abolished, established


@lru_cache(maxsize=1)
def region_table() -> RegionTable:
    text = resources.files("stdnum.cn").joinpath("loc.dat").read_text(encoding="utf-8")
    by_code = _parse(text)
    children: dict[str, list[str]] = {}
    for region in by_code.values():
        if region.parent is not None:
            children.setdefault(region.parent, []).append(region.code)
    abolished, established = _changes()
    return RegionTable(
        by_code, {k: tuple(sorted(v)) for k, v in children.items()}, abolished, established
    )
