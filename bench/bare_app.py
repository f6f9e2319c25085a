"""The baseline of bench/registry_read.py: a bare FastAPI app answering each measured path with a
constant JSON body (the exact bytes the registry returned), no middleware, no database.

Started by the benchmark with `uvicorn --factory bare_app:create_app` and the environment variable
BENCH_BARE_BODIES naming a JSON file {path: body text}."""

from __future__ import annotations

import json
import os
from collections.abc import Awaitable, Callable
from pathlib import Path

from fastapi import FastAPI, Response


def _constant(body: bytes) -> Callable[[], Awaitable[Response]]:
    async def endpoint() -> Response:
        return Response(content=body, media_type="application/json")

    return endpoint


def create_app(bodies: dict[str, str] | None = None) -> FastAPI:
    """One GET route per path (the query string is ignored), each returning its constant body."""
    if bodies is None:
        bodies = json.loads(Path(os.environ["BENCH_BARE_BODIES"]).read_text(encoding="utf-8"))
    # FastAPI's native OpenTelemetry off, as the services have it by default (*_OTEL): the baseline is not
    # slowed by a check the registry skips
    app = FastAPI(title="bare baseline", openapi_url=None, docs_url=None, redoc_url=None,
                  telemetry={"tracing": False, "metrics": False, "logs": False})
    for path, text in bodies.items():
        app.add_api_route(path, _constant(text.encode("utf-8")), methods=["GET"])
    return app
