"""Malformed query values answer a 4xx problem document, never a 500, on both databases.

Each value here once reached the database or an in-memory comparison and failed there: cursors a
client made up (NUL, ``Infinity``, ``1e999999``, 40-digit decimals, naive or year-1 timestamps,
null, values of another kind), timestamps without a zone or outside years 1–9999 in UTC, money
filters finer than a cent. A cursor is a base64 JSON object ``{"s": sort, "v": [values]}``; the
crafted ones keep that shape and change one value at a time, so each sort key's reading is tried.
"""

import base64
import json
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from tests.conftest import Keys
from tests.factories import FUTIAN_PILOT, institution, library_project, product

UUID = "5f1c3b1e-4a4e-4d0e-9a43-2f6c1f0f8a11"
NOW = "2026-11-26T00:00:00+00:00"

# A value, and the kinds of sort key it is a well-formed value of (every other kind refuses it).
# time: an instant with its zone; money: a decimal string that fits NUMERIC(18, 2); decimal: any
# finite decimal string (no column behind it); text: NUL-free text; int: a 64-bit integer.
CRAFTED: list[tuple[str, Any, set[str]]] = [
    ("text with NUL", "a\x00b", set()),
    ("null", None, set()),
    ("true", True, set()),
    ("integer", 5, {"int"}),
    ("40-digit integer", 10**40, set()),
    ("integer past 64 bits", 2**63, set()),
    ("float", 1.5, set()),
    ("list", [1], set()),
    ("object", {"a": 1}, set()),
    ("empty text", "", {"text"}),
    ("word", "abc", {"text"}),
    ("Infinity", "Infinity", {"text"}),
    ("NaN", "NaN", {"text"}),
    ("1e999999", "1e999999", {"text", "decimal"}),
    ("40-digit decimal", "9" * 40, {"text", "decimal"}),
    ("third decimal place", "100.125", {"text", "decimal"}),
    ("naive timestamp", "2026-01-01T00:00:00", {"text"}),
    ("year 1 at +14:00", "0001-01-01T00:00:00+14:00", {"text"}),
    ("year 9999 at -14:00", "9999-12-31T23:59:59-14:00", {"text"}),
    ("date", "2026-01-01", {"text"}),
    ("instant", NOW, {"text", "time"}),
    ("uuid", UUID, {"text", "uuid"}),
    ("amount", "100.00", {"text", "money", "decimal"}),
]

# Cursors that are not a cursor of the list at all.
NOT_CURSORS: list[tuple[str, str]] = [
    ("not base64", "%%%"),
    ("not JSON", base64.urlsafe_b64encode(b"\xff\xfe").decode()),
    ("JSON null", base64.urlsafe_b64encode(b"null").decode()),
    ("JSON list", base64.urlsafe_b64encode(b"[1, 2]").decode()),
    ("NaN literal", base64.urlsafe_b64encode(b'{"s": "x", "v": [NaN]}').decode()),
    ("nested 2,000 deep", base64.urlsafe_b64encode(b"[" * 2000 + b"]" * 2000).decode()),
]


def cursor(sort: str, values: list[Any]) -> str:
    raw = json.dumps({"s": sort, "v": values}).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


@dataclass(frozen=True)
class Listing:
    """A list that takes a cursor: its path, the sort its cursors belong to, its keys' kinds."""

    path: str
    sort: str
    kinds: tuple[str, ...]
    params: tuple[tuple[str, str], ...] = ()

    def sample(self) -> list[Any]:
        good = {"time": NOW, "uuid": UUID, "money": "100.00", "decimal": "3.5", "text": "abc"}
        return [5000 if kind == "int" else good[kind] for kind in self.kinds]


LISTINGS = [
    Listing("/api/v1/projects", "-created_at", ("time", "uuid"), (("sort", "-created_at"),)),
    Listing("/api/v1/projects", "updated_at", ("time", "uuid"), (("sort", "updated_at"),)),
    Listing("/api/v1/projects", "financing_need", ("money", "uuid"), (("sort", "financing_need"),)),
    Listing("/api/v1/projects", "-name", ("text", "uuid"), (("sort", "-name"),)),
    Listing("/api/v1/projects/{project}/history", "id", ("int",)),
    Listing("/api/v1/projects/{project}/matches", "score_rate", ("int", "decimal", "text")),
    Listing("/api/v1/products/{product}/matches", "score", ("int", "text")),
    Listing("/api/v1/products", "created", ("time", "uuid")),
    Listing("/api/v1/institutions", "created", ("time", "uuid")),
    Listing("/api/v1/engagements", "created", ("time", "uuid")),
    Listing("/api/v1/api-keys", "created", ("time", "uuid")),
    Listing("/api/v1/pilots", "province_name", ("text", "text", "uuid")),
    Listing("/api/v1/pilots/{pilot}/history", "at", ("time", "uuid")),
    Listing("/api/v1/regions", "code", ("text",)),
]


@pytest.fixture
async def world(app: FastAPI, client: httpx.AsyncClient, keys: Keys) -> dict[str, str]:
    """What the lists' paths name (a library project, a product, a pilot) and an admin key."""
    _, bank = await institution(client, keys)
    made = await product(client, bank)
    return {
        "project": await library_project(app),
        "product": made["id"],
        "pilot": FUTIAN_PILOT,
        **await keys.admin(),
    }


def _problem(response: httpx.Response) -> str:
    assert response.headers["content-type"].startswith("application/problem+json"), response.text
    code: str = response.json()["code"]
    return code


@pytest.mark.parametrize("listing", LISTINGS, ids=lambda li: f"{li.path} {li.sort}")
async def test_crafted_cursors_are_refused_as_invalid_cursor(
    client: httpx.AsyncClient, world: dict[str, str], listing: Listing
) -> None:
    path = listing.path.format(**world)
    headers = {"Authorization": world["Authorization"]}
    wrong: list[str] = []

    async def ask(label: str, value: str, refused: bool) -> None:
        response = await client.get(
            path, params={**dict(listing.params), "cursor": value}, headers=headers
        )
        answered = (response.status_code, _problem(response) if response.is_error else None)
        allowed = {(400, "invalid_cursor")} if refused else {(200, None), (400, "invalid_cursor")}
        if answered not in allowed:
            wrong.append(f"{label}: {answered} {response.text[:200]}")

    await ask("a well-formed cursor", cursor(listing.sort, listing.sample()), refused=False)
    for position, kind in enumerate(listing.kinds):
        for label, value, kinds in CRAFTED:
            values = listing.sample()
            values[position] = value
            refused = kind not in kinds
            await ask(f"{label} as value {position}", cursor(listing.sort, values), refused)
    await ask("another sort", cursor(listing.sort + "x", listing.sample()), refused=True)
    await ask("one value short", cursor(listing.sort, listing.sample()[:-1]), refused=True)
    for label, value in NOT_CURSORS:
        await ask(label, value, refused=True)
    assert wrong == []


# (value, status, code): 200 where the value is an instant the databases can compare.
UPDATED_SINCE: list[tuple[str, int, str | None]] = [
    ("2026-01-01T00:00:00Z", 200, None),
    ("2026-01-01T00:00:00", 200, None),  # no zone: UTC, as every timestamp of the API
    ("2026-01-01", 200, None),
    ("0001-01-01T00:00:00Z", 200, None),
    ("9999-12-31T23:59:59.999999Z", 200, None),
    ("0001-01-01T00:00:00+14:00", 422, "datetime_out_of_range"),
    ("9999-12-31T23:59:59-14:00", 422, "datetime_out_of_range"),
    ("2026-13-01T00:00:00Z", 422, "datetime_from_date_parsing"),
    ("2026-01-01T00:00:00+24:00", 422, "datetime_from_date_parsing"),
    ("NaN", 422, "datetime_from_date_parsing"),
    ("1e999", 422, "datetime_parsing"),
]


@pytest.mark.parametrize("path", ["/api/v1/projects", "/api/v1/pilots", "/api/v1/projects/export"])
async def test_updated_since_is_one_instant_or_a_422(client: httpx.AsyncClient, path: str) -> None:
    wrong = []
    for value, status, code in UPDATED_SINCE:
        response = await client.get(path, params={"updated_since": value})
        if response.status_code != status or (code and _problem(response) != "validation_error"):
            wrong.append(f"{value}: {response.status_code} {response.text[:200]}")
        elif code and response.json()["errors"][0]["loc"] != ["query", "updated_since"]:
            wrong.append(f"{value}: {response.json()['errors']}")
    assert wrong == []


async def test_a_timestamp_without_zone_is_read_as_utc_everywhere(
    app: FastAPI, client: httpx.AsyncClient, keys: Keys
) -> None:
    await library_project(app)
    admin = await keys.admin()
    same_instant = ("2020-01-01T00:00:00", "2020-01-01T00:00:00Z", "2020-01-01T08:00:00+08:00")
    for path in ("/api/v1/projects", "/api/v1/pilots"):
        pages = [
            (await client.get(path, params={"updated_since": value}, headers=admin)).json()
            for value in same_instant
        ]
        assert pages[0]["items"], path
        assert pages[0] == pages[1] == pages[2], path


@pytest.mark.parametrize("path", ["/api/v1/projects", "/api/v1/projects/export"])
@pytest.mark.parametrize("name", ["need_min", "need_max"])
async def test_money_filters_are_amounts_in_cents(
    client: httpx.AsyncClient, path: str, name: str
) -> None:
    refused = ["1e-999999", "0.001", "NaN", "Infinity", "-1", "1e999999", "9" * 40, "abc"]
    statuses = {v: (await client.get(path, params={name: v})).status_code for v in refused}
    assert statuses == dict.fromkeys(refused, 422)
    assert (await client.get(path, params={name: "100.50"})).status_code == 200
