"""Test databases and clients.

Every test that touches the database runs twice: on SQLite and on PostgreSQL. The schema comes
from the migrations (never create_all): each database kind is migrated once into a template, and
every test gets its own copy, so tests never see each other's rows and concurrency tests see real
commits. On PostgreSQL a used copy is put back to the template's state for the next test rather
than dropped (tests/pg_reuse.py): a DROP DATABASE forces a checkpoint, over a second a test.
"""

import asyncio
import contextlib
import os
import shutil
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path

import asyncpg
import httpx
import hypothesis
import pytest
import pytest_asyncio
from fastapi import FastAPI

from app.config import Settings
from app.main import create_app
from app.migrate import upgrade
from app.models import Role
from app.services import api_keys
from app.services.matching import service as matching_service
from tests import pg_reuse

PG_ADMIN_URL = os.environ.get(
    "CLIMATELIB_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
)
REQUIRE_PG = os.environ.get("CLIMATELIB_TEST_REQUIRE_POSTGRES", "") not in ("", "0", "false")
RUN_ID = uuid.uuid4().hex[:8]

TESTS = Path(__file__).parent
# The slow tier (`pytest -m slow`, which CI runs after the rest): modules that start real server
# processes or a database cluster of their own and drive them through minutes of scenario; the long
# fuzzing of the whole OpenAPI document is marked `slow` in tests/test_fuzz.py itself, beside its
# short main-tier run. Plain `pytest` runs everything else.
SLOW_MODULES = frozenset(
    {
        "guard/test_outage.py",
        "guard/test_slow_clients.py",
        "guard/test_server.py",
        "api/test_keyed_writes_live.py",
        "api/bulk/test_import_jobs_live.py",
        "api/bulk/test_import_under_load.py",
        "api/test_webhooks_live.py",
    }
)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if item.path.relative_to(TESTS).as_posix() in SLOW_MODULES:
            item.add_marker(pytest.mark.slow)


# CI (which requires PostgreSQL) draws the same hypothesis examples on every run, so a landing is
# never decided by luck; a developer's runs keep exploring new examples.
hypothesis.settings.register_profile("ci", derandomize=True, deadline=None)
if REQUIRE_PG:
    hypothesis.settings.load_profile("ci")

# Property tests run in both tiers: the main tier draws at most MAIN_EXAMPLES examples of each, and
# a property that asks for more (its @settings) runs again in the slow tier with all it asks for,
# as ``test...[long]`` beside the main tier's ``test...[main]``.
MAIN_EXAMPLES = 50


def _declared(function: object) -> hypothesis.settings | None:
    """A property test's settings (what @given and @settings left on it), else None."""
    found = getattr(function, "_hypothesis_internal_use_settings", None)
    return found if isinstance(found, hypothesis.settings) else None


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    declared = _declared(metafunc.function)
    if declared is not None and declared.max_examples > MAIN_EXAMPLES:
        tiers = [MAIN_EXAMPLES, pytest.param(declared.max_examples, marks=pytest.mark.slow)]
        metafunc.parametrize("property_examples", tiers, indirect=True, ids=["main", "long"])


@pytest.fixture(autouse=True)
def property_examples(request: pytest.FixtureRequest) -> Iterator[None]:
    """The tier's number of examples, for this run of a property test (pytest_generate_tests)."""
    examples: int | None = getattr(request, "param", None)
    test = getattr(request.function, "__func__", request.function)  # a method's function
    declared = _declared(test)
    if examples is None or declared is None:
        yield
        return
    # hypothesis reads the test's settings from this attribute each time the test runs. No public
    # API caps them: an explicit @settings(max_examples=...) outranks any profile, and @settings
    # applies once. The two copies of a method call its one @given wrapper on two instances
    # (pytest makes one per test), which hypothesis takes for two executors
    # (HealthCheck.differing_executors). A false alarm here, as for any parametrized method: its
    # pytest plugin excuses those it sees parametrized (a mark, a fixture's params), not copies
    # made in this hook, so the copies excuse it themselves.
    test._hypothesis_internal_use_settings = hypothesis.settings(
        declared,
        max_examples=examples,
        suppress_health_check=[
            *declared.suppress_health_check,
            hypothesis.HealthCheck.differing_executors,
        ],
    )
    try:
        yield
    finally:
        test._hypothesis_internal_use_settings = declared


def _pg_url(database: str) -> str:
    return PG_ADMIN_URL.rsplit("/", 1)[0] + "/" + database


async def _pg_execute(*statements: str) -> None:
    conn = await asyncpg.connect(PG_ADMIN_URL, timeout=5)
    try:
        for statement in statements:
            await conn.execute(statement)
    finally:
        await conn.close()


def _pg_available() -> str | None:
    try:
        asyncio.run(_pg_execute("SELECT 1"))
    except (OSError, asyncpg.PostgresError) as exc:
        return f"{type(exc).__name__}: {exc}"
    return None


@dataclass(frozen=True)
class Template:
    kind: str
    url: str
    # PostgreSQL: the template's state, and the used copies put back to it, ready for a test.
    state: pg_reuse.Template | None = None
    spare: list[str] = field(default_factory=list)


@pytest.fixture(scope="session", params=["sqlite", "postgresql"])
def template(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Template]:
    """A database of one kind, migrated to head, that each test copies."""
    if request.param == "sqlite":
        path = tmp_path_factory.mktemp("sqlite") / "template.db"
        url = f"sqlite:///{path}"
        upgrade(url)
        yield Template("sqlite", url)
        return
    problem = _pg_available()
    if problem is not None:
        message = f"PostgreSQL at {PG_ADMIN_URL} does not answer ({problem})"
        if REQUIRE_PG:
            pytest.fail(message + "; CLIMATELIB_TEST_REQUIRE_POSTGRES is set", pytrace=False)
        pytest.skip(message + ": the PostgreSQL leg is skipped")
    name = f"climatelib_tmpl_{RUN_ID}"
    asyncio.run(_pg_execute(f'DROP DATABASE IF EXISTS "{name}"', f'CREATE DATABASE "{name}"'))
    template = Template("postgresql", _pg_url(name))
    try:
        upgrade(template.url)
        template = Template(
            template.kind, template.url, asyncio.run(pg_reuse.read_template(template.url))
        )
        yield template
    finally:
        drops = [f'DROP DATABASE IF EXISTS "{copy}" WITH (FORCE)' for copy in template.spare]
        asyncio.run(_pg_execute(*drops, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@contextlib.asynccontextmanager
async def _database_copy(template: Template, directory: Path) -> AsyncIterator[str]:
    """A copy of the migrated template, in the template's state, for as long as it is open."""
    if template.kind == "sqlite":
        path = directory / "test.db"
        shutil.copyfile(template.url.removeprefix("sqlite:///"), path)
        yield f"sqlite:///{path}"
        return
    assert template.state is not None
    if template.spare:
        name = template.spare.pop()
    else:
        name = f"climatelib_t_{RUN_ID}_{uuid.uuid4().hex[:12]}"
        template_name = template.url.rsplit("/", 1)[1]
        await _pg_execute(f'CREATE DATABASE "{name}" TEMPLATE "{template_name}"')
    try:
        yield _pg_url(name)
    finally:
        # A copy is put back to the template's state for the next test (tests/pg_reuse.py),
        # unless this test changed more than rows.
        if await pg_reuse.put_back(PG_ADMIN_URL, _pg_url(name), name, template.state):
            template.spare.append(name)
        else:
            await _pg_execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
async def database_url(template: Template, tmp_path: Path) -> AsyncIterator[str]:
    """A copy of the migrated template for this test alone, in the template's state."""
    async with _database_copy(template, tmp_path) as url:
        yield url


@pytest_asyncio.fixture(scope="class", loop_scope="class")
async def class_database_url(
    template: Template, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[str]:
    """One copy of the template for a whole class, for tests that only read what one costly
    set-up wrote (their class runs on the class's event loop:
    ``@pytest.mark.asyncio(loop_scope="class")``)."""
    async with _database_copy(template, tmp_path_factory.mktemp("class")) as url:
        yield url


@pytest.fixture
def db_kind(template: Template) -> str:
    return template.kind


@pytest.fixture
def settings(database_url: str) -> Settings:
    # Rate limits off: tests make requests much faster than any caller may (tests/test_ratelimit*
    # turn them on). No import worker: it would hold a connection now and then, under tests that
    # count them; the import tests turn it on (their own `settings` fixture), and
    # it then looks for jobs often, so that they wait little.
    return Settings(
        database_url=database_url,
        log_json=True,
        log_level="WARNING",
        rate_limits=False,
        import_worker=False,
        import_poll_interval_s=0.1,
        # No background sealer either (same reason): the chain's tests call it themselves.
        audit_seal_interval_s=0,
        webhook_worker=False,  # tests/api/test_webhooks*.py turn it on
    )


@pytest.fixture
def set_day(monkeypatch: pytest.MonkeyPatch) -> Callable[[date], None]:
    """The matcher's clock (``today()`` of the matching service, which the webhook worker reads
    too), set by the test; it starts at the real day."""
    day = [datetime.now(UTC).date()]
    monkeypatch.setattr(matching_service, "today", lambda: day[0])

    def move(to: date) -> None:
        day[0] = to

    return move


@pytest.fixture
async def app(settings: Settings) -> AsyncIterator[FastAPI]:
    application = create_app(settings)
    async with application.router.lifespan_context(application):
        yield application


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
        yield http


class Keys:
    """Issues keys for test actors straight through the service and hands back request headers."""

    def __init__(self, app: FastAPI) -> None:
        self.app = app

    async def issue(self, role: Role | str, scope: str | None = None) -> dict[str, str]:
        async with self.app.state.sessions.begin() as session:
            await session.connection(execution_options={"sqlite_begin": "IMMEDIATE"})
            _, secret = await api_keys.create(
                session, name=f"test {role}", role=Role(role), scope=scope
            )
        return {"Authorization": f"Bearer {secret}"}

    async def admin(self) -> dict[str, str]:
        return await self.issue(Role.admin)

    async def reviewer(self, province: str) -> dict[str, str]:
        return await self.issue(Role.reviewer, province)

    async def region(self, scope: str) -> dict[str, str]:
        return await self.issue(Role.region, scope)

    async def institution(self, institution_id: str) -> dict[str, str]:
        return await self.issue(Role.institution, institution_id)


@pytest.fixture
def keys(app: FastAPI) -> Keys:
    return Keys(app)
