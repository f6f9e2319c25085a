"""The hot lane of GET /applications/{id}, as pure ASGI in front of the router (as the registry's
zones/hot.py): the platforms read an application before nearly every command, for its ETag. The FastAPI
route (endpoints.py) stays the definition, documented in the OpenAPI and answering every error; this
middleware answers only the plain, successful form (a valid bearer token of a reader allowed to see the
application, no query string) with the same bytes and headers, through the same store read, and hands
everything else to the app unchanged. tests/workflow/test_hot_reads.py checks both ways answer alike."""

from __future__ import annotations

import re

from starlette.types import ASGIApp, Receive, Scope, Send

from services.workflow.applications import service
from services.workflow.applications.store import TransitionStore
from shared.db import Database
from shared.problems import Problem

_PATH = re.compile(r"^/applications/([1-9][0-9]{0,9})$")
_JSON = (b"content-type", b"application/json")
MAX_ID = 2**31 - 1  # the route's bound


class HotApplicationReads:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (scope["type"] == "http" and scope["method"] == "GET" and not scope["query_string"]
                and not scope.get("root_path") and (m := _PATH.match(scope["path"])) and int(m[1]) <= MAX_ID):
            answer = await self._answer(scope, int(m[1]))
            if answer is not None:
                body, etag = answer
                await send({"type": "http.response.start", "status": 200, "headers": [
                    (b"etag", etag.encode()), (b"content-length", str(len(body)).encode()), _JSON]})
                await send({"type": "http.response.body", "body": body})
                return
        await self.app(scope, receive, send)

    @staticmethod
    async def _answer(scope: Scope, application_id: int) -> tuple[bytes, str] | None:
        auth = [v for k, v in scope["headers"] if k == b"authorization"]
        if len(auth) != 1:
            return None
        scheme, _, token = auth[0].decode("latin-1").partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            return None
        state = scope["app"].state
        try:
            principal = state.verifier.verify(token.strip())
            db: Database = state.db
            async with db.driver_connection() as driver:
                app, experts = await TransitionStore(driver, db.dialect).readable(principal, application_id,
                                                                                  for_update=False)
        except Problem:  # 401 / 403 / 404: the route answers them
            return None
        return service.out(app, experts).model_dump_json().encode(), service.etag(app)
