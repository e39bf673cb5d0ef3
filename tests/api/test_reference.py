"""Reference data: the taxonomy and GB/T 2260 regions, readable by anyone."""

import httpx


class TestTaxonomy:
    async def test_lists_the_thirteen_categories_in_both_languages(
        self, client: httpx.AsyncClient
    ) -> None:
        body = (await client.get("/api/v1/taxonomy")).json()
        assert body["version"]
        codes = [c["code"] for c in body["categories"]]
        assert codes == [
            "M1",
            "M2",
            "M3",
            "M4",
            "M5",
            "M6",
            "A1",
            "A2",
            "A3",
            "A4",
            "A5",
            "A6",
            "A7",
        ]
        m2 = body["categories"][1]
        assert m2["objective"] == "mitigation"
        assert m2["name_zh"] == "优化能源结构，发展非化石能源"
        assert m2["name_en"]
        assert {o["code"] for o in body["objectives"]} == {"mitigation", "adaptation", "both"}


class TestRegions:
    async def test_default_lists_current_provinces(self, client: httpx.AsyncClient) -> None:
        items = []
        cursor = None
        while True:
            params = {"limit": 10} | ({"cursor": cursor} if cursor else {})
            page = (await client.get("/api/v1/regions", params=params)).json()
            items += page["items"]
            if not (cursor := page["next_cursor"]):
                break
        assert {r["level"] for r in items} == {"province"}
        assert {"110000", "440000", "650000"} <= {r["code"] for r in items}
        assert len(items) == len({r["code"] for r in items})

    async def test_get_region_with_parent_and_children(self, client: httpx.AsyncClient) -> None:
        body = (await client.get("/api/v1/regions/440300")).json()
        assert body["name"] == "深圳市"
        assert body["level"] == "prefecture"
        assert body["parent"] == "440000"
        children = {c["code"]: c["name"] for c in body["children"]}
        assert children["440304"] == "福田区"

    async def test_search_by_name(self, client: httpx.AsyncClient) -> None:
        items = (await client.get("/api/v1/regions", params={"q": "福田"})).json()["items"]
        assert [(r["code"], r["name"]) for r in items] == [("440304", "福田区")]

    async def test_retired_codes_hidden_by_default_and_readable_on_request(
        self, client: httpx.AsyncClient
    ) -> None:
        children = (await client.get("/api/v1/regions", params={"parent": "500100"})).json()[
            "items"
        ]
        codes = {r["code"] for r in children}
        assert "500157" in codes
        assert "500105" not in codes
        retired = (await client.get("/api/v1/regions/500105")).json()
        assert retired["is_current"] is False
        assert retired["valid_to"] == 2025

    async def test_unknown_code_is_404(self, client: httpx.AsyncClient) -> None:
        response = await client.get("/api/v1/regions/999999")
        assert response.status_code == 404
        assert response.json()["code"] == "region_not_found"
