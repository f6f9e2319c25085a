"""Base settings shared by the three services; each service subclasses with its own env prefix."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

PROJECT_ROOT = Path(__file__).resolve().parent.parent
VAR_DIR = PROJECT_ROOT / "var"


class ServiceSettings(BaseSettings):
    """Settings every service has. Subclasses set `model_config = SettingsConfigDict(env_prefix=...)`."""

    model_config = SettingsConfigDict(env_prefix="HZ_", extra="ignore")

    database_url: str = Field(description="SQLAlchemy async URL (sqlite+aiosqlite:///… or postgresql+asyncpg://…)")
    # Authentication: a JWKS URL in production, a local JWKS file in the embedded default.
    jwks_url: str | None = None
    jwks_file: Path = VAR_DIR / "keys" / "jwks.json"
    jwt_issuer: str = "hitech-zones-dev"
    jwt_audience: str = "hitech-zones"
    jwt_leeway_seconds: int = 30
    max_body_bytes: int = 5 * 1024 * 1024
    log_level: str = "INFO"
    log_json: bool = True
    db_pool_size: int = 10
    sqlite_busy_timeout_ms: int = 10_000
    # FastAPI's native OpenTelemetry (traces, metrics, logs to the global providers an operator installs,
    # e.g. with opentelemetry-instrument). Off: FastAPI then skips its per-request look at the providers
    # (~3 % of a registry read when none is installed).
    otel: bool = False
