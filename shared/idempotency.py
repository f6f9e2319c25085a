"""Idempotency-Key, one implementation (contracts): scope (sub, method, path), kept 24 h; a replay
returns the original status and body (checked before If-Match, since it runs before the route);
same key with another body → 422; same key still in flight → 409.

The key row is claimed by one statement of its own before the route runs (`IdempotencyGate`, innermost)
and completed by another after it: a crash between the route's commit and the completion leaves the key
in flight until its lease (`lease_seconds`) runs out, after which a retry runs the request again. A
handler in front of the gate that writes in a driver transaction of its own (the workflow's hot lanes)
inserts the key with its answer in that transaction instead: one statement, committed with the write;
when the key is already there it rolls back and the gate answers (replay, 409, 422)."""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import json
import random
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Integer, LargeBinary, String, UniqueConstraint, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Mapped, declared_attr, mapped_column
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from shared.db import PortableJSON, UTCDateTime, utcnow
from shared.problems import Problem

UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
_KEY_RE = re.compile(r"^[\x21-\x7e]{1,255}$")
_REPLAYED_HEADERS = {b"content-type", b"location", b"etag"}


class IdempotencyRecordMixin:
    """Columns of a service's `idempotency_keys` table (status_code NULL = still in flight)."""

    @declared_attr.directive
    def __table_args__(cls) -> tuple[Any, ...]:
        return (UniqueConstraint("scope_sub", "method", "path", "key"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    scope_sub: Mapped[str] = mapped_column(String(120))
    method: Mapped[str] = mapped_column(String(8))
    path: Mapped[str] = mapped_column(String(500))
    key: Mapped[str] = mapped_column(String(255))
    request_hash: Mapped[str] = mapped_column(String(64))
    status_code: Mapped[int | None] = mapped_column(Integer)
    response_body: Mapped[bytes | None] = mapped_column(LargeBinary)
    response_headers: Mapped[dict[str, str] | None] = mapped_column(PortableJSON)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    locked_until: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    expires_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, index=True)


_BOUNDARY_RE = re.compile(rb'boundary="?([^";,\s]+)"?', re.IGNORECASE)


def request_digest(method: str, path: str, query: bytes, content_type: bytes, body: bytes) -> str:
    """SHA-256 of what makes two requests the same: method, path, query and body. A multipart body is
    hashed with its boundary replaced, since clients draw a new random boundary for every send (a retried
    upload is the same request)."""
    if content_type.lower().startswith(b"multipart/") and (found := _BOUNDARY_RE.search(content_type)):
        body = body.replace(b"--" + found.group(1), b"--boundary")
    return hashlib.sha256(method.encode() + b"\n" + path.encode() + b"?" + query + b"\n" + body).hexdigest()


def _problem_bytes(problem: Problem, path: str) -> bytes:
    return json.dumps(problem.body(path), ensure_ascii=False).encode()


class IdempotencyMiddleware:
    """Pure ASGI middleware; the app must have `state.db` and `state.idempotency_model`."""

    def __init__(self, app: ASGIApp, *, ttl: dt.timedelta = dt.timedelta(hours=24),
                 lease_seconds: int = 60, gated: bool = False) -> None:
        """`gated`: the key is claimed by an `IdempotencyGate` in front of the router (after the handlers
        that record their answer in their own transaction), not here before everything."""
        self.app = app
        self.gated = gated
        self.ttl = ttl
        self.lease = dt.timedelta(seconds=lease_seconds)

    @staticmethod
    async def _send_problem(send: Send, path: str, problem: Problem) -> None:
        body = _problem_bytes(problem, path)
        await send({"type": "http.response.start", "status": problem.status,
                    "headers": [(b"content-type", b"application/problem+json"),
                                (b"content-length", str(len(body)).encode()),
                                *((k.lower().encode(), v.encode()) for k, v in problem.headers.items())]})
        await send({"type": "http.response.body", "body": body})

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] not in UNSAFE_METHODS:
            await self.app(scope, receive, send)
            return
        headers = dict(scope["headers"])
        raw_key = headers.get(b"idempotency-key")
        if raw_key is None:
            await self.app(scope, receive, send)
            return
        key = raw_key.decode("latin-1")
        if not _KEY_RE.match(key):
            await self._send_problem(send, scope["path"], Problem(
                400, "invalid-idempotency-key", "Idempotency-Key must be 1–255 visible ASCII characters.",
                errors=[{"in": "header", "field": "Idempotency-Key", "pointer": None, "code": "invalid",
                         "reason": "1–255 visible ASCII characters"}]))
            return

        # Buffer the body so it can be hashed and replayed to the app.
        chunks: list[bytes] = []
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            chunks.append(message.get("body", b""))
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)

        app_state = scope["app"].state
        sub = self._subject(app_state, headers)
        if sub is None:  # no valid token: the route answers 401/403 itself; nothing to remember
            await self.app(scope, _replay(body), send)
            return
        method, path = scope["method"], scope["path"]
        digest = request_digest(method, path, scope.get("query_string", b""), headers.get(b"content-type", b""),
                                body)
        model = app_state.idempotency_model
        db = app_state.db
        now = utcnow()
        sql = _statements(db.dialect, model.__tablename__)
        claim = Claim(sql, self, db, model, (sub, method, path, key, digest), now, now + self.lease, send)
        scope[CLAIM_SCOPE_KEY] = claim  # for the gate, and a handler that records its answer in its transaction
        if not self.gated and not await claim.acquire():  # a replay or a refusal was sent
            return

        # run the request, capturing the answer
        captured: dict[str, Any] = {"status": 500, "headers": [], "body": []}

        async def capture(message: Message) -> None:
            if message["type"] == "http.response.start":
                captured["status"] = message["status"]
                captured["headers"] = message.get("headers", [])
            elif message["type"] == "http.response.body":
                captured["body"].append(message.get("body", b""))
            await send(message)

        claim.send = capture
        try:
            await self.app(scope, _replay(body), capture)
        finally:
            # remember the answer (or free the key after a server error, so a retry may run): one statement,
            # fenced by our claim (a takeover after our lease ran out set another locked_until); nothing to do
            # when the handler's transaction recorded it, or the claim answered by itself (replay, 409, 422)
            status, answer = captured["status"], b"".join(captured["body"])
            expire = random.random() < 0.01  # expired keys go now and then
            unsettled = not (claim.recorded or claim.answered)
            if expire or unsettled:
                async with db.driver_connection() as driver:
                    if expire:
                        await sql.run(driver, sql.expire, sql.timestamp(now))
                    if unsettled and claim.record_id is not None and status >= 500:
                        await sql.run(driver, sql.free, claim.record_id, claim.fence)
                    elif unsettled and status < 500:  # held: completed; not yet claimed (answered before the
                        await claim.record(driver, status, answer, captured["headers"])  # gate): inserted

    async def _acquire(self, claim: Claim) -> bool:
        """Claim the key before the route runs: True when this request now holds it (claim.record_id);
        False when the answer was sent instead (a stored answer replayed, 409 in flight, 422 reused)."""
        db = claim.db
        sub, method, path, key, digest = claim.scope
        try:
            claim.record_id = await self._insert_claim(db, claim)
            replay = None
            if claim.record_id is None:
                claim.record_id, replay = await self._claim_existing(
                    db, claim.model, sub, method, path, key, digest, claim.created_at, claim.lease_until)
        except IntegrityError:
            await self._answer_instead(claim, problem=Problem(
                409, "idempotency-key-in-flight", "A request with this Idempotency-Key is still being processed.",
                headers={"Retry-After": "1"}))
            return False
        except Problem as problem:
            await self._answer_instead(claim, problem=problem)
            return False
        if replay is not None:
            await self._answer_instead(claim, replay=replay)
            return False
        return True

    async def _answer_instead(self, claim: Claim, *, problem: Problem | None = None,
                              replay: tuple[int, bytes, dict[str, str]] | None = None) -> None:
        """The request does not run: the stored answer is replayed, or the refusal sent; it holds no key."""
        claim.record_id = None
        claim.answered = True
        if problem is not None:
            await self._send_problem(claim.send, claim.scope[2], problem)
            return
        assert replay is not None
        status, stored_body, stored_headers = replay
        out_headers = [(k.encode(), v.encode()) for k, v in stored_headers.items()]
        out_headers += [(b"idempotent-replayed", b"true"), (b"content-length", str(len(stored_body)).encode())]
        await claim.send({"type": "http.response.start", "status": status, "headers": out_headers})
        await claim.send({"type": "http.response.body", "body": stored_body})

    async def _insert_claim(self, db: Any, claim: Claim) -> int | None:
        """The new key's row id (in flight), or None when (sub, method, path, key) is already there."""
        sql = claim.statements
        async with db.driver_connection() as driver:
            return await sql.value(driver, sql.claim, *claim.scope, sql.timestamp(claim.created_at),
                                   sql.timestamp(claim.lease_until), sql.timestamp(claim.created_at + self.ttl))

    async def _claim_existing(self, db: Any, model: Any, sub: str, method: str, path: str, key: str, digest: str,
                              now: dt.datetime, claimed_until: dt.datetime
                              ) -> tuple[int, tuple[int, bytes, dict[str, str]] | None]:
        """A key seen before: (its row id, the stored answer to replay or None when this request now runs).
        Raises Problem 422 for another body, 409 while the first request is still in flight."""
        async with db.transaction(write=True) as session:
            record = (await session.execute(select(model).where(
                model.scope_sub == sub, model.method == method, model.path == path, model.key == key,
            ))).scalar_one_or_none()
            if record is None:  # it expired and was cleaned up in between: the caller's retry claims it anew
                raise Problem(409, "idempotency-key-in-flight",
                              "A request with this Idempotency-Key is still being processed.",
                              headers={"Retry-After": "1"})
            if record.expires_at <= now:  # an old key: this request runs as a new one
                record.request_hash, record.status_code, record.response_body = digest, None, None
                record.response_headers, record.created_at = None, now
                record.locked_until, record.expires_at = claimed_until, now + self.ttl
                return record.id, None
            if record.request_hash != digest:
                raise Problem(422, "idempotency-key-reused",
                              "This Idempotency-Key was used with a different request body.",
                              errors=[{"in": "header", "field": "Idempotency-Key", "pointer": None,
                                       "code": "reused", "reason": "used before with another body"}])
            if record.status_code is not None:
                return record.id, (record.status_code, record.response_body or b"", record.response_headers or {})
            if record.locked_until > now:
                raise Problem(409, "idempotency-key-in-flight",
                              "A request with this Idempotency-Key is still being processed.",
                              headers={"Retry-After": "1"})
            record.locked_until = claimed_until  # the first attempt died: take the key over
            return record.id, None

    @staticmethod
    def _subject(app_state: Any, headers: dict[bytes, bytes]) -> str | None:
        auth = headers.get(b"authorization")
        if auth is None:
            return "public"
        scheme, _, token = auth.decode("latin-1").partition(" ")
        if scheme.lower() != "bearer":
            return None
        try:
            return str(app_state.verifier.verify(token.strip()).sub)
        except Problem:
            return None


CLAIM_SCOPE_KEY = "hitech.idempotency"


def _stored_headers(headers: Sequence[tuple[bytes, bytes]]) -> str:
    return json.dumps({k.decode(): v.decode("latin-1") for k, v in headers if k.lower() in _REPLAYED_HEADERS})


@dataclass(slots=True, eq=False)
class Claim:
    """The Idempotency-Key of this request (scope[CLAIM_SCOPE_KEY]). Claimed before the route runs (by the
    middleware, or by `IdempotencyGate` in front of the router), so that a concurrent duplicate sees it in
    flight. A handler that writes in a transaction of its own on the driver, before the gate, records its
    answer there instead (`record`, then `committed()` once that transaction has committed): the key is
    inserted with its answer, in one statement, and commits with the write; when the key is already
    there (an answer to replay, a request in flight, another body) the handler rolls back and hands the
    request on, and the gate answers as for any route."""

    statements: _Statements
    middleware: IdempotencyMiddleware
    db: Any
    model: Any
    scope: tuple[str, str, str, str, str]  # sub, method, path, key, request digest
    created_at: dt.datetime
    lease_until: dt.datetime
    send: Send
    record_id: int | None = None  # the row this request holds, once claimed
    recorded: bool = False  # the answer is stored
    answered: bool = False  # the claim sent the answer itself (replay, 409, 422)

    @property
    def fence(self) -> Any:
        """The lease this claim set (locked_until), in its stored form: a takeover sets another."""
        return self.statements.timestamp(self.lease_until)

    async def acquire(self) -> bool:
        """Claim the key now: True when this request holds it; False when the answer was sent instead."""
        return await self.middleware._acquire(self)

    async def record(self, driver: Any, status: int, body: bytes, headers: Sequence[tuple[bytes, bytes]]) -> bool:
        """Store the answer on `driver` (in the caller's transaction, if it has one). Unclaimed: insert the
        key with it, False (nothing written) when the key is already there."""
        sql = self.statements
        if self.record_id is not None:
            await sql.run(driver, sql.complete, status, body, _stored_headers(headers), self.record_id, self.fence)
            return True
        return await sql.value(driver, sql.claim_answered, *self.answered_values(status, body, headers)) is not None

    def answered_values(self, status: int, body: bytes, headers: Sequence[tuple[bytes, bytes]]) -> list[Any]:
        """The parameters of `statements.claim_answered_from`: an unclaimed key inserted with its answer, as
        part of the handler's own write (its RETURNING id is NULL when the key is already there)."""
        sql = self.statements
        return [*self.scope, sql.timestamp(self.created_at), self.fence,
                sql.timestamp(self.created_at + self.middleware.ttl), status, body, _stored_headers(headers)]

    def committed(self) -> None:
        self.recorded = True


class IdempotencyGate:
    """Innermost, in front of the router: claims the key of a request that no handler before it recorded
    (`Claim.acquire`), and answers a replay or a refusal without running the route."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        claim: Claim | None = scope.get(CLAIM_SCOPE_KEY)
        if claim is not None and claim.record_id is None and not claim.recorded and not claim.answered:
            if not await claim.acquire():
                return
        await self.app(scope, receive, send)


class _Statements:
    """A new key's three statements as SQL of the dialect, run on the driver connection
    (shared.db.Database.driver_connection): each is one statement that commits by itself, one round trip,
    without BEGIN/COMMIT or SQLAlchemy's per-statement work; the rare paths (a key seen before) stay on
    the ORM. The stored forms are those of the model's types: SQLite keeps UTCDateTime as naive UTC text
    in SQLAlchemy's format (the lease fence compares it for equality) and JSON as text; asyncpg takes
    aware datetimes, and JSONB as text through the codec SQLAlchemy installs on its connections."""

    def __init__(self, dialect: str, table: str) -> None:
        self.sqlite = dialect == "sqlite"
        p = (lambda n: "?") if self.sqlite else (lambda n: f"${n}")
        columns = "scope_sub, method, path, key, request_hash, created_at, locked_until, expires_at"
        self.table, self.columns = table, columns
        self.claim = (f"INSERT INTO {table} ({columns}) VALUES ({', '.join(p(n) for n in range(1, 9))}) "
                      "ON CONFLICT (scope_sub, method, path, key) DO NOTHING RETURNING id")
        self.claim_answered = self.claim_answered_from(1)
        self.complete = (f"UPDATE {table} SET status_code = {p(1)}, response_body = {p(2)}, response_headers = {p(3)} "
                         f"WHERE id = {p(4)} AND status_code IS NULL AND locked_until = {p(5)}")
        self.free = f"DELETE FROM {table} WHERE id = {p(1)} AND status_code IS NULL AND locked_until = {p(2)}"
        self.expire = f"DELETE FROM {table} WHERE expires_at < {p(1)}"

    def claim_answered_from(self, first: int) -> str:
        """The key inserted with its answer, its 11 parameters numbered from `first` (within a larger
        statement on PostgreSQL: shared.rows.write_together)."""
        holders = ", ".join("?" if self.sqlite else f"${n}" for n in range(first, first + 11))
        return (f"INSERT INTO {self.table} ({self.columns}, status_code, response_body, response_headers) "
                f"VALUES ({holders}) ON CONFLICT (scope_sub, method, path, key) DO NOTHING RETURNING id")

    def timestamp(self, value: dt.datetime) -> Any:
        utc = value.astimezone(dt.UTC)
        return utc.replace(tzinfo=None).strftime("%Y-%m-%d %H:%M:%S.%f") if self.sqlite else utc

    async def run(self, driver: Any, sql: str, *args: Any) -> None:
        if self.sqlite:
            await (await driver.execute(sql, args)).close()
        else:
            await driver.execute(sql, *args)

    async def value(self, driver: Any, sql: str, *args: Any) -> Any:
        """The first column of the first row, or None."""
        if not self.sqlite:
            return await driver.fetchval(sql, *args)
        cursor = await driver.execute(sql, args)
        try:
            row = await cursor.fetchone()
        finally:
            await cursor.close()
        return None if row is None else row[0]


@functools.cache
def _statements(dialect: str, table: str) -> _Statements:
    return _Statements(dialect, table)


def _replay(body: bytes) -> Receive:
    sent = False

    async def receive() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return {"type": "http.disconnect"}

    return receive
