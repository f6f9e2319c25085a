"""The scoring service: frameworks, annual data, exact indicators, eligibility and policy targets."""

from __future__ import annotations

import asyncio

from fastapi import FastAPI

from services.scoring.clients.registry import RegistryClient
from services.scoring.data.endpoints import router as data_router
from services.scoring.eligibility.endpoints import router as eligibility_router
from services.scoring.evaluations.endpoints import router as evaluations_router
from services.scoring.frameworks.endpoints import router as frameworks_router
from services.scoring.frameworks.service import load_bundled
from services.scoring.indicators.endpoints import router as indicators_router
from services.scoring.methods import store as methods_store
from services.scoring.methods.endpoints import router as methods_router
from services.scoring.models import IdempotencyRecord, OutboxMessage
from services.scoring.proposals.endpoints import router as proposals_router
from services.scoring.proposals.service import REGISTRY
from services.scoring.rounds.endpoints import router as rounds_router
from services.scoring.settings import Settings
from services.scoring.targets.endpoints import router as targets_router
from services.scoring.uncertainty.endpoints import router as uncertainty_router
from shared.app import create_service_app
from shared.auth import Role
from shared.outbox import Dispatcher
from shared.outbox_api import dead_letter_router
from shared.peers import PeerClient


def create_app(settings: Settings | None = None, *, registry_transport: object | None = None) -> FastAPI:
    settings = settings or Settings()

    async def startup(app: FastAPI) -> None:
        await load_bundled(app.state.db)
        await methods_store.load_bundled(app.state.db)
        peer = PeerClient(settings.registry_url, settings.peer_token,
                          transport=registry_transport)  # type: ignore[arg-type]
        app.state.registry_peer = peer
        app.state.registry = RegistryClient(peer, ttl_seconds=settings.registry_cache_seconds)
        # the outbox's own backoff does the retrying: a peer client without in-call retries
        app.state.outbox_peer = PeerClient(settings.registry_url, settings.peer_token, retries=0,
                                           transport=registry_transport)  # type: ignore[arg-type]
        app.state.dispatcher = Dispatcher(app.state.db, OutboxMessage, {REGISTRY: app.state.outbox_peer},
                                          retry_window=settings.outbox_retry_window_seconds,
                                          base_delay=settings.outbox_base_delay_seconds,
                                          max_delay=settings.outbox_max_delay_seconds)
        app.state.dispatch_stop = asyncio.Event()
        app.state.dispatch_task = None
        if settings.outbox_dispatch:
            app.state.dispatch_task = asyncio.create_task(app.state.dispatcher.run_forever(
                settings.outbox_poll_seconds, app.state.dispatch_stop))

    async def shutdown(app: FastAPI) -> None:
        app.state.dispatch_stop.set()
        if app.state.dispatch_task is not None:
            await app.state.dispatch_task
        await app.state.outbox_peer.aclose()
        await app.state.registry_peer.aclose()

    return create_service_app(
        name="scoring", title="hitech-zones scoring",
        description="Frameworks, annual data and exact indicators of the annual evaluation of regional "
                    "high-tech zones (002 arts. 4, 7–11, annexes 1–2).",
        settings=settings, idempotency_model=IdempotencyRecord,
        routers=[frameworks_router, data_router, indicators_router, eligibility_router, targets_router,
                 rounds_router, methods_router, evaluations_router, uncertainty_router, proposals_router,
                 # art. 15 status events the registry refused or that outlived the retry window (shared)
                 dead_letter_router(OutboxMessage, Role.st_department, "zone status events of art. 15 proposals")],
        on_startup=[startup], on_shutdown=[shutdown],
    )
