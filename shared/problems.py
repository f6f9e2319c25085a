"""RFC 9457 problem details: the one error type of the project and the handlers that render every
4xx/5xx as application/problem+json (FastAPI's default 422 body never leaves a service)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from http import HTTPStatus
from typing import Any

import asyncpg
import structlog
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import TimeoutError as PoolTimeout
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import BaseRoute, Match

from shared.logging import TrackedSend

PROBLEM_MEDIA_TYPE = "application/problem+json"
TYPE_PREFIX = "urn:hitech-zones:problem:"

log = structlog.get_logger("problems")


def field_error(
    field: str | Sequence[str | int], reason: str, code: str, *, location: str = "body", **extra: Any
) -> dict[str, Any]:
    """One entry of a problem's `errors`: the field (dotted and as JSON pointer), a stable code, why."""
    parts = [field] if isinstance(field, str) else list(field)
    pointer = "#/" + "/".join(str(p).replace("~", "~0").replace("/", "~1") for p in parts)
    entry: dict[str, Any] = {
        "in": location,
        "field": ".".join(str(p) for p in parts),
        "pointer": pointer if location == "body" else None,
        "code": code,
        "reason": reason,
    }
    entry.update(extra)
    return entry


class Problem(Exception):
    """An error with its HTTP status. `code` is a stable slug that also forms the `type` URI."""

    def __init__(
        self,
        status: int,
        code: str,
        detail: str,
        *,
        title: str | None = None,
        errors: list[dict[str, Any]] | None = None,
        headers: dict[str, str] | None = None,
        **extra: Any,
    ) -> None:
        super().__init__(detail)
        self.status = status
        self.code = code
        self.detail = detail
        self.title = title or HTTPStatus(status).phrase
        self.errors = errors
        self.headers = headers or {}
        self.extra = extra

    def body(self, instance: str) -> dict[str, Any]:
        body: dict[str, Any] = {
            "type": TYPE_PREFIX + self.code,
            "title": self.title,
            "status": self.status,
            "detail": self.detail,
            "instance": instance,
            "code": self.code,
        }
        if self.errors is not None:
            body["errors"] = self.errors
        body.update({k: v for k, v in self.extra.items() if k not in body})  # never shadow a standard member
        return body


def problem_response(request: Request, problem: Problem) -> JSONResponse:
    body = problem.body(request.url.path)
    request_id = getattr(request.state, "request_id", None)
    if request_id:
        body.setdefault("request_id", request_id)
    return JSONResponse(body, status_code=problem.status, media_type=PROBLEM_MEDIA_TYPE, headers=problem.headers)


_LOCATIONS = {"body", "query", "path", "header", "cookie"}


def validation_errors(raw: Sequence[Any]) -> list[dict[str, Any]]:
    """Pydantic/FastAPI error list → our `errors` entries (body fields as JSON pointers)."""
    out = []
    for err in raw:
        loc = list(err.get("loc", ()))
        location = str(loc[0]) if loc and loc[0] in _LOCATIONS else "body"
        if loc and loc[0] in _LOCATIONS:
            loc = loc[1:]
        reason = str(err.get("msg", "invalid"))
        if reason.startswith("Value error, "):
            reason = reason[len("Value error, ") :]
        out.append(field_error([str(p) for p in loc] or [location], reason, str(err.get("type", "invalid")),
                               location=location))
    return out


async def _on_problem(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, Problem)
    return problem_response(request, exc)


async def _on_validation(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    errors = validation_errors(exc.errors())
    if any(e["code"] == "json_invalid" for e in errors):
        return problem_response(request, Problem(400, "malformed-json", "The request body is not valid JSON.",
                                                 errors=errors))
    fields = ", ".join(e["field"] for e in errors[:5])
    return problem_response(
        request, Problem(422, "validation-failed", f"The request is not valid: {fields}.", errors=errors)
    )


async def _on_http(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    code = {404: "not-found", 405: "method-not-allowed", 401: "unauthenticated", 403: "forbidden",
            413: "payload-too-large", 415: "unsupported-media-type"}.get(
        exc.status_code, f"http-{exc.status_code}"
    )
    detail = exc.detail if isinstance(exc.detail, str) else json.dumps(exc.detail, ensure_ascii=False)
    if exc.status_code == 404 and detail == "Not Found":
        detail = f"No resource at {request.url.path}."
    headers = dict(exc.headers or {})
    if exc.status_code == 400:  # the framework could not read the body (bytes that are not UTF-8, a bad multipart)
        return problem_response(request, Problem(
            400, "malformed-body", f"The request body could not be read: {detail.rstrip('.')}.",
            errors=[field_error("body", detail, "malformed-body")], headers=headers))
    if exc.status_code == 405:  # the router names the methods of the first route on the path only
        headers["Allow"] = ", ".join(allowed_methods(request))
    return problem_response(request, Problem(exc.status_code, code, detail, headers=headers))


_METHODS = ("DELETE", "GET", "HEAD", "OPTIONS", "PATCH", "POST", "PUT")


def allowed_methods(request: Request) -> list[str]:
    """Every method some route serves at the request's path (RFC 9110: a 405 lists them all in Allow)."""
    routes = [r for r in request.app.router.routes if isinstance(r, BaseRoute)]
    return [m for m in _METHODS
            if any(r.matches({**request.scope, "method": m})[0] == Match.FULL for r in routes)]


async def _on_unexpected(request: Request, exc: Exception) -> JSONResponse:
    log.exception("unhandled error", path=request.url.path)
    return problem_response(request, Problem(500, "internal-error", "An unexpected error occurred; it was logged."))


def install_problem_handlers(app: FastAPI) -> None:
    app.add_exception_handler(Problem, _on_problem)
    app.add_exception_handler(RequestValidationError, _on_validation)
    app.add_exception_handler(StarletteHTTPException, _on_http)
    app.add_exception_handler(Exception, _on_unexpected)


# OpenAPI description of a problem response, for `responses=` on routes.
PROBLEM_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["type", "title", "status", "detail", "instance"],
    "properties": {
        "type": {"type": "string"},
        "title": {"type": "string"},
        "status": {"type": "integer"},
        "detail": {"type": "string"},
        "instance": {"type": "string"},
        "code": {"type": "string"},
        "request_id": {"type": "string"},
        "errors": {"type": "array", "items": {"type": "object"}},
    },
}


def problem_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    return {
        s: {"description": HTTPStatus(s).phrase, "content": {PROBLEM_MEDIA_TYPE: {"schema": PROBLEM_SCHEMA}}}
        for s in statuses
    }


# ------------------------------------------------------------------------- database unavailable

# the server is full or starting, the connection is gone or refused, the pool had none to give
_UNAVAILABLE: tuple[type[BaseException], ...] = (
    asyncpg.TooManyConnectionsError, asyncpg.CannotConnectNowError, asyncpg.ConnectionDoesNotExistError,
    ConnectionRefusedError, PoolTimeout)


def database_unavailable(exc: BaseException) -> bool:
    """Whether the error says the database cannot be reached or has no connection to give (the server is
    down or full, the pool timed out), through SQLAlchemy's wrapping (`orig`) and the exception chain."""
    seen: set[int] = set()
    stack: list[BaseException | None] = [exc]
    while stack:
        current = stack.pop()
        if current is None or id(current) in seen:
            continue
        seen.add(id(current))
        if isinstance(current, _UNAVAILABLE):
            return True
        stack += [getattr(current, "orig", None), current.__cause__, current.__context__]
    return False


class DatabaseUnavailableMiddleware:
    """Pure ASGI: a request that failed because the database could not be reached, before any answer was
    sent, is answered 503 database-unavailable with Retry-After (problem+json), not 500: the client may
    retry, nothing was changed. Everything else passes through untouched."""

    def __init__(self, app: Any, *, retry_after: int = 1) -> None:
        self.app = app
        self.retry_after = retry_after

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        tracked = TrackedSend(send)
        try:
            await self.app(scope, receive, tracked)
        except Exception as exc:
            if tracked.started or not database_unavailable(exc):
                raise
            log.warning("database unavailable", path=scope["path"], error=type(exc).__name__)
            problem = Problem(503, "database-unavailable", "The database cannot be reached or has no free "
                              "connection now; nothing was changed. Retry later.",
                              headers={"Retry-After": str(self.retry_after)})
            content = problem.body(scope["path"])
            if request_id := scope.get("state", {}).get("request_id"):
                content["request_id"] = request_id
            body = json.dumps(content, ensure_ascii=False).encode()
            await send({"type": "http.response.start", "status": 503, "headers": [
                (b"content-type", b"application/problem+json"), (b"content-length", str(len(body)).encode()),
                (b"retry-after", str(self.retry_after).encode())]})
            await send({"type": "http.response.body", "body": body})
