"""The hot lanes of GET /applications/{id}, POST /applications/{id}/transitions/{name} and the panel's
POST /applications/{id}/opinions and /experts, as pure ASGI in front of the router (as the registry's
zones/hot.py): the platforms read an application before nearly every command, for its ETag, transitions
are the workflow's most frequent write, and every round brings an opinion from each expert (issue #6 §11:
FastAPI's routing, dependencies and ORM session cost more than the write's own statements). The FastAPI
routes stay the definition, documented in the OpenAPI and answering every error; a lane answers only the
plain, successful form (a valid bearer token of the route's role, no query string, a JSON body the route
would accept) with the same bytes and headers, through the same code (the store's read,
`transitions.take`, `panel.service.give` / `assign`), and hands everything else to the app unchanged. A
write that the lane cannot make (any refusal, a concurrent write) is rolled back and handed to the route
with its body, which makes it again or answers why not. tests/workflow/test_hot_reads.py checks both ways
answer alike."""

from __future__ import annotations

import json
import re
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from services.workflow.applications import service, transitions
from services.workflow.applications.schemas import TransitionRequest
from services.workflow.applications.store import TransitionStore
from services.workflow.panel import service as panel
from services.workflow.panel.schemas import AssignmentCreate, OpinionCreate
from shared.auth import Principal, Role
from shared.db import Database
from shared.idempotency import CLAIM_SCOPE_KEY, Claim
from shared.problems import Problem

_PATH = re.compile(r"^/applications/([1-9][0-9]{0,9})$")
_TRANSITION = re.compile(r"^/applications/([1-9][0-9]{0,9})/transitions/([a-z][a-z_]{1,39})$")  # the route's
_PANEL = re.compile(r"^/applications/([1-9][0-9]{0,9})/(opinions|experts)$")
_JSON = (b"content-type", b"application/json")
M = TypeVar("M", bound=BaseModel)
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


class _PostLane:
    """A POST lane: the path's pattern, then `_handle` answers (status, body, headers) or None for the route.
    The Idempotency-Key, body-size and request-id middleware are outside, as for the route."""

    pattern: re.Pattern[str]

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (scope["type"] == "http" and scope["method"] == "POST" and not scope["query_string"]
                and not scope.get("root_path") and (m := self.pattern.match(scope["path"]))
                and int(m[1]) <= MAX_ID):
            body, disconnect = await _read_body(receive)
            answer = None if disconnect else await self._handle(scope, m, body)
            if answer is not None:
                status, content, headers = answer
                await send({"type": "http.response.start", "status": status, "headers": headers})
                await send({"type": "http.response.body", "body": content})
                return
            receive = _replay(body, disconnect, receive)
        await self.app(scope, receive, send)

    async def _handle(self, scope: Scope, m: re.Match[str], body: bytes
                      ) -> tuple[int, bytes, list[tuple[bytes, bytes]]] | None:
        raise NotImplementedError


async def _committed(scope: Scope, status: int,
                     work: Callable[[TransitionStore], Awaitable[tuple[bytes, list[tuple[bytes, bytes]]]]],
                     *, answer_in_write: bool = False) -> tuple[int, bytes, list[tuple[bytes, bytes]]] | None:
    """`work` in a driver transaction of its own (shared.db `driver_transaction`) instead of the route's ORM
    session, with the Idempotency-Key and its answer inserted in it; None when it raised a Problem (refused,
    or a concurrent write first) or the key was already there (a replay, in flight, another body): rolled
    back, and the route answers (its gate claims the key first). With `answer_in_write` (the answer needs
    nothing the write returns), the write waits for the answer and the key goes in the same statement."""
    db: Database = scope["app"].state.db
    claim: Claim | None = scope.get(CLAIM_SCOPE_KEY)  # the request's Idempotency-Key
    try:
        async with db.driver_transaction() as driver:
            store = TransitionStore(driver, db.dialect)
            store.defer_flush = answer_in_write
            content, headers = await work(store)
            in_write = claim is not None and claim.record_id is None and store.deferred
            also = [(claim.statements.claim_answered_from, claim.answered_values(status, content, headers))
                    ] if claim is not None and in_write else []
            inserted = await store.finish(also)
            if claim is not None:
                recorded = inserted is not None and inserted[0] is not None if in_write else await claim.record(
                    driver, status, content, headers)
                if not recorded:  # never sent: rolls the write back
                    raise Problem(409, "idempotency-key-taken", "Used before.")
    except Problem:
        return None
    if claim is not None:
        claim.committed()
    return status, content, headers


class HotTransitions(_PostLane):
    """POST /applications/{id}/transitions/{name}: `transitions.take` on the driver."""

    pattern = _TRANSITION

    async def _handle(self, scope: Scope, m: re.Match[str], body: bytes
                      ) -> tuple[int, bytes, list[tuple[bytes, bytes]]] | None:
        answer = await self._take(scope, int(m[1]), m[2], body)
        return None if answer is None else (200, answer[0], _headers(*answer))

    @staticmethod
    async def _take(scope: Scope, application_id: int, name: str, body: bytes) -> tuple[bytes, str] | None:
        principal = _principal(scope)
        request = _body_of(scope, body, TransitionRequest, empty=TransitionRequest())
        if principal is None or request is None:
            return None

        etag = ""

        async def take(store: TransitionStore) -> tuple[bytes, list[tuple[bytes, bytes]]]:
            nonlocal etag
            app, experts = await transitions.take(store, Request(scope), principal, application_id, name, request)
            content, etag = service.out(app, experts).model_dump_json().encode(), service.etag(app)
            return content, _headers(content, etag)

        answer = await _committed(scope, 200, take, answer_in_write=True)
        return None if answer is None else (answer[1], etag)


class HotPanel(_PostLane):
    """POST /applications/{id}/opinions (an expert) and POST /applications/{id}/experts (st_department): the
    panel's writes, `panel.service.give` / `assign` on the driver, 201 with the route's body."""

    pattern = _PANEL

    async def _handle(self, scope: Scope, m: re.Match[str], body: bytes
                      ) -> tuple[int, bytes, list[tuple[bytes, bytes]]] | None:
        principal = _principal(scope)
        application_id = int(m[1])
        work: Callable[[TransitionStore], Awaitable[BaseModel]]
        if m[2] == "opinions":
            opinion = _body_of(scope, body, OpinionCreate)
            if principal is None or principal.role != Role.expert or opinion is None:
                return None

            def work(store: TransitionStore) -> Awaitable[BaseModel]:
                return panel.give(store, principal, application_id, opinion)
        else:
            assignment = _body_of(scope, body, AssignmentCreate)
            if principal is None or principal.role != Role.st_department or assignment is None:
                return None

            def work(store: TransitionStore) -> Awaitable[BaseModel]:
                return panel.assign(store, principal, application_id, assignment.expert_sub)

        async def answered(store: TransitionStore) -> tuple[bytes, list[tuple[bytes, bytes]]]:
            content = (await work(store)).model_dump_json().encode()
            return content, [(b"content-length", str(len(content)).encode()), _JSON]

        return await _committed(scope, 201, answered)


def _body_of(scope: Scope, body: bytes, model: type[M], empty: M | None = None) -> M | None:
    """The body as the route reads it (a JSON object validated in Python mode, as FastAPI does; none at all
    is `empty`, when the route takes that); None for anything else (another content type, invalid JSON,
    a 422)."""
    types = [v for k, v in scope["headers"] if k == b"content-type"]
    if not body and not types:
        return empty
    if len(types) != 1 or types[0].split(b";")[0].strip().lower() != b"application/json":
        return None
    try:
        parsed: Any = json.loads(body)
        return model.model_validate(parsed) if isinstance(parsed, dict) else None
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
