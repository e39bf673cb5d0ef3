"""Explanations of the ranked pages are built from parts kept between requests (per snapshot,
per product version, per day). Whatever a serializer or a caller does to the objects of one
answer, the next answers that list the same product or project are unchanged: the kept parts
refuse changes, everything else an answer holds is its own."""

from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from starlette.responses import Response

from app.responses import json_response
from app.routers import matching as matching_router
from tests.conftest import Keys
from tests.factories import institution, library_project, product


def _containers(value: Any) -> Iterator[Any]:
    if isinstance(value, dict):
        yield value
        for inner in value.values():
            yield from _containers(inner)
    elif isinstance(value, list):
        yield value
        for inner in value:
            yield from _containers(inner)


def _vandalise(body: Any) -> int:
    """Try to change every dict and list of an answer; the number of changes refused."""
    refused = 0
    found = list(_containers(body))
    for container in found:
        changes: list[Callable[[Any], object]] = (
            [
                lambda c: c.__setitem__("detail", "changed"),
                lambda c: c.__setitem__("passed", None),
                lambda c: c.pop("points", None),
                lambda c: c.update(extra=1),
            ]
            if isinstance(container, dict)
            else [lambda c: c.append("changed"), lambda c: c.reverse()]
        )
        for change in changes:
            try:
                change(container)
            except TypeError:
                refused += 1
    return refused


async def test_answers_after_a_changed_answer_are_unchanged(
    app: FastAPI, client: httpx.AsyncClient, keys: Keys, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = await library_project(app, name="甲", region_code="440304")
    second = await library_project(app, name="乙", region_code="440106")
    _, bank = await institution(client, keys)
    loans = [await product(client, bank, name=name) for name in ("绿色贷", "碳减排贷")]
    admin = await keys.admin()
    paths = [
        f"/api/v1/projects/{first}/matches",
        f"/api/v1/projects/{second}/matches",
        *(f"/api/v1/products/{loan['id']}/matches" for loan in loans),
    ]

    async def answers() -> list[bytes]:
        got = []
        for path in paths:
            response = await client.get(path, headers=admin)
            assert response.status_code == 200, response.text
            got.append(response.content)
        return got

    before = await answers()
    assert all(b'"product_available"' in body for body in before)  # every page explains
    encode = json_response  # what the router calls by this name
    refused: list[int] = []

    def encode_then_change(body: Any, *args: Any, **kwargs: Any) -> Response:
        response = encode(body, *args, **kwargs)
        refused.append(_vandalise(body))
        return response

    monkeypatch.setattr(matching_router, "json_response", encode_then_change)
    # The changed answers themselves went out as encoded, before the changes.
    assert await answers() == before
    monkeypatch.setattr(matching_router, "json_response", encode)
    assert await answers() == before
    assert len(refused) == len(paths)
