"""Places, for open data: a project's location inside its province's box, the list's bbox filter,
and GET /projects.geojson, through HTTP on both databases."""

import json
from typing import Any

import httpx
import pytest

from tests.conftest import Keys
from tests.factories import PROJECTS, create_project, in_library, project_payload

GEOJSON = "/api/v1/projects.geojson"
FUTIAN = {"lat": 22.5431, "lon": 114.0579}  # 福田区, 深圳
PANYU = {"lat": 22.9372, "lon": 113.3845}  # 番禺区, 广州
BEIJING = {"lat": 39.9042, "lon": 116.4074}
SHENZHEN_BOX = "113.7,22.4,114.7,22.9"


def _problem(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    body: dict[str, Any] = response.json()
    assert code in {body["code"], *(e["code"] for e in body.get("errors", []))}, body
    return body


class TestLocation:
    async def test_location_in_province_is_stored_and_shown(
        self, client: httpx.AsyncClient, keys: Keys
    ) -> None:
        futian = await keys.region("440304")
        created = await create_project(client, futian, location=FUTIAN)
        assert created["location"] == FUTIAN
        shown = (await client.get(f"{PROJECTS}/{created['id']}", headers=futian)).json()
        assert shown["location"] == FUTIAN
        plain = await create_project(client, futian)
        assert plain["location"] is None

    async def test_location_outside_province_is_refused_and_nothing_stored(
        self, client: httpx.AsyncClient, keys: Keys
    ) -> None:
        futian = await keys.region("440304")
        answer = await client.post(PROJECTS, json=project_payload(location=BEIJING), headers=futian)
        body = _problem(answer, 422, "location_outside_province")
        assert [e["loc"] for e in body["errors"]] == [["body", "location"]]
        listed = (await client.get(PROJECTS, headers=futian)).json()["items"]
        assert listed == []

    async def test_islands_and_sea_of_a_province_are_inside(
        self, client: httpx.AsyncClient, keys: Keys
    ) -> None:
        # 永兴岛, 三沙市 (西沙群岛), far south of Hainan island.
        sansha = await keys.region("460300")
        created = await create_project(
            client,
            sansha,
            region_code="460300",
            location={"lat": 16.8340, "lon": 112.3390},
        )
        assert created["location"] == {"lat": 16.834, "lon": 112.339}

    @pytest.mark.parametrize(
        "location",
        [
            {"lat": 95, "lon": 114},
            {"lat": 22.5, "lon": 181},
            {"lat": 22.5},
            {"lat": "north", "lon": 114},
            {"lat": 22.5, "lon": 114, "alt": 3},
        ],
    )
    async def test_malformed_location_is_a_422(
        self, client: httpx.AsyncClient, keys: Keys, location: dict[str, Any]
    ) -> None:
        futian = await keys.region("440304")
        answer = await client.post(
            PROJECTS, json=project_payload(location=location), headers=futian
        )
        assert answer.status_code == 422, answer.text

    async def test_patch_moving_the_point_out_of_the_province_is_refused(
        self, client: httpx.AsyncClient, keys: Keys
    ) -> None:
        futian = await keys.region("440304")
        created = await create_project(client, futian, location=FUTIAN)
        headers = {**futian, "If-Match": f'"{created["version"]}"'}
        url = f"{PROJECTS}/{created['id']}"
        refused = await client.patch(url, json={"location": BEIJING}, headers=headers)
        _problem(refused, 422, "location_outside_province")
        moved = await client.patch(url, json={"location": PANYU}, headers=headers)
        assert moved.status_code == 200, moved.text
        assert moved.json()["location"] == PANYU
        headers["If-Match"] = moved.headers["etag"]
        cleared = await client.patch(url, json={"location": None}, headers=headers)
        assert cleared.json()["location"] is None

    async def test_library_project_moves_its_point_without_a_revision(
        self, client: httpx.AsyncClient, keys: Keys
    ) -> None:
        futian = await keys.region("440304")
        project = await in_library(client, keys, futian)
        current = await client.get(f"{PROJECTS}/{project['id']}", headers=futian)
        answer = await client.patch(
            f"{PROJECTS}/{project['id']}",
            json={"location": FUTIAN, "name_en": "Futian rooftop solar"},
            headers={**futian, "If-Match": current.headers["etag"]},
        )
        assert answer.status_code == 200, answer.text
        assert answer.json()["location"] == FUTIAN
        assert answer.json()["name_en"] == "Futian rooftop solar"


@pytest.fixture
async def mapped(client: httpx.AsyncClient, keys: Keys) -> dict[str, dict[str, Any]]:
    """Library projects: two in Shenzhen (one adaptation), one in Guangzhou, one without a
    location; and a draft in Shenzhen that only its region sees."""
    futian = await keys.region("440304")
    guangzhou = await keys.region("440113")
    return {
        "solar": await in_library(client, keys, futian, location=FUTIAN),
        "flood": await in_library(
            client,
            keys,
            futian,
            name="Futian flood defences",
            objective="adaptation",
            categories=["A2"],
            industry_code="E4822",
            annual_emission_reduction_tco2e=None,
            adaptation_benefit="Protects 40,000 residents.",
            location={"lat": 22.53, "lon": 114.06},
        ),
        "panyu": await in_library(client, keys, guangzhou, region_code="440113", location=PANYU),
        "nowhere": await in_library(client, keys, futian),
        "draft": await create_project(client, futian, location={"lat": 22.55, "lon": 114.1}),
    }


class TestBBoxFilter:
    async def test_bbox_selects_the_points_inside(
        self, client: httpx.AsyncClient, mapped: dict[str, dict[str, Any]]
    ) -> None:
        answer = await client.get(PROJECTS, params={"bbox": SHENZHEN_BOX})
        assert answer.status_code == 200, answer.text
        ids = {p["id"] for p in answer.json()["items"]}
        assert ids == {mapped["solar"]["id"], mapped["flood"]["id"]}
        wide = await client.get(PROJECTS, params={"bbox": "113,22,115,23.5"})
        assert {p["id"] for p in wide.json()["items"]} == {
            mapped[n]["id"] for n in ("solar", "flood", "panyu")
        }
        combined = await client.get(
            PROJECTS, params={"bbox": SHENZHEN_BOX, "objective": "adaptation"}
        )
        assert [p["id"] for p in combined.json()["items"]] == [mapped["flood"]["id"]]

    async def test_edges_are_inside(
        self, client: httpx.AsyncClient, mapped: dict[str, dict[str, Any]]
    ) -> None:
        edge = f"{PANYU['lon']},{PANYU['lat']},{PANYU['lon']},{PANYU['lat']}"
        answer = await client.get(PROJECTS, params={"bbox": edge})
        assert [p["id"] for p in answer.json()["items"]] == [mapped["panyu"]["id"]]

    @pytest.mark.parametrize(
        "bbox",
        [
            "113,22,114",
            "113,22,114,23,5",
            "a,b,c,d",
            "113,,114,23",
            "nan,22,114,23",
            "inf,22,114,23",
            "114,22,113,23",
            "113,23,114,22",
            "-181,22,114,23",
            "113,-91,114,23",
            "",
        ],
    )
    async def test_malformed_bbox_is_a_400(self, client: httpx.AsyncClient, bbox: str) -> None:
        for url in (PROJECTS, GEOJSON, f"{PROJECTS}/export"):
            body = _problem(await client.get(url, params={"bbox": bbox}), 400, "invalid_bbox")
            assert body["code"] == "invalid_bbox"


def _collection(response: httpx.Response) -> dict[str, Any]:
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/geo+json"
    body: dict[str, Any] = json.loads(response.content)
    assert body["type"] == "FeatureCollection"
    for feature in body["features"]:
        assert set(feature) == {"type", "id", "geometry", "properties"}
        assert feature["type"] == "Feature"
        assert feature["geometry"]["type"] == "Point"
        lon, lat = feature["geometry"]["coordinates"]
        assert -180 <= lon <= 180 and -90 <= lat <= 90
        assert feature["properties"]["id"] == feature["id"]
    return body


class TestGeoJSON:
    async def test_public_map_shows_library_points_lon_lat_with_list_properties(
        self, client: httpx.AsyncClient, mapped: dict[str, dict[str, Any]]
    ) -> None:
        body = _collection(await client.get(GEOJSON))
        listed = {p["id"]: p for p in (await client.get(PROJECTS)).json()["items"]}
        assert {f["id"] for f in body["features"]} == {
            mapped[n]["id"] for n in ("solar", "flood", "panyu")
        }
        for feature in body["features"]:
            item = listed[feature["id"]]
            # RFC 7946: longitude first.
            assert feature["geometry"]["coordinates"] == [
                item["location"]["lon"],
                item["location"]["lat"],
            ]
            assert feature["properties"] == item
            assert feature["properties"]["contact"] is None
        assert body["next_cursor"] is None

    async def test_region_sees_its_draft_on_its_map(
        self, client: httpx.AsyncClient, keys: Keys, mapped: dict[str, dict[str, Any]]
    ) -> None:
        futian = await keys.region("440304")
        body = _collection(await client.get(GEOJSON, headers=futian))
        ids = {f["id"] for f in body["features"]}
        assert mapped["draft"]["id"] in ids
        draft = next(f for f in body["features"] if f["id"] == mapped["draft"]["id"])
        assert draft["properties"]["contact"]["name"] == "Li Ming"

    async def test_filters_bbox_and_pages(
        self, client: httpx.AsyncClient, mapped: dict[str, dict[str, Any]]
    ) -> None:
        adaptation = _collection(await client.get(GEOJSON, params={"objective": "adaptation"}))
        assert [f["id"] for f in adaptation["features"]] == [mapped["flood"]["id"]]
        boxed = _collection(await client.get(GEOJSON, params={"bbox": "113,22.8,114,23.2"}))
        assert [f["id"] for f in boxed["features"]] == [mapped["panyu"]["id"]]
        seen: list[str] = []
        cursor = None
        pages = 0
        while True:
            params: dict[str, Any] = {"limit": 1, "sort": "name"}
            if cursor:
                params["cursor"] = cursor
            page = _collection(await client.get(GEOJSON, params=params))
            pages += 1
            seen += [f["id"] for f in page["features"]]
            assert len(page["features"]) == 1 or page["next_cursor"] is None
            cursor = page["next_cursor"]
            if cursor is None:
                break
        assert sorted(seen) == sorted(mapped[n]["id"] for n in ("solar", "flood", "panyu"))
        assert len(seen) == len(set(seen))
        assert pages in (3, 4)

    async def test_unknown_parameter_is_refused(self, client: httpx.AsyncClient) -> None:
        _problem(await client.get(GEOJSON, params={"box": "1,2,3,4"}), 400, "unknown_parameter")


class TestRegionsCarryEnglishNamesAndBoxes:
    async def test_province_has_english_name_and_box(self, client: httpx.AsyncClient) -> None:
        guangdong = (await client.get("/api/v1/regions/440000")).json()
        assert guangdong["name_en"] == "Guangdong"
        west, south, east, north = guangdong["bbox"]
        assert west < FUTIAN["lon"] < east and south < FUTIAN["lat"] < north
        futian = (await client.get("/api/v1/regions/440304")).json()
        assert futian["name_en"] is None and futian["bbox"] is None
        provinces = (await client.get("/api/v1/regions", params={"limit": 200})).json()["items"]
        assert len(provinces) == 34
        assert all(p["name_en"] and len(p["bbox"]) == 4 for p in provinces)
