"""Webhook fan-out and delivery on both databases, to a real receiving server (uvicorn on a free port)
that checks every signature with `shared.webhooks.verify` as an integrator would."""

from __future__ import annotations

import asyncio
import datetime as dt
import inspect
import json
import socket
import threading
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import pytest
import uvicorn
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import DeclarativeBase

from shared.db import Database, make_metadata, utcnow
from shared.problems import Problem
from shared.testing import dump_rows, pg_admin, pg_url
from shared.webhooks import (
    WebhookDeliveryMixin,
    WebhookDispatcher,
    WebhookModels,
    WebhookSubscriptionMixin,
    WebhookVerificationError,
    enable_subscription,
    fan_out,
    generate_secret,
    list_dead,
    list_deliveries,
    new_webhook_id,
    replay,
    rotate_secret,
    subscribe,
    verify,
)


class Base(DeclarativeBase):
    metadata = make_metadata()


class Subscription(WebhookSubscriptionMixin, Base):
    __tablename__ = "webhook_subscriptions"


class Delivery(WebhookDeliveryMixin, Base):
    __tablename__ = "webhook_deliveries"


MODELS = WebhookModels(Subscription, Delivery)


@pytest.fixture(name="db")
async def db_fixture(dialect: str, tmp_path: Any) -> AsyncIterator[Database]:
    """A fresh database holding only the two test tables."""
    name = f"webhooks_test_{uuid.uuid4().hex[:12]}"
    if dialect == "sqlite":
        url = f"sqlite+aiosqlite:///{tmp_path / 'webhooks.db'}"
    else:
        await pg_admin(f'CREATE DATABASE "{name}"')
        url = pg_url(name)
    database = Database(url)
    async with database.engine.begin() as conn:
        await conn.run_sync(Base.metadata.create_all)
    try:
        yield database
    finally:
        await database.dispose()
        if dialect == "postgresql":
            await pg_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


# ------------------------------------------------------------------------------------- receiver


@dataclass
class Arrival:
    path: str
    headers: dict[str, str]
    body: bytes
    verified: str | None  # the webhook-id when the signature verified, else None
    error: str | None
    at: float
    status: int = 0  # the answer given


class Receiver:
    """A platform's endpoint: verifies each delivery against the secrets it knows for the path, records
    it, and answers from a script (then 204)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.arrivals: list[Arrival] = []
        self.secrets: dict[str, list[str]] = {}
        self._scripts: dict[str, list[tuple[int, dict[str, str], bytes]]] = {}
        self.url = ""

    def script(self, path: str, *answers: tuple[int, dict[str, str], bytes]) -> None:
        self._scripts[path] = list(answers)

    def at(self, path: str) -> list[Arrival]:
        with self.lock:
            return [a for a in self.arrivals if a.path == path]

    def accepted(self, path: str) -> list[Arrival]:
        """Arrivals that verified and were answered 2xx."""
        return [a for a in self.at(path) if a.verified and 200 <= a.status < 300]

    async def __call__(self, scope: dict[str, Any], receive: Callable[..., Any], send: Callable[..., Any]) -> None:
        assert scope["type"] == "http"
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        headers = {k.decode(): v.decode() for k, v in scope["headers"]}
        path = scope["path"]
        try:
            verified: str | None = verify(body, headers, self.secrets.get(path, []))
            error = None
        except WebhookVerificationError as exc:
            verified, error = None, exc.reason
        with self.lock:
            queued = self._scripts.get(path)
            answer = queued.pop(0) if queued and error is None else None
            status, extra, out = answer or ((401, {}, b"bad signature") if error else (204, {}, b""))
            self.arrivals.append(Arrival(path, headers, body, verified, error, time.monotonic(), status))
        out_headers = [(b"content-type", b"text/plain"), *((k.encode(), v.encode()) for k, v in extra.items())]
        await send({"type": "http.response.start", "status": status, "headers": out_headers})
        await send({"type": "http.response.body", "body": out})


@contextmanager
def serve(app: Any, **tls: Any) -> Iterator[str]:
    """Serve `app` with uvicorn on a free 127.0.0.1 port in a thread (`ssl_certfile`/`ssl_keyfile`: https)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, lifespan="off", log_level="warning", access_log=False,
                                           ws="none", http="h11", loop="asyncio", **tls))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.01)
    try:
        yield f"{'https' if tls else 'http'}://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(10)
        sock.close()


@pytest.fixture(name="receiver")
def receiver_fixture() -> Iterator[Receiver]:
    app = Receiver()
    with serve(app) as url:
        app.url = url
        yield app


# -------------------------------------------------------------------------------------- helpers


def dispatcher(db: Database, **kwargs: Any) -> WebhookDispatcher:
    options: dict[str, Any] = {"worker_id": "w-test", "allow_private": True, "base_delay": 0.005,
                               "max_delay": 0.02, "lease_seconds": 30, "timeout": 5.0}
    options.update(kwargs)
    return WebhookDispatcher(db, MODELS, **options)


async def add_subscription(db: Database, receiver: Receiver, path: str, events: Sequence[str] = ("*",),
                           **kwargs: Any) -> tuple[str, str]:
    async with db.transaction(write=True) as session:
        row, secret = await subscribe(session, MODELS, url=receiver.url + path, events=events,
                                      created_by="platform-1", allow_private=True, **kwargs)
    receiver.secrets[path] = [secret]
    return row.id, secret


async def change(db: Database, event_type: str, payload: Any, webhook_id: str | None = None) -> tuple[str, list[str]]:
    """One state change announced in its own transaction; returns (webhook_id, delivery ids)."""
    webhook_id = webhook_id or new_webhook_id()
    async with db.transaction(write=True) as session:
        return webhook_id, await fan_out(session, MODELS, event_type, webhook_id, payload)


async def log(db: Database, **filters: Any) -> list[Any]:
    async with db.transaction() as session:
        return list(await list_deliveries(session, MODELS, **filters))


async def subscription(db: Database, subscription_id: str) -> Any:
    async with db.transaction() as session:
        return await session.get(Subscription, subscription_id)


async def drain(d: WebhookDispatcher, done: Callable[[], Any], within: float = 10.0) -> None:
    deadline = time.monotonic() + within
    while not (await done() if inspect.iscoroutinefunction(done) else done()):
        assert time.monotonic() < deadline, "deliveries did not settle in time"
        if await d.run_once() == 0:
            await asyncio.sleep(0.005)


# ---------------------------------------------------------------------------------------- tests


async def test_503_with_retry_after_is_retried_with_the_same_id_then_delivered(
    db: Database, receiver: Receiver
) -> None:
    receiver.script("/flaky", (503, {"Retry-After": "1"}, b"busy"), (503, {}, b"still busy"),
                    (502, {}, b"bad gateway"))
    sub_id, _ = await add_subscription(db, receiver, "/flaky")
    webhook_id, (delivery_id,) = await change(db, "application.intent_submitted", {"application": 42})
    async with dispatcher(db) as d:
        before = utcnow()
        assert await d.run_once() == 1
        (row,) = await log(db)
        assert (row.state, row.attempts, row.last_status, row.last_error) == ("pending", 1, 503, "busy")
        assert dt.timedelta(seconds=0.9) <= row.next_attempt_at - before <= dt.timedelta(seconds=1.5)
        assert await d.run_once() == 0  # not due before Retry-After
        await drain(d, lambda: len(receiver.accepted("/flaky")) == 1)
    arrivals = receiver.at("/flaky")
    assert [a.error for a in arrivals] == [None] * 4  # every attempt signed correctly
    assert [a.verified for a in arrivals] == [webhook_id] * 4  # the same webhook-id on every retry
    assert arrivals[1].at - arrivals[0].at >= 0.95  # Retry-After honoured
    assert {a.body for a in arrivals} == {arrivals[0].body}  # the same body, byte for byte
    envelope = json.loads(arrivals[0].body)
    assert envelope["type"] == "application.intent_submitted" and envelope["data"] == {"application": 42}
    assert envelope["timestamp"].endswith("Z")
    assert arrivals[0].headers["content-type"] == "application/json"
    (row,) = await log(db)
    assert (row.id, row.state, row.attempts, row.last_status, row.last_error) == (delivery_id, "delivered", 4,
                                                                                   204, None)
    assert row.delivered_at is not None and row.subscription_id == sub_id


async def test_one_id_per_change_shared_by_subscribers_and_filters_respected(
    db: Database, receiver: Receiver
) -> None:
    everything, _ = await add_subscription(db, receiver, "/all")
    approvals, _ = await add_subscription(db, receiver, "/approved", events=["application.approved"])
    family, _ = await add_subscription(db, receiver, "/family", events=["application.*"])
    first, ids_first = await change(db, "application.intent_submitted", {"n": 1})
    second, ids_second = await change(db, "application.approved", {"n": 2})
    third, ids_third = await change(db, "zone.changed", {"n": 3})
    assert (len(ids_first), len(ids_second), len(ids_third)) == (2, 3, 1)
    async with dispatcher(db) as d:
        await drain(d, lambda: sum(len(receiver.accepted(p)) for p in ("/all", "/approved", "/family")) == 6)
        assert await d.run_once() == 0
    assert [a.verified for a in receiver.at("/all")] == [first, second, third]  # change order kept
    assert [a.verified for a in receiver.at("/approved")] == [second]
    assert [a.verified for a in receiver.at("/family")] == [first, second]
    assert len({first, second, third}) == 3
    assert [json.loads(a.body)["data"]["n"] for a in receiver.at("/all")] == [1, 2, 3]
    rows = await log(db, webhook_id=second)
    assert sorted(r.subscription_id for r in rows) == sorted([everything, approvals, family])
    assert {r.state for r in await log(db)} == {"delivered"}
    # one change never gets two deliveries to one subscriber: reusing its id is refused by the database
    with pytest.raises(IntegrityError):
        await change(db, "application.approved", {"n": 4}, webhook_id=second)
    assert len(await log(db)) == 6


async def test_410_gone_disables_the_subscription_and_stops_its_pending_deliveries(
    db: Database, receiver: Receiver
) -> None:
    receiver.script("/gone", (410, {}, b"we left"))
    gone, _ = await add_subscription(db, receiver, "/gone")
    kept, _ = await add_subscription(db, receiver, "/kept")
    await change(db, "application.approved", {"n": 1})
    await change(db, "application.approved", {"n": 2})
    async with dispatcher(db) as d:
        await drain(d, lambda: len(receiver.accepted("/kept")) == 2)
        assert await d.run_once() == 0
    assert len(receiver.at("/gone")) == 1  # the second change was never sent to it
    first, second = await log(db, subscription_id=gone)
    assert (first.state, first.last_status, first.last_error) == ("disabled", 410, "we left")
    assert second.state == "disabled" and second.attempts == 0
    assert "subscription disabled: 410 Gone" in second.last_error
    row = await subscription(db, gone)
    assert row.active is False and row.disabled_reason.startswith("410 Gone from " + receiver.url + "/gone")
    assert row.disabled_at is not None
    assert (await subscription(db, kept)).active is True
    # new changes go to active subscriptions only; a replay waits for the subscription to be enabled
    _, ids = await change(db, "application.approved", {"n": 3})
    assert len(ids) == 1
    async with db.transaction(write=True) as session:
        with pytest.raises(Problem) as caught:
            await replay(session, MODELS, first.id)
        assert (caught.value.status, caught.value.code) == (409, "subscription-disabled")
    async with db.transaction(write=True) as session:
        assert await enable_subscription(session, MODELS, gone)
        assert (await replay(session, MODELS, first.id)).state == "pending"
    async with dispatcher(db) as d:
        await drain(d, lambda: len(receiver.accepted("/gone")) == 1)
    assert receiver.at("/gone")[1].verified == first.webhook_id
    assert [r.state for r in await log(db, subscription_id=gone)] == ["delivered", "disabled"]


async def test_4xx_and_redirects_are_dead_do_not_block_later_changes_and_replay(
    db: Database, receiver: Receiver
) -> None:
    receiver.script("/strict", (400, {}, b"unknown field"))
    receiver.script("/moved", (301, {"Location": receiver.url + "/elsewhere"}, b""))
    strict, _ = await add_subscription(db, receiver, "/strict")
    await add_subscription(db, receiver, "/moved")
    refused, _ = await change(db, "application.approved", {"n": 1})
    later, _ = await change(db, "application.rejected", {"n": 2})
    async with dispatcher(db) as d:
        await drain(d, lambda: len(receiver.accepted("/strict")) == 1 and len(receiver.accepted("/moved")) == 1)
        assert await d.run_once() == 0
    assert receiver.at("/elsewhere") == []  # redirects are not followed
    async with db.transaction() as session:
        dead = list(await list_dead(session, MODELS))
    assert [(r.webhook_id, r.last_status, r.attempts) for r in dead] == [(refused, 400, 1), (refused, 301, 1)]
    assert dead[0].last_error == "unknown field"
    assert [a.verified for a in receiver.at("/strict")] == [refused, later]
    async with db.transaction(write=True) as session:
        assert await replay(session, MODELS, "no-such-delivery") is None
        again = await replay(session, MODELS, dead[0].id)
        assert (again.state, again.attempts) == ("pending", 0)
        with pytest.raises(Problem):
            await replay(session, MODELS, dead[0].id)  # pending now
    async with dispatcher(db) as d:
        await drain(d, lambda: len(receiver.accepted("/strict")) == 2)
    assert receiver.at("/strict")[2].verified == refused  # the same id on the replay
    assert [r.state for r in await log(db, subscription_id=strict)] == ["delivered", "delivered"]


async def test_retries_end_dead_after_max_attempts_and_connection_errors_retry(
    db: Database, receiver: Receiver
) -> None:
    receiver.script("/down", *[(500, {}, b"down")] * 5)
    await add_subscription(db, receiver, "/down")
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))  # bound, not listening: connection refused
        async with db.transaction(write=True) as session:
            await subscribe(session, MODELS, url=f"http://127.0.0.1:{closed.getsockname()[1]}/x", events=["*"],
                            created_by="p", allow_private=True)
        await change(db, "application.approved", {"n": 1})
        async with dispatcher(db, max_attempts=3) as d:
            async def settled() -> bool:
                return {r.state for r in await log(db)} == {"dead"}

            await drain(d, settled)
    down, refused = sorted(await log(db), key=lambda r: r.last_status or 0, reverse=True)
    assert (down.attempts, down.last_status, down.last_error) == (3, 500, "down")
    assert refused.attempts == 3 and refused.last_status is None and "ConnectError" in refused.last_error
    assert len(receiver.at("/down")) == 3


async def test_rotation_signs_with_both_secrets_until_the_old_one_expires(db: Database, receiver: Receiver) -> None:
    sub_id, old = await add_subscription(db, receiver, "/rotating")
    async with db.transaction(write=True) as session:
        row = await session.get(Subscription, sub_id)
        new = rotate_secret(row, overlap=dt.timedelta(hours=1))
    receiver.secrets["/rotating"] = [old]  # the platform has not switched yet
    first, _ = await change(db, "application.approved", {"n": 1})
    async with dispatcher(db) as d:
        await drain(d, lambda: len(receiver.at("/rotating")) == 1)
        receiver.secrets["/rotating"] = [new]  # it switched
        second, _ = await change(db, "application.approved", {"n": 2})
        await drain(d, lambda: len(receiver.at("/rotating")) == 2)
        async with db.transaction(write=True) as session:  # the overlap is over
            (await session.get(Subscription, sub_id)).previous_secret_expires_at = utcnow() - dt.timedelta(seconds=1)
        receiver.secrets["/rotating"] = [old]  # a platform still on the old secret now fails to verify
        await change(db, "application.approved", {"n": 3})
        await drain(d, lambda: len(receiver.at("/rotating")) == 3)
    arrivals = receiver.at("/rotating")
    assert [a.verified for a in arrivals] == [first, second, None]
    assert [len(a.headers["webhook-signature"].split()) for a in arrivals] == [2, 2, 1]
    assert arrivals[2].error == "no-matching-signature"
    assert [r.state for r in await log(db)] == ["delivered", "delivered", "dead"]  # its 401 is final


async def test_refused_subscription_changes_nothing(db: Database) -> None:
    async def dns(host: str, _port: int) -> Sequence[str]:
        return {"internal.example": ["10.0.0.7"], "ok.example": ["93.184.216.34"]}[host]

    before = await dump_rows(db.url, Base.metadata)
    cases = [({"url": "http://internal.example/cb"}, "url", "private-address"),
             ({"url": "ftp://ok.example/cb"}, "url", "scheme"),
             ({"url": "http://ok.example/cb", "events": []}, "events", "events-count"),
             ({"url": "http://ok.example/cb", "secret": "not-a-secret"}, "secret", "secret-format")]
    for overrides, field, code in cases:
        arguments: dict[str, Any] = {"url": "", "events": ["*"], "created_by": "p", "resolver": dns, **overrides}
        with pytest.raises(Problem) as caught:
            async with db.transaction(write=True) as session:
                await subscribe(session, MODELS, **arguments)
        assert caught.value.status == 422
        assert [(e["field"], e["code"]) for e in caught.value.errors or []] == [(field, code)]
    assert await dump_rows(db.url, Base.metadata) == before
    async with db.transaction(write=True) as session:
        row, secret = await subscribe(session, MODELS, url="https://ok.example/cb", events=["*"], created_by="p",
                                      resolver=dns, secret=(given := generate_secret()))
    assert secret == given and row.secret == given


async def test_two_dispatchers_keep_per_subscription_order(db: Database, receiver: Receiver) -> None:
    paths = [f"/order/{i}" for i in range(3)]
    for i, path in enumerate(paths):
        receiver.script(path, *[(503, {}, b"")] * i)  # some subscribers fail first
        await add_subscription(db, receiver, path)
    changes = [(await change(db, "application.approved", {"n": n}))[0] for n in range(12)]
    stop = asyncio.Event()
    dispatchers = [dispatcher(db, worker_id=f"worker-{i}", batch_size=2) for i in range(2)]
    workers = [asyncio.create_task(d.run_forever(poll_interval=0.005, stop_event=stop)) for d in dispatchers]
    try:
        deadline = time.monotonic() + 20
        while sum(len(receiver.accepted(p)) for p in paths) < 3 * 12:
            if time.monotonic() > deadline:
                break
            await asyncio.sleep(0.02)
    finally:
        stop.set()
        await asyncio.gather(*workers)
        for d in dispatchers:
            await d.aclose()
    for i, path in enumerate(paths):
        # retries first (same id), then every change once, in order
        assert [a.verified for a in receiver.at(path)] == [changes[0]] * i + changes
    async with db.transaction() as session:
        by_worker = dict((await session.execute(
            select(Delivery.leased_by, func.count()).group_by(Delivery.leased_by))).all())
    assert set(by_worker) == {"worker-0", "worker-1"}
    assert {r.state for r in await log(db)} == {"delivered"}


async def test_a_replay_restarts_the_retry_window(db: Database, receiver: Receiver) -> None:
    receiver.script("/late", (503, {}, b"down"), (503, {}, b"down again"))
    await add_subscription(db, receiver, "/late")
    webhook_id, (delivery_id,) = await change(db, "application.approved", {"n": 1})
    async with db.transaction(write=True) as session:  # the change is two hours old
        (await session.get(Delivery, 1)).created_at = utcnow() - dt.timedelta(hours=2)
    async with dispatcher(db, retry_window=dt.timedelta(hours=1)) as d:
        assert await d.run_once() == 1
        (row,) = await log(db)
        assert (row.state, row.attempts, row.last_status) == ("dead", 1, 503)  # past the window: no retry
        async with db.transaction(write=True) as session:
            await replay(session, MODELS, delivery_id)
        assert await d.run_once() == 1
        (row,) = await log(db)
        assert (row.state, row.attempts, row.last_status) == ("pending", 1, 503)  # retried within the new window
        await drain(d, lambda: len(receiver.accepted("/late")) == 1)
    assert [a.verified for a in receiver.at("/late")] == [webhook_id] * 3
