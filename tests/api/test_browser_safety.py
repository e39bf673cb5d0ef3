"""What a browser front end and the people behind it rely on: CORS (preflight, allowed and
exposed fields, a configured origin list), the safety headers on every answer, and logs that name
the key id but never a key, a contact or a statement's parameters."""

import logging

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from app.config import Settings
from app.main import create_app
from tests.conftest import Keys
from tests.factories import create_project, project_payload

PROJECTS = "/api/v1/projects"
ORIGIN = "https://frontend.example"


def preflight(method: str, fields: str, origin: str = ORIGIN) -> dict[str, str]:
    return {
        "Origin": origin,
        "Access-Control-Request-Method": method,
        "Access-Control-Request-Headers": fields,
    }


class TestCors:
    async def test_preflight_allows_the_fields_writes_need(self, client: httpx.AsyncClient) -> None:
        answer = await client.options(
            PROJECTS, headers=preflight("POST", "authorization, if-match, idempotency-key")
        )
        assert answer.status_code == 200
        assert answer.headers["access-control-allow-origin"] == "*"
        allowed = answer.headers["access-control-allow-headers"].lower()
        for field in ("authorization", "if-match", "idempotency-key", "content-type"):
            assert field in allowed
        assert "PATCH" in answer.headers["access-control-allow-methods"]

    async def test_answers_expose_what_a_page_needs_to_read(
        self, client: httpx.AsyncClient, keys: Keys
    ) -> None:
        region = await keys.region("440304")
        created = await client.post(
            PROJECTS, json=project_payload(), headers={**region, "Origin": ORIGIN}
        )
        assert created.status_code == 201
        assert created.headers["access-control-allow-origin"] == "*"
        listed = await client.get(PROJECTS, headers={"Origin": ORIGIN})
        assert listed.status_code == 200
        exposed = {
            f.strip().lower() for f in listed.headers["access-control-expose-headers"].split(",")
        }
        assert {"etag", "location", "x-request-id", "ratelimit", "retry-after"} <= exposed

    async def test_a_configured_origin_list_refuses_others_in_the_problem_format(
        self, settings: Settings
    ) -> None:
        app = create_app(settings.model_copy(update={"cors_origins": [ORIGIN]}))
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
                ours = await http.options(PROJECTS, headers=preflight("GET", "authorization"))
                assert ours.status_code == 200
                assert ours.headers["access-control-allow-origin"] == ORIGIN
                theirs = await http.options(
                    PROJECTS, headers=preflight("GET", "authorization", "https://evil.example")
                )
                assert theirs.status_code == 400
                assert theirs.headers["content-type"] == "application/problem+json"
                assert theirs.json()["code"] == "cors_refused"
                assert "origin" in theirs.json()["detail"]
                plain = await http.get(PROJECTS, headers={"Origin": "https://evil.example"})
                assert "access-control-allow-origin" not in plain.headers

    def test_the_setting_reads_a_comma_separated_list(self) -> None:
        settings = Settings(cors_origins="https://a.example, https://b.example")
        assert settings.cors_origins == ["https://a.example", "https://b.example"]


class TestSafetyHeaders:
    async def test_every_answer_says_nosniff(self, client: httpx.AsyncClient) -> None:
        for path in (PROJECTS, "/api/v1/taxonomy", "/api/v1/nowhere", "/openapi.json"):
            answer = await client.get(path)
            assert answer.headers["x-content-type-options"] == "nosniff", path

    async def test_answers_to_a_key_are_not_stored_public_ones_may_be(
        self, client: httpx.AsyncClient, keys: Keys
    ) -> None:
        region = await keys.region("440304")
        project = await create_project(client, region)
        own = await client.get(f"{PROJECTS}/{project['id']}", headers=region)
        assert own.json()["contact"]["phone"]
        assert own.headers["cache-control"] == "no-store"
        issued = await client.post(
            "/api/v1/api-keys",
            json={"name": "Nanshan", "role": "region", "scope": "440305"},
            headers=await keys.admin(),
        )
        assert issued.status_code == 201, issued.text
        assert issued.headers["cache-control"] == "no-store"
        public = await client.get(PROJECTS)
        assert public.headers.get("cache-control") != "no-store"

    @pytest.mark.parametrize("page", ["/docs", "/redoc"])
    async def test_documentation_pages_carry_a_content_security_policy(
        self, client: httpx.AsyncClient, page: str
    ) -> None:
        answer = await client.get(page)
        assert answer.status_code == 200
        policy = answer.headers["content-security-policy"]
        assert "frame-ancestors 'none'" in policy and "default-src 'self'" in policy
        assert answer.headers["x-frame-options"] == "DENY"


class TestLogs:
    async def test_the_access_log_names_the_key_id_never_the_key(
        self, client: httpx.AsyncClient, keys: Keys, caplog: pytest.LogCaptureFixture
    ) -> None:
        region = await keys.region("440304")
        listed = await client.get("/api/v1/api-keys", headers=await keys.admin())
        (key_id,) = [k["id"] for k in listed.json()["items"] if k["scope"] == "440304"]
        caplog.set_level(logging.INFO, logger="climatelib.access")
        with caplog.at_level(logging.INFO, logger="climatelib.access"):
            await client.get(PROJECTS, headers=region)
            await client.get(PROJECTS)
        records = [r for r in caplog.records if r.name == "climatelib.access"]
        assert [getattr(r, "key_id", "missing") for r in records[-2:]] == [key_id, None]
        secret = region["Authorization"].removeprefix("Bearer ")
        assert all(secret not in repr(vars(r)) for r in records)

    async def test_a_failing_statement_never_carries_its_parameters(self, app: FastAPI) -> None:
        async with app.state.sessions() as session:
            with pytest.raises(DBAPIError) as failure:
                await session.execute(
                    text("SELECT CAST(:phone AS INTEGER) / 0 FROM no_such_table"),
                    {"phone": "+86 139 0000 1234"},
                )
        assert "+86 139 0000 1234" not in str(failure.value)
