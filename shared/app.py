"""create_service_app(): what every service's FastAPI app has (lifespan with database and token
verifier, problem handlers, request ids, body limit, /healthz and /readyz)."""

from __future__ import annotations

import gc
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from typing import Any

from fastapi import APIRouter, FastAPI
from sqlalchemy import text
from starlette.types import ASGIApp

from shared.auth import TokenVerifier
from shared.db import Database
from shared.idempotency import IdempotencyGate, IdempotencyMiddleware
from shared.logging import BodySizeLimitMiddleware, RequestIdMiddleware, configure_logging
from shared.openapi import hoist_components
from shared.problems import DatabaseUnavailableMiddleware, Problem, install_problem_handlers, problem_responses
from shared.settings import ServiceSettings

Hook = Callable[[FastAPI], Awaitable[None]]


def create_service_app(
    *,
    name: str,
    title: str,
    description: str,
    settings: ServiceSettings,
    routers: Sequence[APIRouter] = (),
    on_startup: Sequence[Hook] = (),
    on_shutdown: Sequence[Hook] = (),
    access_log: bool = True,
    idempotency_model: type | None = None,
    middleware: Sequence[Callable[[ASGIApp], ASGIApp]] = (),
) -> FastAPI:
    configure_logging(settings.log_level, settings.log_json)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        app.state.settings = settings
        app.state.db = Database(settings.database_url, pool_size=settings.db_pool_size,
                                busy_timeout_ms=settings.sqlite_busy_timeout_ms)
        app.state.verifier = TokenVerifier(
            issuer=settings.jwt_issuer, audience=settings.jwt_audience, jwks_url=settings.jwks_url,
            jwks_file=settings.jwks_file, leeway=settings.jwt_leeway_seconds,
        )
        for hook in on_startup:
            await hook(app)
        # what start-up made (modules, the app, its routes and models: ~120k objects) lives as long as the
        # process: out of the collector's sight, a full collection no longer walks it (~96 ms each, the
        # event loop stopped, on this 2-core VM)
        gc.collect()
        gc.freeze()
        try:
            yield
        finally:
            for hook in on_shutdown:
                await hook(app)
            await app.state.db.dispose()

    signals = settings.otel  # FastAPI's native OpenTelemetry, when the operator wants it (*_OTEL)
    app = FastAPI(title=title, description=description, version="0.1.0", lifespan=lifespan,
                  responses=problem_responses(400, 401, 403, 413, 422, 500),
                  telemetry={"tracing": signals, "metrics": signals, "logs": signals})
    app.state.service_name = name
    hoist_components(app)  # the definitions of bodies documented with shared.openapi.json_body
    install_problem_handlers(app)
    if idempotency_model is not None:  # the key is claimed in front of the router, after the service's lanes
        app.add_middleware(IdempotencyGate)
    for extra in reversed(middleware):  # the service's own pure ASGI middleware, innermost, in the given order
        app.add_middleware(extra)
    if idempotency_model is not None:  # runs after the body limit, before the lanes and the routes
        app.state.idempotency_model = idempotency_model
        app.add_middleware(IdempotencyMiddleware, gated=True)
    app.add_middleware(BodySizeLimitMiddleware, max_bytes=settings.max_body_bytes)
    app.add_middleware(DatabaseUnavailableMiddleware)  # a database down or full: 503, not 500
    app.add_middleware(RequestIdMiddleware, access_log=access_log)

    @app.get("/healthz", tags=["operations"], summary="The process is alive")
    async def healthz() -> dict[str, Any]:
        return {"status": "ok", "service": name}

    @app.get("/readyz", tags=["operations"], summary="The database is reachable",
             responses=problem_responses(503))
    async def readyz() -> dict[str, Any]:
        try:
            async with app.state.db.engine.connect() as conn:
                await conn.execute(text("SELECT 1"))
        except Exception as exc:
            raise Problem(503, "database-unavailable",
                          f"The database is not reachable: {type(exc).__name__}.") from None
        return {"status": "ready", "service": name, "database": app.state.db.dialect}

    for router in routers:
        app.include_router(router)
    return app
