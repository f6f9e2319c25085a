"""The transactional outbox on real databases (SQLite file, PostgreSQL) delivering over real HTTP to a
receiver served by uvicorn on a free port."""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import json
import socket
import threading
import time
import uuid
from collections import defaultdict
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import contextmanager
from typing import Any

import asyncpg
import pytest
import uvicorn
from sqlalchemy import func, select, update
from sqlalchemy.orm import DeclarativeBase

from shared.db import Database, make_metadata, utcnow
from shared.outbox import Dispatcher, OutboxMessageMixin, deliveries, enqueue, list_dead, replay
from shared.peers import PeerClient
from shared.testing import PG_ADMIN_URL, require_pg


class Base(DeclarativeBase):
    metadata = make_metadata()


class OutboxMessage(OutboxMessageMixin, Base):
    __tablename__ = "outbox_messages"




# ------------------------------------------------------------------------------------ databases


@pytest.fixture(params=["sqlite", "postgresql"])
async def db_url(request: pytest.FixtureRequest, tmp_path: Any) -> AsyncIterator[str]:
    """A fresh database with the outbox table: a file in tmp_path, or a PostgreSQL database created
    for this test and dropped after it."""
    admin: asyncpg.Connection | None = None
    name = f"outbox_test_{uuid.uuid4().hex[:12]}"
    if request.param == "sqlite":
        url = f"sqlite+aiosqlite:///{tmp_path / 'outbox.db'}"
    else:
        require_pg()  # skipped loudly outside CI when unreachable, a failure in CI
        admin = await asyncpg.connect(PG_ADMIN_URL, timeout=3)
        await admin.execute(f'CREATE DATABASE "{name}"')
        url = PG_ADMIN_URL.rsplit("/", 1)[0].replace("postgresql://", "postgresql+asyncpg://", 1) + f"/{name}"
    setup = Database(url)
    async with setup.engine.begin() as conn:
        await conn.run_sync(Base.metadata.create_all)
    await setup.dispose()
    try:
        yield url
    finally:
        if admin is not None:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            await admin.close()


@pytest.fixture
async def db(db_url: str) -> AsyncIterator[Database]:
    database = Database(db_url)
    yield database
    await database.dispose()


# ------------------------------------------------------------------------------------- receiver


class Receiver:
    """ASGI app recording what arrives. `script(path, answers)` queues non-2xx answers for a path;
    once they are used up the path answers 200 and the delivery counts."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.delivered: dict[str, list[int]] = defaultdict(list)
        self.keys: list[str] = []
        self.arrivals: list[tuple[str, str, float]] = []  # path, Idempotency-Key, monotonic time
        self.headers: list[dict[bytes, bytes]] = []  # of every arrival
        self._scripts: dict[str, list[tuple[int, dict[str, str], bytes]]] = {}
        self.url = ""

    def script(self, path: str, *answers: tuple[int, dict[str, str], Any]) -> None:
        self._scripts[path] = [(s, h, json.dumps(b).encode() if not isinstance(b, bytes) else b)
                               for s, h, b in answers]

    def count(self) -> int:
        with self.lock:
            return len(self.keys)

    async def __call__(self, scope: dict[str, Any], receive: Callable[..., Any], send: Callable[..., Any]) -> None:
        assert scope["type"] == "http"
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        headers = dict(scope["headers"])
        key = headers.get(b"idempotency-key", b"").decode()
        with self.lock:
            self.arrivals.append((scope["path"], key, time.monotonic()))
            self.headers.append(headers)
            queued = self._scripts.get(scope["path"])
            answer = queued.pop(0) if queued else None
            if answer is None:
                payload = json.loads(body)
                self.delivered[payload["aggregate"]].append(payload["n"])
                self.keys.append(key)
        status, extra, out = answer or (200, {}, b'{"ok":true}')
        content_type = b"application/problem+json" if status >= 400 else b"application/json"
        out_headers = [(b"content-type", content_type), *((k.encode(), v.encode()) for k, v in extra.items())]
        await send({"type": "http.response.start", "status": status, "headers": out_headers})
        await send({"type": "http.response.body", "body": out})


@contextmanager
def serve(app: Any) -> Iterator[str]:
    """Serve `app` with uvicorn on a free 127.0.0.1 port in a background thread."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, lifespan="off", log_level="warning", access_log=False,
                                           ws="none", http="h11", loop="asyncio"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(10)
        sock.close()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    app = Receiver()
    with serve(app) as url:
        app.url = url
        yield app


def dispatcher(db: Database, peer: PeerClient, **kwargs: Any) -> Dispatcher:
    options: dict[str, Any] = {"worker_id": "w-test", "batch_size": 20, "base_delay": 0.005,
                               "max_delay": 0.02, "lease_seconds": 30}
    options.update(kwargs)
    return Dispatcher(db, OutboxMessage, {"registry": peer}, **options)


def peer_for(url: str) -> PeerClient:
    return PeerClient(url, "service-token", retries=0, timeout=5.0)


async def add(db: Database, aggregate: str, path: str, n: int) -> str:
    async with db.transaction(write=True) as session:
        return enqueue(session, OutboxMessage, aggregate=aggregate, destination="registry", method="POST",
                       path=path, body={"aggregate": aggregate, "n": n})


async def rows(db: Database, aggregate: str) -> list[Any]:
    async with db.transaction() as session:
        return list(await deliveries(session, OutboxMessage, aggregate))


async def drain(d: Dispatcher, done: Callable[[], Any], within: float = 10.0) -> None:
    """Run the dispatcher until `done()` (sync or async) holds."""
    deadline = time.monotonic() + within
    while not await _maybe_async(done()):
        assert time.monotonic() < deadline, "outbox did not drain in time"
        if await d.run_once() == 0:
            await asyncio.sleep(0.005)


async def _maybe_async(value: Any) -> Any:
    return await value if asyncio.iscoroutine(value) else value


# ---------------------------------------------------------------------------------------- tests


async def test_two_dispatchers_deliver_each_message_once_in_aggregate_order(
    db_url: str, receiver: Receiver
) -> None:
    postgres = db_url.startswith("postgresql")
    n_aggregates, per_aggregate = (50, 20) if postgres else (20, 10)
    total = n_aggregates * per_aggregate
    producer_db, dbs = Database(db_url), [Database(db_url), Database(db_url)]
    peers = [peer_for(receiver.url), peer_for(receiver.url)]
    dispatchers = [dispatcher(dbs[i], peers[i], worker_id=f"worker-{i}", batch_size=10) for i in range(2)]
    ids: list[str] = []

    async def produce() -> None:  # one transaction per round: message n of every aggregate
        for n in range(per_aggregate):
            async with producer_db.transaction(write=True) as session:
                for a in range(n_aggregates):
                    ids.append(enqueue(session, OutboxMessage, aggregate=f"application:{a}",
                                       destination="registry", method="POST", path=f"/zones/Z{a}/events",
                                       body={"aggregate": f"application:{a}", "n": n}))

    stop = asyncio.Event()
    started = time.perf_counter()
    workers = [asyncio.create_task(d.run_forever(poll_interval=0.005, stop_event=stop)) for d in dispatchers]
    try:
        await produce()
        deadline = time.monotonic() + 45
        while receiver.count() < total:
            if time.monotonic() > deadline:
                break
            await asyncio.sleep(0.02)
    finally:
        stop.set()
        await asyncio.gather(*workers)
        for p in peers:
            await p.aclose()
    elapsed = time.perf_counter() - started
    try:
        assert receiver.count() == total, f"{receiver.count()} of {total} delivered in {elapsed:.1f}s"
        assert dict(receiver.delivered) == {f"application:{a}": list(range(per_aggregate))
                                            for a in range(n_aggregates)}
        assert sorted(receiver.keys) == sorted(ids)  # each message once, keyed by its id
        async with producer_db.transaction() as session:
            states = (await session.execute(
                select(OutboxMessage.state, OutboxMessage.leased_by, func.count(), func.max(OutboxMessage.attempts))
                .group_by(OutboxMessage.state, OutboxMessage.leased_by)
            )).all()
        assert {s for s, *_ in states} == {"delivered"}
        assert {w for _, w, *_ in states} == {"worker-0", "worker-1"}  # both took part
        assert max(m for *_, m in states) == 1
        print(f"\n{db_url.split(':')[0]}: {total} messages in {elapsed:.2f}s")
    finally:
        for database in (producer_db, *dbs):
            await database.dispose()


async def test_4xx_dead_letters_blocks_aggregate_and_replay(db: Database, receiver: Receiver) -> None:
    problem = {"type": "urn:hitech-zones:problem:transition-refused", "title": "Conflict", "status": 409,
               "detail": "candidate → accredited is not a transition", "code": "transition-refused"}
    receiver.script("/zones/A/events", (409, {}, problem))
    first = await add(db, "application:1", "/zones/A/events", 0)
    second = await add(db, "application:1", "/zones/B/events", 1)
    await add(db, "application:2", "/zones/C/events", 0)
    async with peer_for(receiver.url) as peer:
        d = dispatcher(db, peer)
        assert await d.run_once() == 2  # the heads of both aggregates
        head, blocked = await rows(db, "application:1")
        assert (head.state, head.last_status, head.attempts) == ("dead", 409, 1)
        assert json.loads(head.last_error) == problem
        assert blocked.state == "pending"
        for _ in range(3):  # the dead head blocks its aggregate; the other one is done
            assert await d.run_once() == 0
        assert dict(receiver.delivered) == {"application:2": [0]}

        async with db.transaction() as session:
            assert [m.id for m in await list_dead(session, OutboxMessage)] == [first]
        async with db.transaction(write=True) as session:
            assert await replay(session, OutboxMessage, second) is None  # not dead
            again = await replay(session, OutboxMessage, first)
            assert again is not None and (again.state, again.attempts) == ("pending", 0)
        async with db.transaction() as session:
            assert list(await list_dead(session, OutboxMessage)) == []

        assert await d.run_once() == 1
        assert await d.run_once() == 1
        assert await d.run_once() == 0
    assert receiver.delivered["application:1"] == [0, 1]
    assert [k for p, k, _ in receiver.arrivals if p == "/zones/A/events"] == [first, first]
    assert [m.state for m in await rows(db, "application:1")] == ["delivered", "delivered"]


async def test_503_retried_with_backoff_then_delivered(db: Database, receiver: Receiver) -> None:
    in_flight = {"status": 409, "code": "idempotency-key-in-flight"}  # shared/idempotency.py's answer
    receiver.script("/flaky", (503, {}, {"status": 503}), (502, {}, b"bad gateway"), (429, {}, {}),
                    (409, {"Retry-After": "0"}, in_flight), (408, {}, b""))
    message = await add(db, "application:7", "/flaky", 0)
    async with peer_for(receiver.url) as peer:
        d = dispatcher(db, peer)
        assert await d.run_once() == 1
        (row,) = await rows(db, "application:7")
        assert (row.state, row.last_status, row.attempts, row.lease_until) == ("pending", 503, 1, None)
        await drain(d, lambda: receiver.count() == 1)
    (row,) = await rows(db, "application:7")
    assert (row.state, row.last_status, row.attempts, row.last_error) == ("delivered", 200, 6, None)
    assert row.delivered_at is not None
    assert [k for _, k, _ in receiver.arrivals] == [message] * 6
    assert {h[b"x-request-id"] for h in receiver.headers} == {message.encode()}
    assert {h[b"authorization"] for h in receiver.headers} == {b"Bearer service-token"}
    assert [json.loads(h.get(b"content-length", b"0")) > 0 for h in receiver.headers] == [True] * 6


async def test_retries_end_in_dead_letter(db: Database, receiver: Receiver) -> None:
    receiver.script("/down", *[(503, {}, {"status": 503, "detail": "down"})] * 10)
    await add(db, "application:20", "/down", 0)
    await add(db, "application:21", "/down", 0)
    async with peer_for(receiver.url) as peer:
        by_attempts = dispatcher(db, peer, max_attempts=3)
        await drain(by_attempts, lambda: len(receiver.arrivals) >= 6)
        by_window = dispatcher(db, peer, max_attempts=None, retry_window=0)  # window already over
        await add(db, "application:22", "/down", 0)
        assert await by_window.run_once() == 1
    dead = [r for a in ("application:20", "application:21", "application:22") for r in await rows(db, a)]
    assert [(r.state, r.attempts, r.last_status) for r in dead] == [("dead", 3, 503), ("dead", 3, 503),
                                                                    ("dead", 1, 503)]
    assert json.loads(dead[0].last_error)["detail"] == "down"


async def backdate(db: Database, message_id: str, **times: dt.timedelta) -> None:
    """Move a message's timestamps (created_at, replayed_at …) that far into the past."""
    now = utcnow()
    async with db.transaction(write=True) as session:
        await session.execute(update(OutboxMessage).where(OutboxMessage.id == message_id)
                              .values(**{column: now - ago for column, ago in times.items()}))


async def test_replay_restarts_the_retry_window(db: Database, receiver: Receiver) -> None:
    hour = dt.timedelta(hours=1)
    receiver.script("/late", *[(503, {}, {"status": 503, "detail": "down"})] * 3)
    message = await add(db, "application:23", "/late", 0)
    await backdate(db, message, created_at=2 * hour)  # enqueued two hours ago: its window is over
    async with peer_for(receiver.url) as peer:
        d = dispatcher(db, peer, max_attempts=None, retry_window=hour)
        assert await d.run_once() == 1
        (row,) = await rows(db, "application:23")
        assert (row.state, row.attempts, row.replayed_at) == ("dead", 1, None)  # dead by the window

        before = utcnow()
        async with db.transaction(write=True) as session:
            replayed = await replay(session, OutboxMessage, message)
            assert replayed is not None and replayed.replayed_at >= before
        # a transient failure after the replay is retried: the window counts from the replay now
        assert await d.run_once() == 1
        (row,) = await rows(db, "application:23")
        assert (row.state, row.attempts, row.last_status) == ("pending", 1, 503)
        assert row.replayed_at >= before and row.created_at <= before - 2 * hour  # the enqueue time is kept

        # once the window counted from the replay has passed too, the next transient failure is the last
        await backdate(db, message, created_at=3 * hour, replayed_at=2 * hour)

        async def settled() -> bool:
            return bool((await rows(db, "application:23"))[0].state != "pending")

        await drain(d, settled)
        (row,) = await rows(db, "application:23")
        assert (row.state, row.attempts, row.last_status) == ("dead", 2, 503)

        # a second replay starts a new window again; the peer is back
        async with db.transaction(write=True) as session:
            assert await replay(session, OutboxMessage, message) is not None
        await drain(d, lambda: receiver.count() == 1)
    (row,) = await rows(db, "application:23")
    assert (row.state, row.attempts, row.last_status) == ("delivered", 1, 200)
    assert utcnow() - row.replayed_at < dt.timedelta(minutes=1)  # the latest replay, not the backdated one
    assert [k for _, k, _ in receiver.arrivals] == [message] * 4


async def test_retry_after_is_respected(db: Database, receiver: Receiver) -> None:
    receiver.script("/busy", (503, {"Retry-After": "1"}, {"status": 503}))
    await add(db, "application:8", "/busy", 0)
    async with peer_for(receiver.url) as peer:
        d = dispatcher(db, peer)
        before = utcnow()
        assert await d.run_once() == 1
        (row,) = await rows(db, "application:8")
        assert dt.timedelta(seconds=0.9) <= row.next_attempt_at - before <= dt.timedelta(seconds=1.5)
        assert await d.run_once() == 0  # not due yet
        await drain(d, lambda: receiver.count() == 1, within=5)
    first, second = (t for _, _, t in receiver.arrivals)
    assert second - first >= 0.95


async def test_dropped_connection_and_refused_connection_are_retried(db: Database) -> None:
    connections = 0

    async def flaky_server(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal connections
        connections += 1
        head = await reader.readuntil(b"\r\n\r\n")
        length = next((int(line.split(b":")[1]) for line in head.split(b"\r\n")
                       if line.lower().startswith(b"content-length:")), 0)
        await reader.readexactly(length)
        if connections > 1:
            writer.write(b"HTTP/1.1 204 No Content\r\nConnection: close\r\n\r\n")
            await writer.drain()
        writer.close()  # the first connection is dropped without an answer
        await writer.wait_closed()

    server = await asyncio.start_server(flaky_server, "127.0.0.1", 0)
    url = f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}"
    closed = socket.socket()
    closed.bind(("127.0.0.1", 0))
    refused_url = f"http://127.0.0.1:{closed.getsockname()[1]}"  # bound, not listening
    try:
        async with peer_for(url) as peer, peer_for(refused_url) as refused:
            d = Dispatcher(db, OutboxMessage, {"registry": peer, "nobody": refused}, worker_id="w",
                           base_delay=0.005, max_delay=0.01, max_attempts=2)
            await add(db, "application:9", "/drop", 0)
            async with db.transaction(write=True) as session:
                enqueue(session, OutboxMessage, aggregate="application:10", destination="nobody",
                        method="POST", path="/x", body={})
                enqueue(session, OutboxMessage, aggregate="application:11", destination="unknown",
                        method="POST", path="/x", body={})
            assert await d.run_once() == 3
            (dropped,) = await rows(db, "application:9")
            assert dropped.state == "pending" and dropped.last_status is None
            assert "RemoteProtocolError" in dropped.last_error
            (unknown,) = await rows(db, "application:11")
            assert unknown.state == "dead" and "no peer named 'unknown'" in unknown.last_error

            async def settled() -> bool:
                return [r.state for r in await rows(db, "application:10")] == ["dead"] and \
                    [r.state for r in await rows(db, "application:9")] == ["delivered"]

            await drain(d, settled)
        (delivered,) = await rows(db, "application:9")
        assert (delivered.attempts, delivered.last_status) == (2, 204)
        (dead,) = await rows(db, "application:10")
        assert dead.attempts == 2 and "ConnectError" in dead.last_error  # max_attempts reached
        assert connections == 2
    finally:
        closed.close()
        server.close()
        await server.wait_closed()


async def test_expired_lease_is_taken_over_and_the_old_worker_is_fenced(
    db: Database, receiver: Receiver
) -> None:
    await add(db, "application:12", "/slow", 0)
    async with peer_for(receiver.url) as peer:
        # a lease long enough that a busy machine still asks again within it (0.05 s was not, in CI)
        crashed = dispatcher(db, peer, worker_id="crashed", lease_seconds=1.0)
        (claimed,) = await crashed.claim()
        assert await dispatcher(db, peer, worker_id="other").run_once() == 0  # lease still live
        await asyncio.sleep(1.1)
        assert await dispatcher(db, peer, worker_id="other").run_once() == 1
        await crashed.deliver(claimed)  # past its deadline: gives up without sending
        assert len(receiver.arrivals) == 1
        # a worker paused past its lease (its own clock says it still has time) sends again with the
        # same key, but its outcome is not written over the newer attempt's
        await crashed.deliver(dataclasses.replace(claimed, deadline=asyncio.get_running_loop().time() + 5))
    assert len(receiver.arrivals) == 2
    (row,) = await rows(db, "application:12")
    assert (row.state, row.leased_by, row.attempts) == ("delivered", "other", 2)
    assert {k for _, k, _ in receiver.arrivals} == {row.id}


async def test_enqueue_rolled_back_leaves_no_message(db: Database, receiver: Receiver) -> None:
    with pytest.raises(RuntimeError):
        async with db.transaction(write=True) as session:
            enqueue(session, OutboxMessage, aggregate="application:13", destination="registry",
                    method="post", path="/x", body={"aggregate": "application:13", "n": 0})
            await session.flush()
            raise RuntimeError("the change failed")
    async with db.transaction() as session:
        assert await session.scalar(select(func.count()).select_from(OutboxMessage)) == 0
    kept = await add(db, "application:13", "/x", 1)
    (row,) = await rows(db, "application:13")
    assert (row.id, row.method, row.state, row.body) == (kept, "POST", "pending", {"aggregate": "application:13",
                                                                                 "n": 1})
    with pytest.raises(TypeError):
        async with db.transaction(write=True) as session:
            enqueue(session, OutboxMessage, aggregate="a", destination="registry", method="POST", path="/x",
                    body={"not json": object()})
