"""The statistics and ranked-match routes encode their JSON themselves (measured hot paths):
their real answers, on both databases and for every kind of caller, still validate against the
declared response model and carry each value as the model writes it."""

import httpx
from fastapi import FastAPI

from tests.api.test_raw_answers import _check
from tests.conftest import Keys
from tests.factories import in_library, institution, product

STATS = "GET /api/v1/stats/overview"
PRODUCT_MATCHES = "GET /api/v1/products/{product_id}/matches"
PROJECT_MATCHES = "GET /api/v1/projects/{project_id}/matches"


async def test_statistics_answers_for_every_caller(
    client: httpx.AsyncClient, keys: Keys, app: FastAPI
) -> None:
    region = await keys.region("440304")
    await in_library(client, keys, region, financing_need="6000000.00")
    _, bank = await institution(client, keys)
    viewers: list[dict[str, str]] = [
        region,
        await keys.admin(),
        await keys.reviewer("44"),
        bank,
        {},
    ]
    for viewer in viewers:
        for period in ("year", "quarter", "month"):
            answer = await client.get(
                STATS.split(" ")[1], params={"period": period}, headers=viewer
            )
            body = await _check(app, answer, STATS)
            assert body["totals"]["financing_need"] == "6000000.00"


async def test_ranked_match_answers_both_ways(
    client: httpx.AsyncClient, keys: Keys, app: FastAPI
) -> None:
    region = await keys.region("440304")
    projects = [
        await in_library(client, keys, region, name=f"匹配 {n}", financing_need="6000000.00")
        for n in range(3)
    ]
    _, bank = await institution(client, keys)
    loans = [await product(client, bank, name=f"贷 {n}", rate_min="3.1") for n in range(3)]
    await product(client, bank, name="无利率")
    for explain in ("true", "false"):
        for limit in ("1", "50"):
            answer = await client.get(
                f"/api/v1/products/{loans[0]['id']}/matches",
                params={"explain": explain, "limit": limit},
                headers=bank,
            )
            page = await _check(app, answer, PRODUCT_MATCHES)
            assert page["items"][0]["project"]["financing_need"] == "6000000.00"
            assert bool(page["next_cursor"]) == (limit == "1")
    for limit in ("1", "50"):
        answer = await client.get(
            f"/api/v1/projects/{projects[0]['id']}/matches",
            params={"limit": limit},
            headers=region,
        )
        page = await _check(app, answer, PROJECT_MATCHES)
        assert page["items"][0]["product"]["rate_min"] == "3.100"
        assert page["items"][0]["explanation"]
        assert bool(page["next_cursor"]) == (limit == "1")
