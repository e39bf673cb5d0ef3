"""Money and rates in requests: decimal strings of the declared pattern, never JSON numbers.

The document declares every decimal a request carries as a string with a pattern (app/openapi.py,
``DecimalText`` in app/schemas/common.py), so generated clients keep money exact. The server holds
to the same line: a JSON number is 422 ``decimal_not_string``, a string of another form
(``"1e3"``, ``".5"``, ``"1.500"``, digits beyond ASCII) is 422 ``invalid_decimal``, and nothing is
stored. The field's own limits keep their own codes (``decimal_max_places``, ``greater_than``).
"""

import re
import uuid
from typing import Any

import httpx
import pytest

from tests.conftest import Keys
from tests.factories import PROJECTS, institution_headers, product, project_payload


def _codes(response: httpx.Response) -> dict[str, list[str | int]]:
    return {e["code"]: e["loc"] for e in response.json()["errors"]}


async def _count(client: httpx.AsyncClient, headers: dict[str, str]) -> int:
    listed = await client.get(PROJECTS, params={"limit": 200}, headers=headers)
    assert listed.status_code == 200, listed.text
    return len(listed.json()["items"])


class TestProjectMoney:
    @pytest.mark.parametrize(
        ("value", "code"),
        [
            (12500000, "decimal_not_string"),
            (12500000.5, "decimal_not_string"),
            ("1e7", "invalid_decimal"),
            (".5", "invalid_decimal"),
            ("5.", "invalid_decimal"),
            ("12500000.500", "invalid_decimal"),
            ("١٢٣", "invalid_decimal"),
            ("12500000.555", "decimal_max_places"),
            ("-1", "greater_than_equal"),
        ],
    )
    async def test_money_not_written_as_declared_is_refused_and_not_stored(
        self, client: httpx.AsyncClient, keys: Keys, value: Any, code: str
    ) -> None:
        region = await keys.region("440304")
        response = await client.post(
            PROJECTS, json=project_payload(financing_need=value), headers=region
        )
        assert response.status_code == 422, response.text
        assert response.headers["content-type"] == "application/problem+json"
        assert _codes(response) == {code: ["body", "financing_need"]}
        assert await _count(client, region) == 0

    async def test_each_declared_form_is_taken(self, client: httpx.AsyncClient, keys: Keys) -> None:
        spec = (await client.get("/openapi.json")).json()
        pattern = spec["components"]["schemas"]["ProjectCreate"]["properties"]["financing_need"][
            "pattern"
        ]
        region = await keys.region("440304")
        for value in ("12500000", "12500000.5", "012500000.50"):
            assert re.search(pattern, value)
            response = await client.post(
                PROJECTS,
                json=project_payload(financing_need=value, external_ref=None),
                headers=region,
            )
            assert response.status_code == 201, response.text
            assert response.json()["financing_need"] in ("12500000.00", "12500000.50")

    async def test_number_in_a_list_filter_is_read_as_text(
        self, client: httpx.AsyncClient, keys: Keys
    ) -> None:
        region = await keys.region("440304")
        refused = await client.get(PROJECTS, params={"need_min": "1e3"}, headers=region)
        assert refused.status_code == 422
        assert _codes(refused) == {"invalid_decimal": ["query", "need_min"]}
        taken = await client.get(PROJECTS, params={"need_min": "1000.5"}, headers=region)
        assert taken.status_code == 200


class TestProductAndOfferMoney:
    async def test_product_rate_as_number_is_refused(
        self, client: httpx.AsyncClient, keys: Keys
    ) -> None:
        bank = await institution_headers(client, keys)
        response = await client.post(
            "/api/v1/products",
            json={"name": "绿色贷", "type": "green_loan", "rate_min": 3.2},
            headers=bank,
        )
        assert response.status_code == 422
        assert _codes(response) == {"decimal_not_string": ["body", "rate_min"]}
        made = await product(client, bank, rate_min="3.2", amount_min="1000000")
        assert (made["rate_min"], made["amount_min"]) == ("3.200", "1000000.00")
        patched = await client.patch(
            f"/api/v1/products/{made['id']}", json={"amount_max": 5e7}, headers=bank
        )
        assert patched.status_code == 422
        assert _codes(patched) == {"decimal_not_string": ["body", "amount_max"]}

    async def test_offer_amount_as_number_is_refused(
        self, client: httpx.AsyncClient, keys: Keys
    ) -> None:
        bank = await institution_headers(client, keys)
        body = {
            "project_id": str(uuid.uuid4()),
            "product_id": str(uuid.uuid4()),
            "amount": 5000000,
            "annual_rate": "0",
            "tenor_months": 36,
        }
        response = await client.post("/api/v1/engagements", json=body, headers=bank)
        assert response.status_code == 422
        assert _codes(response) == {
            "decimal_not_string": ["body", "amount"],
            "greater_than": ["body", "annual_rate"],
        }
