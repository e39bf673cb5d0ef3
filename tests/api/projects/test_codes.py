"""The category and financing type codes have one source each, and every place that names them
agrees with it, in the same order (a mask's bit i is the i-th code)."""

from typing import get_args

import httpx

from app.models.flags import CATEGORIES, FINANCING_TYPES
from app.schemas.product import CategoryCode
from app.schemas.project import Category, FinancingType


class TestCategoryCodes:
    async def test_enum_flags_product_criteria_and_taxonomy_list_the_same_codes(
        self, client: httpx.AsyncClient
    ) -> None:
        taxonomy = (await client.get("/api/v1/taxonomy")).json()
        first = tuple(c["code"] for c in taxonomy["categories"])
        second = tuple(child["code"] for c in taxonomy["categories"] for child in c["children"])
        assert len(first) == 13
        # whatever /taxonomy serves, of either level, a project and a product accept
        served = set(first) | set(second)
        assert set(CATEGORIES.codes) == served
        # the mask's order: the first level as it always was, the second level appended
        assert CATEGORIES.codes[:13] == first
        assert tuple(c.value for c in Category) == CATEGORIES.codes
        assert get_args(CategoryCode) == CATEGORIES.codes

    async def test_the_openapi_document_lists_them_in_the_same_order(
        self, client: httpx.AsyncClient
    ) -> None:
        schemas = (await client.get("/openapi.json")).json()["components"]["schemas"]
        assert schemas["Category"]["enum"] == list(CATEGORIES.codes)
        criteria = schemas["ProductCreate"]["properties"]["categories"]["anyOf"][0]["items"]
        assert criteria["enum"] == list(CATEGORIES.codes)


class TestFinancingTypeCodes:
    def test_enum_and_flags_list_the_same_codes(self) -> None:
        assert tuple(t.value for t in FinancingType) == FINANCING_TYPES.codes
        assert len(FINANCING_TYPES.codes) == 8
