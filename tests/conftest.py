"""Fixtures shared by all tests: a registry with the reference data, on each dialect."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from shared.db import Database
from shared.testing import DatabaseFactory, Tokens, asgi_client, settings_overrides


async def load_registry_reference(url: str) -> None:
    from services.registry.data.load import load

    db = Database(url)
    try:
        await load(db)
    finally:
        await db.dispose()


@pytest.fixture
async def registry_db(database_factory: DatabaseFactory, dialect: str) -> AsyncIterator[str]:
    """A fresh registry database with migrations and the reference data."""
    url = await database_factory.fresh("registry", dialect, "reference", load_registry_reference)
    yield url
    await database_factory.drop(url)


@pytest.fixture
async def registry(registry_db: str, tokens: Tokens) -> AsyncIterator[httpx.AsyncClient]:
    from services.registry.app import create_app
    from services.registry.settings import Settings

    app = create_app(Settings(**settings_overrides(tokens, registry_db)))
    async with asgi_client(app) as client:
        yield client
