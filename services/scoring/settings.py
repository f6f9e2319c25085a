"""Scoring settings (env prefix SCORING_)."""

from __future__ import annotations

from decimal import Decimal
from typing import Literal

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from shared.settings import VAR_DIR, ServiceSettings


class Settings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="SCORING_", extra="ignore")
    database_url: str = f"sqlite+aiosqlite:///{VAR_DIR / 'scoring.db'}"
    registry_url: str = "http://127.0.0.1:8001"
    peer_token: str | None = None
    # a national-scale year (2,600 zones × ~60 variables) is ~4 MB of JSON
    max_body_bytes: int = 32 * 1024 * 1024
    registry_cache_seconds: float = Field(30.0, ge=0)
    # plausibility: a value more than this factor above or below last year's is a warning, not an error
    plausibility_yoy_factor: Decimal = Field(Decimal(5), gt=1)
    max_rows_per_post: int = Field(10_000, ge=1)
    earliest_year: int = Field(2000, ge=1900, le=2200)
    # the outbox dispatcher (confirmed art. 15 proposals → registry status events)
    outbox_dispatch: bool = True
    outbox_poll_seconds: float = Field(1.0, gt=0)
    outbox_retry_window_seconds: float = Field(7 * 24 * 3600.0, gt=0)
    outbox_base_delay_seconds: float = Field(1.0, gt=0)  # backoff with full jitter from here (or Retry-After)
    outbox_max_delay_seconds: float = Field(300.0, gt=0)
    # 002 art. 15 thresholds (SPEC 4, 8.11): see services/scoring/proposals/rules.py; checked here as there,
    # so that a bad value stops the service at start instead of failing every publication
    management_upgrade_top_ranks: int = Field(1, ge=0)
    management_upgrade_min_innovation_share: Decimal = Field(Decimal("0.8"), ge=0, le=1)
    management_rectification_bottom_ranks: int = Field(2, ge=0)
    management_low_score: Decimal = Field(Decimal(60), ge=0)
    management_revocation_rule: Literal["002", "000"] = "002"
    # Monte Carlo analyses: the most replications one request may ask for (the analysis' own cap: 20,000)
    uncertainty_max_replications: int = Field(20_000, ge=1, le=20_000)
