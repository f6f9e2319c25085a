"""The hot lanes of GET /applications/{id} and POST /applications/{id}/transitions/{name}, as pure ASGI in
front of the router (as the registry's zones/hot.py): the platforms read an application before nearly
every command, for its ETag, and transitions are the workflow's most frequent write (issue #6 §11: FastAPI's
routing, dependencies and ORM session cost more than the transition's own statements). The FastAPI routes
(endpoints.py) stay the definition, documented in the OpenAPI and answering every error; a lane answers
only the plain, successful form (a valid bearer token, no query string, for a transition a JSON body the
route would accept) with the same bytes and headers, through the same code (the store's read,
`transitions.take`), and hands everything else to the app unchanged. A transition that the lane cannot
take (any refusal, a concurrent write) is rolled back and handed to the route with its body, which takes
it again or answers why not. tests/workflow/test_hot_reads.py checks both ways answer alike."""

from __future__ import annotations

import json
import re
from typing import Any

from pydantic import ValidationError
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from services.workflow.applications import service, transitions
from services.workflow.applications.schemas import TransitionRequest
from services.workflow.applications.store import TransitionStore
from shared.auth import Principal
from shared.db import Database
from shared.idempotency import CLAIM_SCOPE_KEY, Claim
from shared.problems import Problem

_PATH = re.compile(r"^/applications/([1-9][0-9]{0,9})$")
_TRANSITION = re.compile(r"^/applications/([1-9][0-9]{0,9})/transitions/([a-z][a-z_]{1,39})$")  # the route's
_JSON = (b"content-type", b"application/json")
MAX_ID = 2**31 - 1  # the route's bound


def _principal(scope: Scope) -> Principal | None:
    """The caller of a bearer token verified as the routes verify it; None without one (the route answers)."""
    auth = [v for k, v in scope["headers"] if k == b"authorization"]
    if len(auth) != 1:
        return None
    scheme, _, token = auth[0].decode("latin-1").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    try:
        principal: Principal = scope["app"].state.verifier.verify(token.strip())
    except Problem:  # 401: the route answers it
        return None
    return principal


def _headers(body: bytes, etag: str) -> list[tuple[bytes, bytes]]:
    return [(b"etag", etag.encode()), (b"content-length", str(len(body)).encode()), _JSON]


async def _answer(send: Send, body: bytes, etag: str) -> None:
    await send({"type": "http.response.start", "status": 200, "headers": _headers(body, etag)})
    await send({"type": "http.response.body", "body": body})


class HotApplicationReads:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (scope["type"] == "http" and scope["method"] == "GET" and not scope["query_string"]
                and not scope.get("root_path") and (m := _PATH.match(scope["path"])) and int(m[1]) <= MAX_ID):
            answer = await self._answer(scope, int(m[1]))
            if answer is not None:
                await _answer(send, *answer)
                return
        await self.app(scope, receive, send)

    @staticmethod
    async def _answer(scope: Scope, application_id: int) -> tuple[bytes, str] | None:
        principal = _principal(scope)
        if principal is None:
            return None
        db: Database = scope["app"].state.db
        try:
            async with db.driver_connection() as driver:
                app, experts = await TransitionStore(driver, db.dialect).readable(principal, application_id,
                                                                                  for_update=False)
        except Problem:  # 403 / 404: the route answers them
            return None
        return service.out(app, experts).model_dump_json().encode(), service.etag(app)


class HotTransitions:
    """POST /applications/{id}/transitions/{name}: `transitions.take` in a driver transaction of its own
    (shared.db `driver_transaction`) instead of the route's ORM session; the Idempotency-Key, body-size and
    request-id middleware are outside, as for the route."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (scope["type"] == "http" and scope["method"] == "POST" and not scope["query_string"]
                and not scope.get("root_path") and (m := _TRANSITION.match(scope["path"]))
                and int(m[1]) <= MAX_ID):
            body, disconnect = await _read_body(receive)
            answer = None if disconnect else await self._take(scope, int(m[1]), m[2], body)
            if answer is not None:
                await _answer(send, *answer)
                return
            receive = _replay(body, disconnect, receive)
        await self.app(scope, receive, send)

    @staticmethod
    async def _take(scope: Scope, application_id: int, name: str, body: bytes) -> tuple[bytes, str] | None:
        principal = _principal(scope)
        request = _body_of(scope, body)
        if principal is None or request is None:
            return None
        db: Database = scope["app"].state.db
        claim: Claim | None = scope.get(CLAIM_SCOPE_KEY)  # an Idempotency-Key this request holds
        try:
            async with db.driver_transaction() as driver:
                app, experts = await transitions.take(TransitionStore(driver, db.dialect), Request(scope),
                                                      principal, application_id, name, request)
                answer = service.out(app, experts).model_dump_json().encode(), service.etag(app)
                if claim is not None:  # the answer remembered with the transition, in its transaction
                    await claim.record(driver, 200, answer[0], _headers(*answer))
        except Problem:  # refused, or a concurrent write first: rolled back; the route answers
            return None
        if claim is not None:
            claim.committed()
        return answer


def _body_of(scope: Scope, body: bytes) -> TransitionRequest | None:
    """The body as the route reads it (a JSON object validated in Python mode, as FastAPI does; none at all
    is the empty request); None for anything else (another content type, invalid JSON, a 422)."""
    types = [v for k, v in scope["headers"] if k == b"content-type"]
    if not body and not types:
        return TransitionRequest()
    if len(types) != 1 or types[0].split(b";")[0].strip().lower() != b"application/json":
        return None
    try:
        parsed: Any = json.loads(body)
        return TransitionRequest.model_validate(parsed) if isinstance(parsed, dict) else None
    except (ValueError, ValidationError):  # UnicodeDecodeError and JSONDecodeError are ValueErrors
        return None


async def _read_body(receive: Receive) -> tuple[bytes, Message | None]:
    """The whole body, or what came of it before the client disconnected, and the disconnect."""
    chunks: list[bytes] = []
    while True:
        message = await receive()
        if message["type"] != "http.request":
            return b"".join(chunks), message
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            return b"".join(chunks), None


def _replay(body: bytes, disconnect: Message | None, receive: Receive) -> Receive:
    """For the route: the body the lane read, then the disconnect it saw, then the client's own messages."""
    pending: list[Message] = [{"type": "http.request", "body": body, "more_body": disconnect is not None}]
    if disconnect is not None:
        pending.append(disconnect)

    async def replayed() -> Message:
        return pending.pop(0) if pending else await receive()

    return replayed
