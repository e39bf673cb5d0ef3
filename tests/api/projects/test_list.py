"""GET /projects: filters, sort, and cursor pages that never skip or repeat a row."""

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from tests.conftest import Keys
from tests.factories import PROJECTS as BASE
from tests.factories import create_project as create
from tests.factories import in_library


def _ids(response: httpx.Response) -> list[str]:
    assert response.status_code == 200, response.text
    return [p["id"] for p in response.json()["items"]]


@pytest.fixture
async def catalogue(client: httpx.AsyncClient, keys: Keys) -> dict[str, dict[str, Any]]:
    """A handful of distinct library projects, by nickname."""
    futian = await keys.region("440304")
    hangzhou = await keys.region("330100")
    return {
        "solar": await in_library(client, keys, futian),
        "flood": await in_library(
            client,
            keys,
            futian,
            name="Futian flood defences",
            summary="Sponge-city drainage.",
            objective="adaptation",
            categories=["A2", "A6"],
            industry_code="E4822",
            construction_status="under_construction",
            financing_types=["bond"],
            annual_emission_reduction_tco2e=None,
            adaptation_benefit="Protects 40,000 residents from 50-year floods.",
            total_investment="90000000.00",
            financing_need="60000000.00",
        ),
        "cement": await in_library(
            client,
            keys,
            hangzhou,
            region_code="330102",
            name="Kiln waste-heat retrofit",
            summary="Waste heat recovery at a cement plant.",
            categories=["M3"],
            industry_code="C3011",
            nature="retrofit",
            financing_types=["loan", "carbon_pledge"],
            total_investment="8000000.00",
            financing_need="8000000.00",
        ),
    }


class TestListFilters:
    @pytest.mark.parametrize(
        ("params", "expected"),
        [
            ({}, {"solar", "flood", "cement"}),
            ({"objective": "adaptation"}, {"flood"}),
            ({"objective": ["adaptation", "mitigation"]}, {"solar", "flood", "cement"}),
            ({"category": "M3"}, {"cement"}),
            ({"category": ["M2", "A6"]}, {"solar", "flood"}),
            ({"region_code": "44"}, {"solar", "flood"}),
            ({"region_code": "3301"}, {"cement"}),
            ({"industry_code": "C"}, {"cement"}),
            ({"industry_code": "D4416"}, {"solar"}),
            ({"construction_status": "under_construction"}, {"flood"}),
            ({"financing_type": "carbon_pledge"}, {"cement"}),
            ({"financing_type": ["bond", "leasing"]}, {"solar", "flood"}),
            ({"need_min": "10000000"}, {"solar", "flood"}),
            ({"need_max": "12500000.00"}, {"solar", "cement"}),
            ({"need_min": "12500000", "need_max": "12500000"}, {"solar"}),
            ({"two_high": "true"}, {"cement"}),
            ({"two_high": "false"}, {"solar", "flood"}),
            ({"two_high_retrofit": "true"}, {"cement"}),
            ({"two_high_retrofit": "false"}, {"solar", "flood"}),
            ({"two_high_outcome": "two_high_transition"}, {"cement"}),
            ({"two_high_outcome": ["not_two_high", "two_high_refused"]}, {"solar", "flood"}),
            ({"q": "kiln"}, {"cement"}),
            ({"q": "DRAINAGE"}, {"flood"}),
            ({"q": "100%"}, set()),
            ({"status": "in_library"}, {"solar", "flood", "cement"}),
            ({"status": "draft"}, set()),
        ],
    )
    async def test_filter(
        self,
        client: httpx.AsyncClient,
        catalogue: dict[str, dict[str, Any]],
        params: dict[str, Any],
        expected: set[str],
    ) -> None:
        by_id = {p["id"]: name for name, p in catalogue.items()}
        response = await client.get(BASE, params=params)
        assert {by_id[i] for i in _ids(response)} == expected

    async def test_updated_since(
        self, client: httpx.AsyncClient, keys: Keys, catalogue: dict[str, dict[str, Any]]
    ) -> None:
        later = datetime.fromisoformat(catalogue["cement"]["updated_at"])
        response = await client.get(BASE, params={"updated_since": later.isoformat()})
        assert _ids(response) == [catalogue["cement"]["id"]]
        future = (datetime.now(UTC) + timedelta(days=1)).isoformat()
        assert _ids(await client.get(BASE, params={"updated_since": future})) == []

    async def test_listed_item_is_the_same_document_as_get(
        self, client: httpx.AsyncClient, keys: Keys, catalogue: dict[str, dict[str, Any]]
    ) -> None:
        for headers in ({}, await keys.admin()):
            items = (await client.get(BASE, headers=headers)).json()["items"]
            for item in items:
                single = await client.get(f"{BASE}/{item['id']}", headers=headers)
                assert single.json() == item

    async def test_status_filter_stays_within_visibility(
        self, client: httpx.AsyncClient, keys: Keys
    ) -> None:
        region = await keys.region("440304")
        draft = await create(client, region)
        assert _ids(await client.get(BASE, params={"status": "draft"})) == []
        assert _ids(await client.get(BASE, params={"status": "draft"}, headers=region)) == [
            draft["id"]
        ]

    @pytest.mark.parametrize(
        "params",
        [
            {"limit": 201},
            {"limit": 0},
            {"status": "nope"},
            {"category": "M9"},
            {"region_code": "44a"},
            {"industry_code": "Z1"},
            {"need_min": "-1"},
            {"sort": "owner"},
            {"two_high": "maybe"},
        ],
    )
    async def test_bad_query_is_422(
        self, client: httpx.AsyncClient, params: dict[str, Any]
    ) -> None:
        response = await client.get(BASE, params=params)
        assert response.status_code == 422
        assert response.headers["content-type"] == "application/problem+json"

    async def test_bad_cursor_is_400(self, client: httpx.AsyncClient) -> None:
        response = await client.get(BASE, params={"cursor": "garbage"})
        assert response.status_code == 400
        assert response.json()["code"] == "invalid_cursor"


class TestListSortAndCursor:
    @pytest.mark.parametrize(
        ("sort", "key", "reverse"),
        [
            ("financing_need", "financing_need", False),
            ("-financing_need", "financing_need", True),
            ("name", "name", False),
            ("-created_at", "created_at", True),
            ("updated_at", "updated_at", False),
        ],
    )
    async def test_sorts(
        self,
        client: httpx.AsyncClient,
        catalogue: dict[str, dict[str, Any]],
        sort: str,
        key: str,
        reverse: bool,
    ) -> None:
        items = (await client.get(BASE, params={"sort": sort})).json()["items"]
        convert: Any = float if key == "financing_need" else str
        values = [convert(p[key]) for p in items]
        assert values == sorted(values, reverse=reverse)
        assert len(items) == 3

    @pytest.mark.parametrize(
        "sort",
        [
            "created_at",
            "-created_at",
            "updated_at",
            "-updated_at",
            "financing_need",
            "-financing_need",
            "name",
            "-name",
        ],
    )
    async def test_one_row_pages_follow_the_full_order(
        self, client: httpx.AsyncClient, keys: Keys, sort: str
    ) -> None:
        region = await keys.region("440304")
        for i, need in enumerate(["5.00", "12.50", "5.00", "100.00", "12.50"]):
            await create(client, region, name=f"P{i % 3}", financing_need=need)
        full = _ids(await client.get(BASE, params={"sort": sort}, headers=region))
        paged: list[str] = []
        cursor = None
        while True:
            params: dict[str, Any] = {"sort": sort, "limit": 1}
            if cursor:
                params["cursor"] = cursor
            page = (await client.get(BASE, params=params, headers=region)).json()
            paged.extend(p["id"] for p in page["items"])
            cursor = page["next_cursor"]
            if not cursor:
                break
        assert paged == full and len(full) == 5

    async def test_cursor_of_another_sort_is_refused(
        self, client: httpx.AsyncClient, catalogue: dict[str, dict[str, Any]]
    ) -> None:
        page = (await client.get(BASE, params={"limit": 1})).json()
        response = await client.get(
            BASE, params={"limit": 1, "cursor": page["next_cursor"], "sort": "name"}
        )
        assert response.status_code == 400

    async def test_pages_cover_every_row_once_while_others_write(
        self, client: httpx.AsyncClient, keys: Keys
    ) -> None:
        region = await keys.region("440304")
        existing = [await create(client, region, name=f"P{i:02d}") for i in range(25)]
        expected = {p["id"] for p in existing}
        seen: list[str] = []
        cursor: str | None = None
        writes = 0
        while True:
            params: dict[str, Any] = {"limit": 4}
            if cursor:
                params["cursor"] = cursor
            page, _ = await asyncio.gather(
                client.get(BASE, params=params, headers=region),
                create(client, region, name=f"new {writes}"),
            )
            writes += 1
            # Edits of rows already served or still to come must not move them between pages.
            victim = existing[writes % len(existing)]
            current = (await client.get(f"{BASE}/{victim['id']}", headers=region)).json()
            await client.patch(
                f"{BASE}/{victim['id']}",
                json={"summary": f"edited {writes}"},
                headers={**region, "If-Match": f'"{current["version"]}"'},
            )
            body = page.json()
            seen.extend(p["id"] for p in body["items"])
            cursor = body["next_cursor"]
            if cursor is None:
                break
        assert len(seen) == len(set(seen)), "a row was served twice"
        assert expected <= set(seen), "a row was skipped"

    async def test_last_page_has_null_cursor_and_limit_is_kept(
        self, client: httpx.AsyncClient, keys: Keys
    ) -> None:
        region = await keys.region("440304")
        for i in range(5):
            await create(client, region, name=f"P{i}")
        first = (await client.get(BASE, params={"limit": 3}, headers=region)).json()
        assert len(first["items"]) == 3 and first["next_cursor"]
        second = (
            await client.get(
                BASE, params={"limit": 3, "cursor": first["next_cursor"]}, headers=region
            )
        ).json()
        assert len(second["items"]) == 2 and second["next_cursor"] is None
        exact = (await client.get(BASE, params={"limit": 5}, headers=region)).json()
        assert exact["next_cursor"] is None
