"""Registry settings (env prefix REGISTRY_)."""

from __future__ import annotations

from pydantic_settings import SettingsConfigDict

from shared.settings import VAR_DIR, ServiceSettings


class Settings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="REGISTRY_", extra="ignore")
    database_url: str = f"sqlite+aiosqlite:///{VAR_DIR / 'registry.db'}"
