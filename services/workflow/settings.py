"""Workflow settings (env prefix WORKFLOW_)."""

from __future__ import annotations

from pydantic_settings import SettingsConfigDict

from shared.settings import VAR_DIR, ServiceSettings


class Settings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="WORKFLOW_", extra="ignore")
    database_url: str = f"sqlite+aiosqlite:///{VAR_DIR / 'workflow.db'}"
    registry_url: str = "http://127.0.0.1:8001"
    peer_token: str | None = None
