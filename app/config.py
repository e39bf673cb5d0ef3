"""Settings from the environment (prefix ``CLIMATELIB_``), each with a safe default."""

import ipaddress
from functools import lru_cache
from typing import Annotated, Literal

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="CLIMATELIB_", extra="ignore")

    database_url: str = Field(
        default="sqlite:///./climatelib.db",
        description="SQLite file (default) or a plain postgresql://user@host/db URL.",
    )
    db_pool_size: int = Field(
        default=10, ge=1, description="Connections per process before overflow is used."
    )
    db_max_overflow: int = Field(
        default=20,
        ge=0,
        description="Further connections under load (kept open once opened, up to the sum).",
    )
    db_pool_timeout_s: float = Field(
        default=5.0,
        ge=0,
        description=(
            "How long a request waits for a free connection when all are in use, before it "
            "answers 503 with Retry-After."
        ),
    )
    db_connect_timeout_s: float = Field(
        default=5.0, gt=0, description="How long opening a PostgreSQL connection may take."
    )
    db_statement_timeout_ms: int = Field(
        default=30_000,
        ge=0,
        description=(
            "PostgreSQL cancels any one statement running longer, SQLite a public read's "
            "(0: never); the request answers 503. Far above the longest legitimate statement "
            "(loading every project to rebuild the matching cache takes about a second at "
            "100,000)."
        ),
    )
    sqlite_busy_timeout_ms: int = Field(default=5000, ge=0)
    bootstrap_admin_key: str | None = Field(
        default=None,
        min_length=32,
        description=(
            "An admin key to register on start (for containers), at least 32 characters (e.g. "
            "from `openssl rand -base64 32`); stored as a digest."
        ),
    )
    contact_deadline_days: int = Field(
        default=7, ge=1, description="Days an institution has to contact an owner after acceptance."
    )
    log_level: str = Field(default="INFO")
    log_json: bool = Field(default=True, description="Structured JSON logs (one object per line).")

    # Limits checked before a request is parsed or authenticated, and the rate limits (0: none).
    max_header_bytes: int = Field(
        default=16 * 1024, ge=0, description="Request headers in total; larger answers 431."
    )
    max_header_field_bytes: int = Field(
        default=8 * 1024,
        ge=0,
        description="One header field (431), or the request target (414).",
    )
    max_json_body_bytes: int = Field(
        default=10 * 1024 * 1024,
        ge=0,
        description="A request body other than a multipart upload; larger answers 413.",
    )
    rate_limits: bool = Field(
        default=True, description="False turns every rate limit off (tests, benchmarks)."
    )
    rate_limit_per_key: int = Field(
        default=1200, ge=0, description="Requests a minute per API key."
    )
    rate_limit_per_address: int = Field(
        default=600, ge=0, description="Requests a minute per client address without a key."
    )
    rate_limit_expensive: int = Field(
        default=5,
        ge=0,
        description=(
            "Requests per 10 s per key or address to statistics, exports, matches, portfolios "
            "and integrity flags."
        ),
    )
    rate_limit_auth_failures: int = Field(
        default=20,
        ge=0,
        description="401 answers a minute per client address before its keyed requests get 429.",
    )
    trusted_proxies: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="Comma-separated addresses or networks whose X-Forwarded-For is believed.",
    )
    redis_url: str | None = Field(
        default=None,
        description="Redis for rate-limit counters shared by every process; unset: per process.",
    )
    redis_key_prefix: str = Field(default="climatelib:ratelimit:")
    workers: int = Field(
        default=1,
        ge=1,
        description="Server processes per host; without Redis each one gets 1/workers of a limit.",
    )

    metrics_token: str | None = Field(
        default=None,
        description="If set, /metrics answers only 'Authorization: Bearer <this token>'.",
    )

    # Browser front ends on other origins. Keys are bearer tokens, never cookies, so allowing
    # every origin lends a page nothing it could not send itself.
    cors_origins: Annotated[list[str], NoDecode] = Field(
        default_factory=lambda: ["*"],
        description="Comma-separated origins allowed to call the API from a browser (* for any).",
    )

    # Slow clients and shutdown: nothing a client does (or fails to do) holds the process.
    send_timeout_s: float = Field(
        default=30,
        ge=0,
        description="A client that takes no part of an answer for this long is dropped (0: never).",
    )
    shutdown_timeout_s: int = Field(
        default=30,
        ge=0,
        description="On SIGTERM, requests in flight get this long to finish, then are cancelled.",
    )

    # Import jobs (docs/architecture.md, *Import jobs*).
    import_worker: bool = Field(
        default=True,
        description="Run an import worker in this process (false: it runs no import jobs).",
    )
    import_poll_interval_s: float = Field(
        default=1.0, gt=0, description="How often an idle import worker looks for a job."
    )
    import_lease_s: float = Field(
        default=30.0,
        gt=0,
        description=(
            "How long a worker's claim on a job lasts without progress; renewed with every "
            "chunk. A job whose worker died is resumed by another after this long."
        ),
    )
    import_upload_retention_hours: float = Field(
        default=24.0,
        ge=0,
        description="A finished job's uploaded file is deleted after this long (its results stay).",
    )
    iati_reporting_org: str = Field(
        default="CN-USCI-000000000000000000",
        pattern=r"^[A-Za-z0-9][A-Za-z0-9_.:-]*-[^/&|?\s]+$",
        description=(
            "The platform's IATI organisation identifier, reporting-org/@ref of the IATI "
            "export and the prefix of every iati-identifier: CN-USCI-<the operator's USCC>. "
            "The default is a placeholder (eighteen zeros), not a registered identifier: a "
            "deployment that publishes sets its own."
        ),
    )
    iati_reporting_org_name: str = Field(
        default="国家气候投融资项目库",
        min_length=1,
        description="The reporting organisation's name in the IATI export.",
    )

    # The audit trail's hash chain (docs/architecture.md, *Audit trail*).
    audit_hash: Literal["sha256", "sm3"] = Field(
        default="sha256",
        description=(
            "Hash of the audit chain's links: sha256, or sm3 (GB/T 32905, for deployments "
            "assessed under 密评; needs an OpenSSL that has it). Applies to the links sealed "
            "from then on; each link names its own."
        ),
    )
    audit_seal_interval_s: float = Field(
        default=1.0,
        ge=0,
        description="How often this process seals committed audit events (0: it never does).",
    )

    # Project documents (docs/architecture.md, *Documents*).
    document_max_bytes: int = Field(
        default=20 * 1024 * 1024,
        gt=0,
        description="The largest document a project takes (413 file_too_large past it).",
    )
    storage_dir: str = Field(
        default="./climatelib-storage",
        description="Where documents are kept on the filesystem (unless S3 is configured).",
    )
    s3_url: str | None = Field(
        default=None,
        description="An S3-compatible endpoint; if set, documents are kept there, not on disk.",
    )
    s3_bucket: str = Field(default="climatelib", description="The bucket documents go to.")
    s3_access_key_id: str | None = Field(default=None, description="S3 access key id.")
    s3_secret_access_key: str | None = Field(default=None, description="S3 secret key.")
    s3_region: str = Field(default="us-east-1", description="S3 region name.")

    # Webhooks (docs/architecture.md, *Webhooks*).
    webhook_worker: bool = Field(
        default=True,
        description="Run a webhook delivery worker in this process (false: it delivers none).",
    )
    webhook_poll_interval_s: float = Field(
        default=1.0,
        gt=0,
        description=(
            "How often an idle webhook worker looks for events and due deliveries (a commit "
            "in the same process wakes it at once)."
        ),
    )
    webhook_lease_s: float = Field(
        default=60.0,
        gt=0,
        description="How long a worker's claim on a delivery lasts; a dead worker's is retaken.",
    )
    webhook_timeout_s: float = Field(
        default=10.0, gt=0, description="How long one delivery may take (connect to answer)."
    )
    webhook_retry_base_s: float = Field(
        default=10.0,
        gt=0,
        description="The first retry's delay; each further one doubles it (with jitter).",
    )
    webhook_retry_max_s: float = Field(
        default=3600.0, gt=0, description="The longest delay between two tries."
    )
    webhook_retry_window_s: float = Field(
        default=86_400.0,
        gt=0,
        description="A delivery failing this long after its event (or a resend) is failed.",
    )
    webhook_allow_private: bool = Field(
        default=False,
        description=(
            "Allow webhook URLs on private, loopback and link-local addresses (tests, closed "
            "networks); refused by default."
        ),
    )

    @field_validator("cors_origins", mode="before")
    @classmethod
    def _split_origins(cls, value: object) -> object:
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value

    @field_validator("trusted_proxies", mode="before")
    @classmethod
    def _split_networks(cls, value: object) -> object:
        if isinstance(value, str):
            value = [part.strip() for part in value.split(",") if part.strip()]
        if isinstance(value, list):
            for network in value:
                ipaddress.ip_network(str(network), strict=False)  # ValueError names a bad one
        return value


@lru_cache
def get_settings() -> Settings:
    return Settings()
