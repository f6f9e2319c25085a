"""The scoring service: frameworks, annual data, exact indicators, eligibility and policy targets."""

from __future__ import annotations

from fastapi import FastAPI

from services.scoring.clients.registry import RegistryClient
from services.scoring.data.endpoints import router as data_router
from services.scoring.eligibility.endpoints import router as eligibility_router
from services.scoring.frameworks.endpoints import router as frameworks_router
from services.scoring.frameworks.service import load_bundled
from services.scoring.indicators.endpoints import router as indicators_router
from services.scoring.models import IdempotencyRecord
from services.scoring.settings import Settings
from services.scoring.targets.endpoints import router as targets_router
from shared.app import create_service_app
from shared.peers import PeerClient


def create_app(settings: Settings | None = None, *, registry_transport: object | None = None) -> FastAPI:
    settings = settings or Settings()

    async def startup(app: FastAPI) -> None:
        await load_bundled(app.state.db)
        peer = PeerClient(settings.registry_url, settings.peer_token,
                          transport=registry_transport)  # type: ignore[arg-type]
        app.state.registry_peer = peer
        app.state.registry = RegistryClient(peer, ttl_seconds=settings.registry_cache_seconds)

    async def shutdown(app: FastAPI) -> None:
        await app.state.registry_peer.aclose()

    return create_service_app(
        name="scoring", title="hitech-zones scoring",
        description="Frameworks, annual data and exact indicators of the annual evaluation of regional "
                    "high-tech zones (002 arts. 4, 7–11, annexes 1–2).",
        settings=settings, idempotency_model=IdempotencyRecord,
        routers=[frameworks_router, data_router, indicators_router, eligibility_router, targets_router],
        on_startup=[startup], on_shutdown=[shutdown],
    )
