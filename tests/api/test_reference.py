"""Reference data: the taxonomy and GB/T 2260 regions, readable by anyone."""

from datetime import date

import httpx

from app.reference.regions import region_changes, region_table


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


class TestRegionChanges:
    async def test_abolished_code_names_the_day_and_its_successors(
        self, client: httpx.AsyncClient
    ) -> None:
        yubei = (await client.get("/api/v1/regions/500112")).json()
        assert yubei["is_current"] is False
        assert (yubei["valid_from"], yubei["valid_to"]) == (1997, 2025)
        assert yubei["abolished_on"] == "2025-11-06"
        assert yubei["established_on"] is None
        assert yubei["successors"] == [
            {"code": "500157", "name": "两江新区", "part": None},
            {"code": "500109", "name": "北碚区", "part": "大湾镇、统景镇、大盛镇、兴隆镇、茨竹镇"},
        ]
        liangjiang = (await client.get("/api/v1/regions/500157")).json()
        assert liangjiang["is_current"] is True
        assert liangjiang["established_on"] == "2025-11-06"
        assert liangjiang["abolished_on"] is None and liangjiang["successors"] == []

    async def test_codes_without_a_recorded_change_answer_as_before(
        self, client: httpx.AsyncClient
    ) -> None:
        futian = (await client.get("/api/v1/regions/440304")).json()
        assert futian["is_current"] is True
        assert (futian["established_on"], futian["abolished_on"], futian["successors"]) == (
            None,
            None,
            [],
        )
        listed = await client.get("/api/v1/regions", params={"q": "渝北", "include_retired": True})
        [item] = [r for r in listed.json()["items"] if r["code"] == "500112"]
        assert item["successors"][0]["code"] == "500157"

    def test_the_shipped_changes_cite_their_source_and_agree_with_the_code_table(self) -> None:
        changes = region_changes()
        assert "民政部" in changes["source"]
        table = region_table()
        for change in changes["changes"]:
            year = date.fromisoformat(change["date"]).year
            for old in change["abolished"]:
                region = table.by_code[old["code"]]
                assert (region.name, region.valid_to) == (old["name"], year)
                for successor in old["successors"]:
                    assert table.is_current(successor["code"])
            for new in change["established"]:
                region = table.by_code[new["code"]]
                assert (region.name, region.valid_from, region.is_current) == (
                    new["name"],
                    year,
                    True,
                )
