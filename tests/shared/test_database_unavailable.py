"""A database that cannot be reached (down, or out of connections) is a 503 problem with Retry-After on
every kind of request (the hot lanes in front of the router, routes, writes), never a 500."""

from __future__ import annotations

import socket

import httpx

from shared.problems import database_unavailable
from shared.testing import Tokens, settings_overrides

PARK = {"kind": "industrial_park", "level": "none", "status": "candidate", "league_code": "152500",
        "name_zh": "测试园区"}


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])  # closed again when the block ends: nothing listens there


async def test_an_unreachable_database_is_a_503(tokens: Tokens) -> None:
    from services.registry.app import create_app
    from services.registry.settings import Settings

    url = f"postgresql+asyncpg://postgres@127.0.0.1:{_closed_port()}/nothing"
    app = create_app(Settings(**settings_overrides(tokens, url)))
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://registry") as client:
            answers = [await client.get("/zones/S159041"),  # the hot lane
                       await client.get("/zones?kind=hitech"),
                       await client.get("/leagues"),  # a route
                       await client.get("/readyz"),
                       await client.post("/zones", json=PARK, headers=tokens.headers("st_department"))]
    for r in answers[:3] + answers[4:]:
        assert r.status_code == 503, (r.request.url, r.status_code, r.text)
        assert r.headers["content-type"] == "application/problem+json" and r.headers["retry-after"] == "1"
        body = r.json()
        assert body["code"] == "database-unavailable" and body["instance"] == r.request.url.path
        assert body["request_id"] == r.headers["x-request-id"]
    assert answers[3].status_code == 503 and answers[3].json()["code"] == "database-unavailable"


def test_what_counts_as_unavailable() -> None:
    import asyncpg
    from sqlalchemy.exc import DBAPIError
    from sqlalchemy.exc import TimeoutError as PoolTimeout

    wrapped = DBAPIError("SELECT 1", None, asyncpg.TooManyConnectionsError("sorry, too many clients already"))
    assert database_unavailable(wrapped)
    assert database_unavailable(PoolTimeout("QueuePool limit reached"))
    try:
        try:
            raise ConnectionRefusedError(111, "refused")
        except OSError as inner:
            raise RuntimeError("connect failed") from inner
    except RuntimeError as outer:
        assert database_unavailable(outer)
    assert not database_unavailable(ValueError("a bug"))
