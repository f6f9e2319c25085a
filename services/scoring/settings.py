"""Scoring settings (env prefix SCORING_)."""

from __future__ import annotations

from decimal import Decimal

from pydantic_settings import SettingsConfigDict

from shared.settings import VAR_DIR, ServiceSettings


class Settings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="SCORING_", extra="ignore")
    database_url: str = f"sqlite+aiosqlite:///{VAR_DIR / 'scoring.db'}"
    registry_url: str = "http://127.0.0.1:8001"
    peer_token: str | None = None
    # a national-scale year (2,600 zones × ~60 variables) is ~4 MB of JSON
    max_body_bytes: int = 32 * 1024 * 1024
    registry_cache_seconds: float = 30.0
    # plausibility: a value more than this factor above or below last year's is a warning, not an error
    plausibility_yoy_factor: Decimal = Decimal(5)
    max_rows_per_post: int = 10_000
    earliest_year: int = 2000
