"""What a government platform is told of an application's state change (issue #6 §7), pure: the event
type (`application.<state entered>`, Standard Webhooks' a.b form) and the payload."""

from __future__ import annotations

import datetime as dt
from typing import Any

from services.contracts import ApplicationState

PREFIX = "application"
EVENT_TYPES: frozenset[str] = frozenset(f"{PREFIX}.{s.value}" for s in ApplicationState)


def event_type(to_state: str) -> str:
    """`application.approved` for an application entering `approved`; creation enters `draft`."""
    return f"{PREFIX}.{ApplicationState(to_state).value}"


def stamp(at: dt.datetime) -> str:
    return at.astimezone(dt.UTC).isoformat().replace("+00:00", "Z")


def payload(*, application_id: int, zone_code: str, league_code: str, from_state: str | None, to_state: str,
            transition: str, actor_sub: str, actor_role: str, at: dt.datetime, version: int, round_no: int,
            audit_seq: int | None = None) -> dict[str, Any]:
    """The `data` of the delivery: which application, from which state to which, by which transition,
    who (token sub and role, 002 art. 6), when, and the application's version (its ETag) after it."""
    return {"application_id": application_id, "zone_code": zone_code, "league_code": league_code,
            "from_state": from_state, "to_state": to_state, "transition": transition,
            "actor": {"sub": actor_sub, "role": actor_role}, "at": stamp(at), "version": version,
            "round": round_no, "audit_seq": audit_seq}
