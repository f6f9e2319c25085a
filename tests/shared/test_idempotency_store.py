"""The Idempotency-Key store on both databases (shared/idempotency.py): a new key is claimed and completed
by single statements on the driver connection, a key seen before goes through the ORM; both must agree
on the stored forms (the lease fence compares timestamps for equality)."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from sqlalchemy import select
from starlette.types import Receive, Scope, Send

from services.registry.models import IdempotencyRecord
from shared.db import Database
from shared.idempotency import IdempotencyGate, IdempotencyMiddleware
from shared.testing import DatabaseFactory


@dataclass
class _Principal:
    sub: str


class _Verifier:
    """Tokens are the subject itself here: the store is under test, not the signatures (tests/shared/test_auth.py)."""

    def verify(self, token: str) -> _Principal:
        return _Principal(token)


class Handler:
    """The route behind the middleware: answers what the test scripted, counting its runs; may wait."""

    def __init__(self) -> None:
        self.runs = 0
        self.answers: list[tuple[int, bytes]] = []
        self.gate: asyncio.Event | None = None
        self.started = asyncio.Event()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        self.runs += 1
        status, body = self.answers.pop(0)
        self.started.set()
        if self.gate is not None:
            gate, self.gate = self.gate, None
            await gate.wait()
        await send({"type": "http.response.start", "status": status,
                    "headers": [(b"content-type", b"application/json"), (b"etag", b'"1"')]})
        await send({"type": "http.response.body", "body": body})


@dataclass
class Store:
    db: Database
    handler: Handler
    client: httpx.AsyncClient
    app: Any


@pytest.fixture(params=["claimed-first", "gated"])
async def store(database_factory: DatabaseFactory, dialect: str,
                request: pytest.FixtureRequest) -> AsyncIterator[Store]:
    """The middleware claiming the key itself, or (as create_service_app mounts it) leaving that to the gate
    in front of the route."""
    url = await database_factory.fresh("registry", dialect)
    db = Database(url)
    handler = Handler()
    gated = request.param == "gated"
    app = IdempotencyMiddleware(IdempotencyGate(handler) if gated else handler, lease_seconds=60, gated=gated)

    class State:
        pass

    state = State()
    state.db, state.idempotency_model, state.verifier = db, IdempotencyRecord, _Verifier()  # type: ignore[attr-defined]

    async def asgi(scope: Scope, receive: Receive, send: Send) -> None:
        scope["app"] = type("App", (), {"state": state})()
        await app(scope, receive, send)

    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=asgi), base_url="http://t") as client:
        yield Store(db, handler, client, app)
    await db.dispose()
    await database_factory.drop(url)


def _headers(key: str, sub: str = "alice") -> dict[str, str]:
    return {"Authorization": f"Bearer {sub}", "Idempotency-Key": key}


async def _records(db: Database) -> list[IdempotencyRecord]:
    async with db.transaction() as session:
        return list((await session.execute(select(IdempotencyRecord).order_by(IdempotencyRecord.id))).scalars())


async def test_a_key_in_flight_is_409_then_its_answer_is_replayed(store: Store) -> None:
    store.handler.answers = [(201, b'{"n": 1}')]
    store.handler.gate = asyncio.Event()
    gate = store.handler.gate
    first = asyncio.ensure_future(store.client.post("/zones", json={"a": 1}, headers=_headers("k1")))
    await store.handler.started.wait()
    during = await store.client.post("/zones", json={"a": 1}, headers=_headers("k1"))
    assert during.status_code == 409 and during.json()["code"] == "idempotency-key-in-flight"
    assert during.headers["retry-after"] == "1"
    gate.set()
    assert (await first).status_code == 201
    again = await store.client.post("/zones", json={"a": 1}, headers=_headers("k1"))
    assert (again.status_code, again.content, again.headers["idempotent-replayed"]) == (201, b'{"n": 1}', "true")
    assert again.headers["etag"] == '"1"'
    assert store.handler.runs == 1
    [record] = await _records(store.db)
    # written by the driver statements, read by the ORM: the types' forms, to the microsecond
    assert record.status_code == 201 and record.response_body == b'{"n": 1}'
    assert record.response_headers == {"content-type": "application/json", "etag": '"1"'}
    assert record.expires_at - record.created_at == dt.timedelta(hours=24)
    assert record.created_at.tzinfo is not None and record.locked_until > record.created_at


async def test_a_server_error_frees_the_key_for_a_retry(store: Store) -> None:
    store.handler.answers = [(503, b"{}"), (201, b'{"n": 2}')]
    assert (await store.client.post("/x", json={}, headers=_headers("k2"))).status_code == 503
    assert await _records(store.db) == []
    assert (await store.client.post("/x", json={}, headers=_headers("k2"))).status_code == 201
    replay = await store.client.post("/x", json={}, headers=_headers("k2"))
    assert replay.content == b'{"n": 2}' and store.handler.runs == 2


async def test_another_body_or_subject(store: Store) -> None:
    store.handler.answers = [(201, b"{}"), (201, b"{}")]
    assert (await store.client.post("/x", json={"a": 1}, headers=_headers("k3"))).status_code == 201
    other = await store.client.post("/x", json={"a": 2}, headers=_headers("k3"))
    assert other.status_code == 422 and other.json()["code"] == "idempotency-key-reused"
    assert (await store.client.post("/x", json={"a": 2}, headers=_headers("k3", sub="bob"))).status_code == 201
    assert store.handler.runs == 2


async def test_a_taken_over_claim_does_not_overwrite_the_newer_answer(store: Store) -> None:
    """The first attempt outlives its lease; a retry takes the key over and answers; the first one's
    late completion is fenced off by the lease it held."""
    store.app.lease = dt.timedelta(0)  # every claim has expired at once
    store.handler.answers = [(201, b'{"by": "first"}'), (201, b'{"by": "retry"}')]
    store.handler.gate = asyncio.Event()
    gate = store.handler.gate
    first = asyncio.ensure_future(store.client.post("/x", json={}, headers=_headers("k4")))
    await store.handler.started.wait()
    retry = await store.client.post("/x", json={}, headers=_headers("k4"))
    assert retry.status_code == 201 and retry.content == b'{"by": "retry"}'
    gate.set()
    assert (await first).content == b'{"by": "first"}'  # its caller got its answer; the store keeps the retry's
    store.app.lease = dt.timedelta(seconds=60)
    replay = await store.client.post("/x", json={}, headers=_headers("k4"))
    assert replay.headers["idempotent-replayed"] == "true" and replay.content == b'{"by": "retry"}'
    assert store.handler.runs == 2
