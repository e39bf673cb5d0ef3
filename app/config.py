"""Settings from the environment (prefix ``CLIMATELIB_``), each with a safe default."""

from functools import lru_cache

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


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
            "PostgreSQL cancels any one statement running longer (0: never); the request "
            "answers 503. Far above the longest legitimate statement (loading every project "
            "to rebuild the matching cache takes about a second at 100,000)."
        ),
    )
    sqlite_busy_timeout_ms: int = Field(default=5000, ge=0)
    bootstrap_admin_key: str | None = Field(
        default=None,
        description="An admin key to register on start (for containers); stored as a digest.",
    )
    contact_deadline_days: int = Field(
        default=7, ge=1, description="Days an institution has to contact an owner after acceptance."
    )
    log_level: str = Field(default="INFO")
    log_json: bool = Field(default=True, description="Structured JSON logs (one object per line).")


@lru_cache
def get_settings() -> Settings:
    return Settings()
