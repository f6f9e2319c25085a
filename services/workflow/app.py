"""The workflow service: accreditation of regional high-tech zones (002 arts. 5–6): applications, their
materials, expert panel and opinions, the audit chain, and the registry events through the outbox."""

from __future__ import annotations

import asyncio
import contextlib

import httpx
from fastapi import FastAPI

from services.workflow.applications.endpoints import router as applications_router
from services.workflow.applications.hot import HotApplicationReads, HotPanel, HotTransitions
from services.workflow.audit.endpoints import router as audit_router
from services.workflow.clients.registry import RegistryClient
from services.workflow.clients.scoring import ScoringClient
from services.workflow.materials.endpoints import router as materials_router
from services.workflow.materials.storage import MaterialStore
from services.workflow.models import WEBHOOKS, IdempotencyRecord, OutboxMessage
from services.workflow.outbox_endpoints import router as outbox_router
from services.workflow.panel.endpoints import router as panel_router
from services.workflow.process import definitions
from services.workflow.process_endpoints import router as process_router
from services.workflow.settings import Settings
from services.workflow.subscriptions.endpoints import router as subscriptions_router
from shared.app import create_service_app
from shared.outbox import Dispatcher
from shared.peers import PeerClient
from shared.webhooks import Resolver, WebhookDispatcher, system_resolver


def create_app(settings: Settings | None = None, *, registry_transport: httpx.AsyncBaseTransport | None = None,
               scoring_transport: httpx.AsyncBaseTransport | None = None,
               webhook_resolver: Resolver | None = None) -> FastAPI:
    """`webhook_resolver`: how callback hosts are resolved for the SSRF guard (the system's by default)."""
    settings = settings or Settings()

    async def startup(app: FastAPI) -> None:
        if settings.process_version not in definitions():  # also validates every bundled definition
            raise ValueError(f"WORKFLOW_PROCESS_VERSION {settings.process_version!r} is not bundled: "
                             f"{list(definitions())}")
        # state names are checked by the settings; a final state has no deadline to override
        final = sorted(s for s in settings.deadline_days if definitions()[settings.process_version].is_final(s))
        if final:
            raise ValueError(f"WORKFLOW_DEADLINE_DAYS: {', '.join(final)} {'is' if len(final) == 1 else 'are'} "
                             f"final in process {settings.process_version}: a final state has no deadline")
        registry_reads = PeerClient(settings.registry_url, settings.peer_token, transport=registry_transport)
        # the dispatcher does its own retrying (shared/outbox.py): a client without in-call retries
        registry_outbox = PeerClient(settings.registry_url, settings.peer_token, retries=0,
                                     transport=registry_transport)
        scoring = PeerClient(settings.scoring_url, settings.peer_token, retries=0, transport=scoring_transport,
                             timeout=httpx.Timeout(settings.eligibility_timeout_seconds))
        app.state.peers = [registry_reads, registry_outbox, scoring]
        app.state.registry = RegistryClient(registry_reads)
        app.state.scoring = ScoringClient(scoring)
        app.state.material_store = MaterialStore(settings.materials_dir)
        app.state.dispatcher = Dispatcher(app.state.db, OutboxMessage, {"registry": registry_outbox},
                                          max_attempts=settings.outbox_max_attempts,
                                          retry_window=settings.outbox_retry_window_seconds,
                                          base_delay=settings.outbox_base_delay_seconds,
                                          max_delay=settings.outbox_max_delay_seconds)
        app.state.dispatcher_stop = asyncio.Event()
        app.state.dispatcher_task = None
        if settings.dispatcher_enabled:
            app.state.dispatcher_task = asyncio.create_task(app.state.dispatcher.run_forever(
                settings.dispatcher_poll_seconds, app.state.dispatcher_stop))
        # callbacks to the subscribed platforms (issue #6 §7), beside the outbox's dispatcher
        app.state.webhook_resolver = webhook_resolver or system_resolver
        app.state.webhook_dispatcher = WebhookDispatcher.from_settings(
            app.state.db, WEBHOOKS, settings, resolver=app.state.webhook_resolver,
            base_delay=settings.webhook_base_delay_seconds, max_attempts=settings.webhook_max_attempts)
        app.state.webhook_task = None
        if settings.webhook_dispatcher_enabled:
            app.state.webhook_task = asyncio.create_task(app.state.webhook_dispatcher.run_forever(
                settings.webhook_poll_seconds, app.state.dispatcher_stop))

    async def shutdown(app: FastAPI) -> None:
        app.state.dispatcher_stop.set()
        for task in (app.state.dispatcher_task, app.state.webhook_task):
            if task is not None:
                with contextlib.suppress(asyncio.CancelledError):
                    await asyncio.wait_for(task, timeout=10)
        await app.state.webhook_dispatcher.aclose()
        for peer in app.state.peers:
            await peer.aclose()

    return create_service_app(
        name="workflow", title="hitech-zones workflow",
        description="The accreditation of a regional high-tech zone (002 arts. 5–6): intent, expert review in "
                    "rounds, audit, approval; materials, opinions, an audit chain, the registry events, and "
                    "signed callbacks to the subscribed platforms.",
        settings=settings, idempotency_model=IdempotencyRecord,
        routers=[process_router, applications_router, materials_router, panel_router, audit_router,
                 outbox_router, subscriptions_router],
        # GET /applications/{id}, the transitions, opinions and assignments without the router (applications/hot.py)
        middleware=[HotApplicationReads, HotTransitions, HotPanel],
        on_startup=[startup], on_shutdown=[shutdown],
    )
