"""The hot lane of the registry's two most frequent requests, as pure ASGI in front of the router.

GET /zones/{code} and GET /zones without as_of/known_at are what portals and peers call all day. Their
FastAPI routes (endpoints.py) stay the definition: they are documented in the OpenAPI, validate every
parameter and answer every error. FastAPI's per-request machinery (route matching over all routes,
parameter models, dependency solving, Request/Response objects) costs about as much CPU as the read
itself, so this middleware answers the plain, valid form of these two requests directly with the same
service calls and the same bytes and headers, and hands everything else to the app unchanged: another
method or path, an unknown, repeated, blank or invalid parameter, as_of/known_at, a zone that is not
found (the route then answers the 404 problem). tests/registry/test_zone_reads.py checks that both ways
give the same answer."""

from __future__ import annotations

from urllib.parse import parse_qsl

from starlette.types import ASGIApp, Receive, Scope, Send

from services.contracts import ZONE_CODE_RE
from services.registry.zones import service
from services.registry.zones.endpoints import ZoneQuery
from shared.db import Database
from shared.http import DEFAULT_LIMIT, MAX_LIMIT
from shared.problems import Problem

_LIST_VALUES = frozenset({"league", "kind", "level", "status"})
_LIST_SCALARS = frozenset({"q", "cursor", "limit"})
_JSON = (b"content-type", b"application/json")


class HotReads:
    """Pure ASGI: answers plain current-state zone reads; passes everything else to `app`."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] == "GET" and not scope.get("root_path"):
            path: str = scope["path"]
            db: Database = scope["app"].state.db
            answer: tuple[bytes, list[tuple[bytes, bytes]]] | None = None
            if path == "/zones":
                answer = await self._page(db, scope["query_string"])
            elif path.startswith("/zones/") and not scope["query_string"] and ZONE_CODE_RE.match(path[7:]):
                found = await service.current_zone_json(db, path[7:])
                if found is not None:
                    answer = found[0], [(b"etag", found[1].encode())]
            if answer is not None:
                body, headers = answer
                headers += [(b"content-length", str(len(body)).encode()), _JSON]
                await send({"type": "http.response.start", "status": 200, "headers": headers})
                await send({"type": "http.response.body", "body": body})
                return
        await self.app(scope, receive, send)

    @staticmethod
    async def _page(db: Database, query_string: bytes) -> tuple[bytes, list[tuple[bytes, bytes]]] | None:
        values: dict[str, list[str]] = {name: [] for name in _LIST_VALUES}
        scalars: dict[str, str] = {}
        for key, value in parse_qsl(query_string.decode("latin-1"), keep_blank_values=True):
            if key in _LIST_VALUES and value:
                values[key].append(value)
            elif key in _LIST_SCALARS and key not in scalars and value:
                scalars[key] = value
            else:  # as_of, known_at, an unknown, repeated or blank parameter: the route decides
                return None
        limit = scalars.get("limit", str(DEFAULT_LIMIT))
        q, cursor = scalars.get("q"), scalars.get("cursor")
        if not (limit.isascii() and limit.isdigit() and 1 <= int(limit) <= MAX_LIMIT) or len(q or "") > 100 \
                or len(cursor or "") > 500:
            return None
        try:  # the route's own parsing and checks
            query = ZoneQuery(**values, q=q)  # type: ignore[arg-type]
            after = service.after_code(cursor)
        except Problem:
            return None
        return await service.current_page_json(db, query.filters, after, int(limit)), []
