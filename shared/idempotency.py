"""Idempotency-Key, one implementation (contracts): scope (sub, method, path), kept 24 h; a replay
returns the original status and body (checked before If-Match, since it runs before the route);
same key with another body → 422; same key still in flight → 409.

The key row is claimed in its own short transaction before the route runs and completed after it:
a crash between the route's commit and the completion leaves the key in flight until its lease
(`lease_seconds`) runs out, after which a retry runs the request again."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import random
import re
from typing import Any

from sqlalchemy import Integer, LargeBinary, String, UniqueConstraint, delete, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
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
                 lease_seconds: int = 60) -> None:
        self.app = app
        self.ttl = ttl
        self.lease = dt.timedelta(seconds=lease_seconds)

    async def _send_problem(self, send: Send, scope: Scope, problem: Problem) -> None:
        body = _problem_bytes(problem, scope["path"])
        await send({"type": "http.response.start", "status": problem.status,
                    "headers": [(b"content-type", b"application/problem+json"),
                                (b"content-length", str(len(body)).encode())]})
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
            await self._send_problem(send, scope, Problem(
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

        # 1. claim the key (its own short transaction, so a concurrent duplicate sees it in flight): one
        # INSERT … ON CONFLICT DO NOTHING RETURNING; only a key seen before takes the slower path
        now = utcnow()
        claimed_until = now + self.lease  # also identifies this claim: a takeover sets another value
        try:
            record_id = await self._insert_claim(db, model, sub, method, path, key, digest, now, claimed_until)
            replay = None
            if record_id is None:
                record_id, replay = await self._claim_existing(db, model, sub, method, path, key, digest, now,
                                                               claimed_until)
        except IntegrityError:
            await self._send_problem(send, scope, Problem(
                409, "idempotency-key-in-flight", "A request with this Idempotency-Key is still being processed.",
                headers={"Retry-After": "1"}))
            return
        except Problem as problem:
            await self._send_problem(send, scope, problem)
            return

        if replay is not None:
            status, stored_body, stored_headers = replay
            out_headers = [(k.encode(), v.encode()) for k, v in stored_headers.items()]
            out_headers += [(b"idempotent-replayed", b"true"), (b"content-length", str(len(stored_body)).encode())]
            await send({"type": "http.response.start", "status": status, "headers": out_headers})
            await send({"type": "http.response.body", "body": stored_body})
            return

        # 2. run the request, capturing the answer
        captured: dict[str, Any] = {"status": 500, "headers": [], "body": []}

        async def capture(message: Message) -> None:
            if message["type"] == "http.response.start":
                captured["status"] = message["status"]
                captured["headers"] = message.get("headers", [])
            elif message["type"] == "http.response.body":
                captured["body"].append(message.get("body", b""))
            await send(message)

        try:
            await self.app(scope, _replay(body), capture)
        finally:
            # 3. remember the answer (or free the key after a server error, so a retry may run): one
            # statement, fenced by our claim (a takeover after our lease ran out set another locked_until)
            status = captured["status"]
            mine = (model.id == record_id, model.status_code.is_(None), model.locked_until == claimed_until)
            if status >= 500:
                statement: Any = delete(model).where(*mine)
            else:
                statement = update(model).where(*mine).values(
                    status_code=status, response_body=b"".join(captured["body"]),
                    response_headers={k.decode(): v.decode("latin-1") for k, v in captured["headers"]
                                      if k.lower() in _REPLAYED_HEADERS})
            async with db.engine.execution_options(sqlite_immediate=True).begin() as conn:
                await conn.execute(statement)

    async def _insert_claim(self, db: Any, model: Any, sub: str, method: str, path: str, key: str, digest: str,
                            now: dt.datetime, claimed_until: dt.datetime) -> int | None:
        """The new key's row id, or None when (sub, method, path, key) is already there."""
        insert = pg_insert if db.dialect == "postgresql" else sqlite_insert
        statement = insert(model).values(
            scope_sub=sub, method=method, path=path, key=key, request_hash=digest, created_at=now,
            locked_until=claimed_until, expires_at=now + self.ttl,
        ).on_conflict_do_nothing(index_elements=["scope_sub", "method", "path", "key"]).returning(model.id)
        async with db.engine.execution_options(sqlite_immediate=True).begin() as conn:
            if random.random() < 0.01:  # expired keys go now and then
                await conn.execute(delete(model).where(model.expires_at < now))
            return (await conn.execute(statement)).scalar_one_or_none()

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


def _replay(body: bytes) -> Receive:
    sent = False

    async def receive() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return {"type": "http.disconnect"}

    return receive
