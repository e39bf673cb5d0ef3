"""create_app(): the engine's lifespan, middleware, error handlers, routers and offline docs."""

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from importlib import resources

from fastapi import Depends, FastAPI
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles
from sqlalchemy.exc import SQLAlchemyError

from app import __version__, collector, openapi
from app.conditional import ConditionalGetMiddleware
from app.config import Settings, get_settings
from app.cors import CORSMiddleware
from app.db import create_engine, session_factory
from app.errors import install_error_handlers
from app.key_usage import KeyUsage
from app.limits import RequestLimitsMiddleware
from app.observability import (
    RequestContextMiddleware,
    collector_pauses,
    configure_logging,
    log,
)
from app.ratelimit.middleware import RateLimitMiddleware
from app.routers import (
    api_keys,
    audit,
    bulk,
    documents,
    engagements,
    imports,
    institutions,
    integrity,
    matching,
    monitoring,
    open_data,
    operations,
    pilots,
    portfolio,
    products,
    projects,
    public_read,
    reference,
    stats,
    webhooks,
)
from app.routers.known_query import reject_unknown_query
from app.send_timeout import SendTimeoutMiddleware
from app.services import api_keys as api_key_service
from app.services import batch_import
from app.services.audit_chain import Sealer, check_algorithm
from app.services.import_worker import ImportWorker
from app.services.matching import service as matching_service
from app.services.webhooks_worker import WebhookWorker
from app.storage import store_from_settings

DESCRIPTION = """
The national climate investment and financing project library (国家气候投融资项目库) and its
project–finance matching platform (气候项目和资金的信息对接平台).

Pilot regions push projects; provincial reviewers and the national administrator take them into the
library; financial institutions publish products, query the projects they may finance and make
offers; the public reads the library. Authenticate with `Authorization: Bearer <key>`.
"""

TAGS = [
    {"name": "projects", "description": "The project library (入库项目) and its lifecycle."},
    {
        "name": "imports",
        "description": "Import jobs (导入任务): large imports, their progress and results.",
    },
    {"name": "institutions", "description": "Financial institutions (金融机构)."},
    {"name": "products", "description": "Financial products (金融产品) and their criteria."},
    {"name": "matching", "description": "Project–product matching (对接), explained."},
    {"name": "engagements", "description": "Offers and the financing funnel."},
    {"name": "pilots", "description": "Climate investment and financing pilots (气候投融资试点)."},
    {"name": "stats", "description": "Public statistics."},
    {"name": "audit", "description": "The audit trail of every write."},
    {
        "name": "open-data",
        "description": "Open data: projects on a map (GeoJSON) and as IATI 2.03 activities.",
    },
    {"name": "documents", "description": "Project documents (项目文件), public or restricted."},
    {
        "name": "monitoring",
        "description": "Monitoring reports (MRV, 监测报告): verified climate results.",
    },
    {"name": "webhooks", "description": "Webhooks: events delivered, signed, to a URL."},
    {"name": "reference", "description": "Taxonomy and GB/T 2260 regions."},
    {"name": "api-keys", "description": "Keys, roles and scopes (administrators)."},
    {"name": "operations", "description": "Health, readiness and metrics."},
]


# What a browser page may send besides the simple fields.
CORS_ALLOWED = ["Authorization", "Content-Type", "If-Match", "Idempotency-Key", "X-Request-ID"]
# What a browser page may read of an answer besides the simple fields.
CORS_EXPOSED = [
    "ETag",
    "Location",
    "X-Request-ID",
    "X-Updated-Until",
    "RateLimit",
    "RateLimit-Policy",
    "Retry-After",
    "Content-Disposition",
]


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()
    configure_logging(settings.log_level, settings.log_json)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        check_algorithm(settings.audit_hash)  # a hash this OpenSSL lacks stops the start here
        engine = create_engine(settings)
        app.state.engine = engine
        app.state.sessions = session_factory(engine)
        app.state.key_usage = KeyUsage(app.state.sessions)
        if settings.bootstrap_admin_key:
            async with app.state.sessions.begin() as session:
                await api_key_service.ensure_bootstrap_admin(session, settings.bootstrap_admin_key)
        # Load the matching cache before the first request instead of during it (about a
        # second at 100,000 projects); afterwards requests only patch it. Only a head start:
        # on a database not migrated yet the first matching request builds it instead.
        try:
            async with app.state.sessions() as session:
                await matching_service.rematch_all(session)
        except SQLAlchemyError:
            log.warning("matching cache not warmed at startup", exc_info=True)
        worker = ImportWorker(app.state.sessions, settings) if settings.import_worker else None
        if worker is not None:
            worker.start()
        # The audit chain's sealer: every process runs one; one at a time seals.
        sealer = Sealer(app.state.sessions, settings.audit_hash, settings.audit_seal_interval_s)
        app.state.audit_sealer = sealer
        if settings.audit_seal_interval_s > 0:
            sealer.start()
        hooks = WebhookWorker(app.state.sessions, settings) if settings.webhook_worker else None
        if hooks is not None:
            hooks.start()
        app.state.webhook_worker = hooks
        try:
            # Started and warmed: what is alive now lives as long as the process.
            with collector.settled(), collector_pauses():
                yield
        finally:
            # All at once: a job's worker gives its lease up between chunks, and must not go
            # on importing while the others wind down.
            stopping = [sealer.stop()]
            if worker is not None:
                stopping.append(worker.stop(settings.shutdown_timeout_s))
            if hooks is not None:
                stopping.append(hooks.stop(settings.shutdown_timeout_s))
            await asyncio.gather(*stopping)
            await app.state.key_usage.drain()
            await engine.dispose()

    app = FastAPI(
        title="climatelib",
        version=__version__,
        summary="National climate investment and financing project library",
        description=DESCRIPTION,
        openapi_tags=TAGS,
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
        license_info={"name": "Apache-2.0", "identifier": "Apache-2.0"},
        # Every route, including those of the routers included below: a misspelt filter is a 400.
        dependencies=[Depends(reject_unknown_query)],
        # FastAPI's own OpenTelemetry hooks: unused (app/observability.py has the metrics), and
        # asking whether they are configured cost every request about 0.1 ms.
        telemetry={"tracing": False, "metrics": False, "logs": False},
    )
    app.state.settings = settings
    app.state.document_store = store_from_settings(settings)
    install_error_handlers(app)
    # Outermost last: request ids and logs, then sizes, then rate limits, all before routing.
    # Innermost: ETags and 304s of the public reads (their 304s carry the others' headers).
    app.add_middleware(ConditionalGetMiddleware)
    app.add_middleware(RateLimitMiddleware, settings=settings)
    app.add_middleware(
        RequestLimitsMiddleware,
        settings=settings,
        upload_bytes=max(batch_import.MAX_IMPORT_BYTES, settings.document_max_bytes),
    )
    # Inside the request ids, outside the limits: a preflight costs no quota, and a 413 or a 429
    # carries the CORS fields so that a browser page can read why it was refused.
    app.add_middleware(
        CORSMiddleware,
        allow_origins=settings.cors_origins,
        allow_methods=["GET", "POST", "PUT", "PATCH", "DELETE"],
        allow_headers=[
            "Authorization",
            "Content-Type",
            "If-Match",
            "Idempotency-Key",
            "X-Request-ID",
        ],
        expose_headers=CORS_EXPOSED,
        max_age=600,
    )
    app.add_middleware(RequestContextMiddleware)
    # Outermost of all: it watches the server's own send (and finds its transport).
    app.add_middleware(SendTimeoutMiddleware, timeout_s=settings.send_timeout_s)
    for module in (
        operations,
        reference,
        api_keys,
        bulk,  # before projects: /projects/{project_id} would take its paths
        imports,
        projects,
        integrity,
        institutions,
        portfolio,
        products,
        matching,
        engagements,
        pilots,
        stats,
        audit,
        open_data,
        documents,
        monitoring,
        webhooks,
    ):
        app.include_router(module.router)
    app.include_router(documents.upload_router)
    public_read.install(app, [*projects.PUBLIC_READS])
    _mount_docs(app)
    openapi.install(app)
    return app


def _mount_docs(app: FastAPI) -> None:
    """Serve Swagger UI and ReDoc from bundled assets so the docs work with no internet access."""
    static = str(resources.files("fastapi_offline").joinpath("static"))
    app.mount("/docs-static", StaticFiles(directory=static), name="docs-static")

    @app.get("/docs", include_in_schema=False)
    async def swagger() -> HTMLResponse:
        return _with_policy(
            get_swagger_ui_html(
                openapi_url="/openapi.json",
                title="climatelib API",
                swagger_js_url="/docs-static/swagger-ui-bundle.js",
                swagger_css_url="/docs-static/swagger-ui.css",
                swagger_favicon_url="/docs-static/favicon.png",
            )
        )

    @app.get("/redoc", include_in_schema=False)
    async def redoc() -> HTMLResponse:
        return _with_policy(
            get_redoc_html(
                openapi_url="/openapi.json",
                title="climatelib API",
                redoc_js_url="/docs-static/redoc.standalone.js",
                redoc_favicon_url="/docs-static/favicon.png",
                with_google_fonts=False,
            )
        )


# The documentation pages run only their own bundled scripts (plus the inline one that starts
# them; ReDoc's search runs in a blob worker), call only this origin, and are never framed.
DOCS_POLICY = (
    "default-src 'self'; script-src 'self' 'unsafe-inline'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; worker-src 'self' blob:; connect-src 'self'; "
    "frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
)


def _with_policy(page: HTMLResponse) -> HTMLResponse:
    page.headers["Content-Security-Policy"] = DOCS_POLICY
    page.headers["X-Frame-Options"] = "DENY"
    return page
