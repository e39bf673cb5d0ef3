"""The refusals made before any route (413, 414, 429, 431) and the database's 503 are answered as
the OpenAPI document declares them: status, problem document, Retry-After and the RateLimit
fields; and the successes that carry the RateLimit fields declare them."""

import sqlite3

import pytest

from app.config import Settings
from tests.conftest import Keys
from tests.factories import PROJECTS
from tests.guard.conftest import running
from tests.guard.declared import assert_declared, declared_headers, document

RATE_FIELDS = {"ratelimit-policy", "ratelimit"}
INSTITUTIONS = "/api/v1/institutions"
BANK = {"name": "x", "uscc": "91350100M000100Y43", "type": "bank"}


def test_every_operation_declares_the_refusals_before_routing() -> None:
    for path, operations in document()["paths"].items():
        for method, operation in operations.items():
            where = f"{method.upper()} {path}"
            declared = set(operation["responses"])
            assert {"414", "431"} <= declared, where
            assert ("413" in declared) == ("requestBody" in operation), where
            if path not in ("/healthz", "/readyz", "/metrics"):
                assert {"429", "503"} <= declared, where
                assert "retry-after" in declared_headers(method, path, 503), where
                assert RATE_FIELDS | {"retry-after"} <= declared_headers(method, path, 429)


async def test_size_refusals_are_as_declared(limited: Settings) -> None:
    small = limited.model_copy(update={"max_json_body_bytes": 1024})
    async with running(small) as (_, http):
        too_long_header = await http.get(PROJECTS, headers={"X-Big": "k" * 20_000})
        too_long_target = await http.get(PROJECTS, params={"q": "k" * 9_000})
        too_large_body = await http.post(
            PROJECTS,
            content=b"{" + b" " * 2048 + b"}",
            headers={"Content-Type": "application/json"},
        )
    assert too_long_header.status_code == 431
    assert_declared("GET", PROJECTS, too_long_header)
    assert too_long_target.status_code == 414
    assert_declared("GET", PROJECTS, too_long_target)
    assert too_large_body.status_code == 413
    assert_declared("POST", PROJECTS, too_large_body)
    assert too_large_body.json()["limit_bytes"] == 1024


async def test_rate_limit_answers_are_as_declared(limited: Settings) -> None:
    async with running(limited) as (_, http):
        answers = [await http.get(PROJECTS) for _ in range(limited.rate_limit_per_address + 1)]
    *served, refused = answers
    for answer in served:
        assert answer.status_code == 200
        assert RATE_FIELDS <= set(answer.headers)
        assert RATE_FIELDS <= declared_headers("GET", PROJECTS, 200)
        assert_declared("GET", PROJECTS, answer)
    assert refused.status_code == 429
    assert_declared("GET", PROJECTS, refused)
    assert refused.json()["violated_policies"] == ["per-address"]


async def test_database_unavailable_is_as_declared(limited: Settings, sqlite_url: str) -> None:
    async with running(limited.model_copy(update={"sqlite_busy_timeout_ms": 100})) as (app, http):
        # A real key and a valid body: identifying the caller reads without the write lock, so
        # only a request that gets as far as writing meets it, waits, then gives up.
        headers = await Keys(app).admin()
        blocker = sqlite3.connect(sqlite_url.removeprefix("sqlite:///"), isolation_level=None)
        try:
            blocker.execute("BEGIN EXCLUSIVE")
            answer = await http.post(INSTITUTIONS, json=BANK, headers=headers)
        finally:
            blocker.execute("ROLLBACK")
            blocker.close()
    assert answer.status_code == 503, answer.text
    assert_declared("POST", INSTITUTIONS, answer)


@pytest.mark.parametrize("path", ["/healthz", "/metrics"])
def test_the_probes_declare_no_rate_limit_nor_database(path: str) -> None:
    assert not {"429", "503"} & set(document()["paths"][path]["get"]["responses"])
