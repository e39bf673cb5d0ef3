"""The provincial boxes (app/reference/provinces.json) against places they must hold: every
provincial capital, and islands and coasts far from the capitals; and the location rule's margin.
The coordinates are approximate WGS 84 positions of well-known places."""

import pytest

from app.reference.provinces import checked_box, margin, provinces
from app.reference.regions import region_table

CAPITALS = {
    "11": (39.90, 116.40),  # 北京
    "12": (39.13, 117.20),  # 天津
    "13": (38.04, 114.51),  # 石家庄
    "14": (37.87, 112.55),  # 太原
    "15": (40.84, 111.75),  # 呼和浩特
    "21": (41.80, 123.43),  # 沈阳
    "22": (43.82, 125.32),  # 长春
    "23": (45.80, 126.53),  # 哈尔滨
    "31": (31.23, 121.47),  # 上海
    "32": (32.06, 118.80),  # 南京
    "33": (30.27, 120.16),  # 杭州
    "34": (31.82, 117.23),  # 合肥
    "35": (26.07, 119.30),  # 福州
    "36": (28.68, 115.86),  # 南昌
    "37": (36.65, 117.12),  # 济南
    "41": (34.75, 113.63),  # 郑州
    "42": (30.59, 114.31),  # 武汉
    "43": (28.23, 112.94),  # 长沙
    "44": (23.13, 113.26),  # 广州
    "45": (22.82, 108.37),  # 南宁
    "46": (20.04, 110.35),  # 海口
    "50": (29.56, 106.55),  # 重庆
    "51": (30.57, 104.07),  # 成都
    "52": (26.65, 106.63),  # 贵阳
    "53": (25.04, 102.71),  # 昆明
    "54": (29.65, 91.14),  # 拉萨
    "61": (34.34, 108.94),  # 西安
    "62": (36.06, 103.83),  # 兰州
    "63": (36.62, 101.78),  # 西宁
    "64": (38.49, 106.23),  # 银川
    "65": (43.83, 87.62),  # 乌鲁木齐
    "71": (25.03, 121.56),  # 台北
    "81": (22.32, 114.17),  # 香港
    "82": (22.20, 113.55),  # 澳门
}
FAR_PLACES = [
    ("460300", 16.83, 112.34),  # 永兴岛, 西沙群岛
    ("460300", 9.55, 112.89),  # 永暑礁, 南沙群岛
    ("330900", 30.19, 122.67),  # 嵊泗/东极 area, 舟山群岛
    ("370600", 38.37, 120.90),  # 长岛, 山东
    ("210200", 39.02, 122.73),  # 长山群岛, 辽宁
    ("350500", 24.45, 118.35),  # 金门 (GB/T 2260: 福建)
    ("650100", 49.15, 87.80),  # 新疆 north, 阿勒泰 area
    ("230000", 53.50, 122.35),  # 漠河, 黑龙江
    ("650000", 39.40, 73.60),  # 乌恰, the westmost
    ("230000", 48.35, 134.80),  # 抚远, the eastmost
]


def test_every_provincial_level_division_has_a_box_and_name() -> None:
    table = {p.code[:2] for p in region_table().provinces()}
    assert set(provinces()) == table == set(CAPITALS)
    for province in provinces().values():
        box = province.box
        assert -180 <= box.min_lon < box.max_lon <= 180
        assert -90 <= box.min_lat < box.max_lat <= 90
        assert province.name_en and province.name_zh


@pytest.mark.parametrize(("code", "where"), sorted(CAPITALS.items()))
def test_capital_is_inside_its_province(code: str, where: tuple[float, float]) -> None:
    lat, lon = where
    assert provinces()[code].box.holds(lat, lon)


@pytest.mark.parametrize(("region", "lat", "lon"), FAR_PLACES)
def test_islands_and_extremes_are_inside(region: str, lat: float, lon: float) -> None:
    box = checked_box(region)
    assert box is not None and box.holds(lat, lon)


def test_margin_widens_by_what_the_file_states() -> None:
    assert 0 < margin() <= 0.5
    box = provinces()["44"].box
    checked = checked_box("440304")
    assert checked is not None
    assert checked.min_lat == pytest.approx(box.min_lat - margin())
    assert not checked.holds(box.max_lat + margin() + 0.01, box.min_lon)
