"""The registry service: zones, parks, leagues and the append-only history of levels and statuses."""

from __future__ import annotations

from fastapi import FastAPI

from services.registry.events.endpoints import router as events_router
from services.registry.leagues.endpoints import router as leagues_router
from services.registry.models import IdempotencyRecord
from services.registry.settings import Settings
from services.registry.transfer.endpoints import router as transfer_router
from services.registry.zones.endpoints import router as zones_router
from services.registry.zones.hot import HotReads
from shared.app import create_service_app


def create_app(settings: Settings | None = None) -> FastAPI:
    return create_service_app(
        name="registry",
        title="hitech-zones registry",
        description="The register of Inner Mongolia's development zones: zones, parks, leagues, and the full "
                    "history of every level, status, name and kind change with its legal basis.",
        settings=settings or Settings(),
        routers=[transfer_router, zones_router, events_router, leagues_router],  # transfer first: /zones/export.csv
        idempotency_model=IdempotencyRecord,
        middleware=[HotReads],  # plain current-state zone reads answered without the router (zones/hot.py)
    )
