"""structlog JSON logs bound to the request id, the X-Request-ID middleware and the body-size limit
(both plain ASGI, so they cost almost nothing per request)."""

from __future__ import annotations

import itertools
import json
import logging
import os
import re
import time
from contextvars import ContextVar
from typing import Any

import structlog
from fastapi import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

request_id_var: ContextVar[str | None] = ContextVar("request_id", default=None)
_VALID_ID = re.compile(r"^[A-Za-z0-9._:\-]{1,128}$")
# New request ids: 32 hex digits, a random per-process prefix and a counter. Not uuid4() per request:
# os.urandom is a system call that releases the GIL, which cost ~0.1 ms a request beside aiosqlite's threads.
_ID_PREFIX = os.urandom(8).hex()
_ID_COUNTER = itertools.count(1)


def _new_id_prefix() -> None:  # a forked worker must not repeat its parent's ids
    global _ID_PREFIX, _ID_COUNTER
    _ID_PREFIX, _ID_COUNTER = os.urandom(8).hex(), itertools.count(1)


os.register_at_fork(after_in_child=_new_id_prefix)


def new_request_id() -> str:
    return f"{_ID_PREFIX}{next(_ID_COUNTER) & 0xFFFFFFFFFFFFFFFF:016x}"


def configure_logging(level: str = "INFO", json_logs: bool = True) -> None:
    processors: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        structlog.processors.StackInfoRenderer(),
        structlog.processors.format_exc_info,
    ]
    processors.append(structlog.processors.JSONRenderer(ensure_ascii=False) if json_logs
                      else structlog.dev.ConsoleRenderer())
    structlog.configure(
        processors=processors,
        wrapper_class=structlog.make_filtering_bound_logger(logging.getLevelName(level.upper())),
        cache_logger_on_first_use=True,
    )


class RequestIdMiddleware:
    """Takes X-Request-ID from the caller (or makes one), binds it to logs, returns it, logs the request."""

    def __init__(self, app: ASGIApp, *, access_log: bool = True) -> None:
        self.app = app
        self.access_log = access_log
        self.log = structlog.get_logger("access")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        incoming = None
        for k, v in scope["headers"]:
            if k == b"x-request-id":
                incoming = v.decode("latin-1")
                break
        rid = incoming if incoming and _VALID_ID.match(incoming) else new_request_id()
        scope.setdefault("state", {})["request_id"] = rid
        token = request_id_var.set(rid)
        structlog.contextvars.bind_contextvars(request_id=rid)
        status = 500
        start = time.perf_counter()

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message.setdefault("headers", [])
                message["headers"] = [*message["headers"], (b"x-request-id", rid.encode())]
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            if self.access_log:
                self.log.info("request", method=scope["method"], path=scope["path"], status=status,
                              ms=round((time.perf_counter() - start) * 1000, 2))
            structlog.contextvars.unbind_contextvars("request_id")
            request_id_var.reset(token)


class TrackedSend:
    """An ASGI `send` that remembers whether the response has started (then an error can no longer be
    answered with a response of its own)."""

    def __init__(self, send: Send) -> None:
        self.send = send
        self.started = False

    async def __call__(self, message: Message) -> None:
        if message["type"] == "http.response.start":
            self.started = True
        await self.send(message)


class BodySizeLimitMiddleware:
    """Refuses bodies larger than `max_bytes` with 413 problem+json, before the route reads them."""

    def __init__(self, app: ASGIApp, *, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def _reject(self, scope: Scope, send: Send) -> None:
        body = json.dumps({
            "type": "urn:hitech-zones:problem:payload-too-large", "title": "Content Too Large", "status": 413,
            "detail": f"The request body exceeds the limit of {self.max_bytes} bytes.",
            "instance": scope["path"], "code": "payload-too-large",
            "errors": [{"in": "body", "field": "body", "pointer": "#/", "code": "payload-too-large",
                        "reason": f"larger than {self.max_bytes} bytes"}],
        }).encode()
        await send({"type": "http.response.start", "status": 413,
                    "headers": [(b"content-type", b"application/problem+json"),
                                (b"content-length", str(len(body)).encode())]})
        await send({"type": "http.response.body", "body": body})

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        for k, v in scope["headers"]:
            if k == b"content-length":
                try:
                    too_big = int(v) > self.max_bytes
                except ValueError:
                    too_big = False
                if too_big:
                    await self._reject(scope, send)
                    return
        if scope["method"] in ("GET", "HEAD"):  # no route reads a body here: nothing to count
            await self.app(scope, receive, send)
            return
        received = 0
        tracked = TrackedSend(send)

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    raise _TooLarge(self.max_bytes)
            return message

        try:
            await self.app(scope, limited_receive, tracked)
        except _TooLarge:
            if not tracked.started:
                await self._reject(scope, send)


class _TooLarge(HTTPException):
    """Raised from receive(); an HTTPException so that FastAPI's body parsing re-raises it as is."""

    def __init__(self, max_bytes: int) -> None:
        super().__init__(413, f"The request body exceeds the limit of {max_bytes} bytes.")
