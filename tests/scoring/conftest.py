"""Fixtures of the scoring tests: the real registry (reference data, its own database) and the real
scoring service calling it over HTTP through the peer client, on each dialect."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from shared.testing import DatabaseFactory, Tokens, asgi_client, settings_overrides

BUREAU = "statistics_bureau"
# Regional high-tech zones of the reference register (kind hitech, level regional), and others.
REGIONAL_HITECH = "S158023"  # 内蒙古赤峰高新技术产业开发区
NATIONAL_HITECH = "G152006"  # 包头稀土高新区 (in scope for the targets, not in the evaluated cohort)
OUT_OF_SCOPE = "G153012"  # 呼和浩特出口加工区 (bonded: no 002 data)


@dataclass
class Services:
    scoring: httpx.AsyncClient
    registry: httpx.AsyncClient
    scoring_url: str
    registry_url: str
    tokens: Tokens
    registry_app: Any = None
    scoring_app: Any = None

    def headers(self, role: str = BUREAU, **kw: str) -> dict[str, str]:
        return self.tokens.headers(role, **kw)


@pytest.fixture
async def scoring_db(database_factory: DatabaseFactory, dialect: str) -> AsyncIterator[str]:
    url = await database_factory.fresh("scoring", dialect)
    yield url
    await database_factory.drop(url)


@pytest.fixture
async def services(registry_db: str, scoring_db: str, tokens: Tokens) -> AsyncIterator[Services]:
    """The registry app and the scoring app, scoring's peer client speaking HTTP to the registry app."""
    from services.registry.app import create_app as create_registry
    from services.registry.settings import Settings as RegistrySettings
    from services.scoring.app import create_app as create_scoring
    from services.scoring.settings import Settings as ScoringSettings

    registry_app = create_registry(RegistrySettings(**settings_overrides(tokens, registry_db)))
    async with asgi_client(registry_app, "http://registry") as registry:
        scoring_app = create_scoring(
            ScoringSettings(**settings_overrides(tokens, scoring_db), registry_url="http://registry",
                            peer_token=tokens("service", sub="scoring"), registry_cache_seconds=0),
            registry_transport=httpx.ASGITransport(app=registry_app))
        async with asgi_client(scoring_app, "http://scoring") as scoring:
            yield Services(scoring, registry, scoring_db, registry_db, tokens, registry_app, scoring_app)
