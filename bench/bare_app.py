"""The baseline of bench/registry_read.py: a bare FastAPI app answering each measured path with a
constant JSON body (the exact bytes the registry returned), no middleware, no database.

Started by the benchmark with `uvicorn --factory bare_app:create_app` and the environment variable
BENCH_BARE_BODIES naming a JSON file {"constant": {path: body text}, "zones": {code: body text},
"lists": {query string: body text}}: a route per constant path, one `/zones/{code}` route answering each
zone's body (an unknown code 404); `/zones` answers the body of its query string when it is one of
"lists", else its constant."""

from __future__ import annotations

import json
import os
from collections.abc import Awaitable, Callable
from pathlib import Path

from fastapi import FastAPI, HTTPException, Request, Response


def _constant(body: bytes, by_query: dict[bytes, bytes]) -> Callable[[Request], Awaitable[Response]]:
    async def endpoint(request: Request) -> Response:
        return Response(content=by_query.get(request.scope["query_string"], body), media_type="application/json")

    return endpoint


def create_app(bodies: dict[str, dict[str, str]] | None = None) -> FastAPI:
    """One GET route per constant path (the query string is ignored), then /zones/{code}."""
    if bodies is None:
        bodies = json.loads(Path(os.environ["BENCH_BARE_BODIES"]).read_text(encoding="utf-8"))
    # FastAPI's native OpenTelemetry off, as the services have it by default (*_OTEL): the baseline is not
    # slowed by a check the registry skips
    app = FastAPI(title="bare baseline", openapi_url=None, docs_url=None, redoc_url=None,
                  telemetry={"tracing": False, "metrics": False, "logs": False})
    lists = {query.encode(): text.encode("utf-8") for query, text in bodies.get("lists", {}).items()}
    for path, text in bodies["constant"].items():
        app.add_api_route(path, _constant(text.encode("utf-8"), lists if path == "/zones" else {}), methods=["GET"])
    zones = {code: text.encode("utf-8") for code, text in bodies.get("zones", {}).items()}

    @app.get("/zones/{code}")
    async def zone(code: str) -> Response:
        if code not in zones:
            raise HTTPException(404)
        return Response(content=zones[code], media_type="application/json")

    return app
