"""The provincial-level divisions' English names and bounding boxes (``provinces.json``, which
states where each figure comes from and the margin a check adds)."""

import json
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from typing import Any


@dataclass(frozen=True, slots=True)
class Box:
    """A box of WGS 84 degrees: west, south, east, north (GeoJSON's bbox order)."""

    min_lon: float
    min_lat: float
    max_lon: float
    max_lat: float

    def widened(self, margin: float) -> "Box":
        return Box(
            self.min_lon - margin,
            self.min_lat - margin,
            self.max_lon + margin,
            self.max_lat + margin,
        )

    def holds(self, lat: float, lon: float) -> bool:
        return self.min_lat <= lat <= self.max_lat and self.min_lon <= lon <= self.max_lon


@dataclass(frozen=True, slots=True)
class Province:
    code: str  # the two leading digits of GB/T 2260
    name_zh: str
    name_en: str
    box: Box  # as published, without the margin


@lru_cache(maxsize=1)
def province_data() -> dict[str, Any]:
    text = resources.files("app.reference").joinpath("provinces.json").read_text("utf-8")
    data: dict[str, Any] = json.loads(text)
    return data


@lru_cache(maxsize=1)
def provinces() -> dict[str, Province]:
    """The provinces by their two-digit code."""
    return {
        p["code"]: Province(p["code"], p["name_zh"], p["name_en"], Box(*p["bbox"]))
        for p in province_data()["provinces"]
    }


def margin() -> float:
    value: float = province_data()["margin_deg"]
    return value


def province_of(region_code: str) -> Province | None:
    """The province a GB/T 2260 code lies in."""
    return provinces().get(region_code[:2])


def checked_box(region_code: str) -> Box | None:
    """The box a location in ``region_code`` must fall in: its province's, with the margin."""
    province = province_of(region_code)
    return None if province is None else province.box.widened(margin())
