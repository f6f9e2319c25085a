"""HTTP helpers: ETag / If-Match preconditions and opaque cursor pagination.
(Idempotency-Key lives in shared/idempotency.py.)"""

from __future__ import annotations

import base64
import binascii
import json
from typing import Any

from fastapi import Request
from pydantic import BaseModel, Field

from shared.problems import Problem, field_error

# ------------------------------------------------------------------------------------- ETags


def make_etag(*parts: object) -> str:
    """A strong ETag from a resource's identity and version: "<p1>.<p2>…"."""
    return '"' + ".".join(str(p) for p in parts) + '"'


def check_if_match(request: Request, current_etag: str) -> None:
    """Conditional update: 428 when If-Match is missing, 412 when it names no current version."""
    header = request.headers.get("if-match")
    if header is None:
        raise Problem(428, "precondition-required",
                      "This update needs an If-Match header with the ETag you last read.",
                      errors=[field_error("If-Match", "missing", "missing", location="header")],
                      current_etag=current_etag)
    candidates = [c.strip() for c in header.split(",")]
    if "*" in candidates or current_etag in candidates:
        return
    raise Problem(412, "precondition-failed",
                  "The resource changed since you read it: If-Match does not match the current ETag.",
                  errors=[field_error("If-Match", f"stale: current ETag is {current_etag}", "stale",
                                      location="header")],
                  current_etag=current_etag)


# -------------------------------------------------------------------------------- pagination

DEFAULT_LIMIT = 50
MAX_LIMIT = 500


def encode_cursor(values: list[Any]) -> str:
    raw = json.dumps(values, separators=(",", ":"), ensure_ascii=False).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str, arity: int, param: str = "cursor") -> list[Any]:
    """Decode an opaque cursor of `arity` values; a tampered or foreign cursor is a 422 naming it."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        values = json.loads(raw)
    except (binascii.Error, ValueError, UnicodeDecodeError):
        values = None
    if not isinstance(values, list) or len(values) != arity:
        raise invalid_cursor(param)
    return values


def invalid_cursor(param: str = "cursor") -> Problem:
    """The 422 of a cursor this endpoint did not issue (also for one whose values do not decode)."""
    return Problem(422, "validation-failed", f"The {param} is not one this service issued.",
                   errors=[field_error(param, "not a cursor issued by this endpoint", "invalid_cursor",
                                       location="query")])


class Page(BaseModel):
    """One page of a list: `next_cursor` is null on the last page."""

    items: list[Any]
    next_cursor: str | None = Field(default=None, description="pass as ?cursor= for the next page")
    limit: int
