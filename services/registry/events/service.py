"""Posting events, reading a zone's history and the change feed."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import uuid
from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncSession

from services.registry.events.schemas import Event, EventCreate, HistoryEntry, ZoneStateOut
from services.registry.history.rules import (
    EVENT_FIELDS,
    TimelineEvent,
    TransitionRefused,
    ZoneState,
    check_timeline,
    visible_events,
)
from services.registry.models import Zone, ZoneEvent
from services.registry.zones import repository as zones_repo
from shared.auth import Principal
from shared.db import utcnow
from shared.problems import Problem, field_error

FEED_LOCK_KEY = 7_410_001  # serialises event inserts on PostgreSQL so that seq order is commit order


def timeline_of(rows: Sequence[ZoneEvent]) -> list[TimelineEvent]:
    return [TimelineEvent(event_id=e.event_id, seq=e.seq, effective_date=e.effective_date, change=e.change,
                          recorded_at=e.recorded_at, recorded_role=e.recorded_role, recorded_by=e.recorded_by,
                          supersedes=e.supersedes) for e in rows]


def event_out(e: ZoneEvent, zone_code: str) -> Event:
    return Event(seq=e.seq, event_id=e.event_id, zone_code=zone_code, change=e.change,
                 effective_date=e.effective_date, effective_precision=e.effective_precision,  # type: ignore[arg-type]
                 legal_basis=e.legal_basis, actor=e.actor, source=e.source, note=e.note, supersedes=e.supersedes,
                 recorded_at=e.recorded_at, recorded_by=e.recorded_by, recorded_role=e.recorded_role)


def state_out(state: ZoneState | None) -> ZoneStateOut | None:
    if state is None:
        return None
    return ZoneStateOut.model_validate({k: state.values.get(k) for k in EVENT_FIELDS})


def body_hash(zone_code: str, body: Mapping[str, Any]) -> str:
    canonical = json.dumps({"zone": zone_code, **body}, sort_keys=True, ensure_ascii=False, separators=(",", ":"),
                           default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


async def lock_feed(session: AsyncSession) -> None:
    if session.bind.dialect.name == "postgresql":
        await session.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": FEED_LOCK_KEY})


def apply_projection(zone: Zone, state: ZoneState) -> None:
    """Keep the zone row's current kind/level/status/names equal to the fold of its events."""
    for name in EVENT_FIELDS:
        setattr(zone, name, state.values.get(name))
    zone.version += 1
    zone.updated_at = utcnow()


def _refused(exc: TransitionRefused) -> Problem:
    errors = [field_error(["change", exc.field_name] if exc.field_name else ["change"], exc.detail, exc.code)]
    extra: dict[str, Any] = {"conflicting_event_id": exc.event_id} if exc.status == 409 and exc.event_id else {}
    return Problem(exc.status, exc.code, exc.detail, errors=errors, **extra)


async def post_event(session: AsyncSession, principal: Principal, zone_code: str,
                     body: EventCreate) -> tuple[Event, bool]:
    """Record an event after checking the whole timeline; (event, created). A replay answers the stored one."""
    await lock_feed(session)
    event_id = str(body.event_id)
    payload = body.model_dump(mode="json")
    digest = body_hash(zone_code, payload)
    existing = (await session.execute(select(ZoneEvent).where(ZoneEvent.event_id == event_id))).scalar_one_or_none()
    if existing is not None:
        zone_of_existing = (await session.execute(select(Zone.code).where(Zone.id == existing.zone_id))).scalar_one()
        if existing.body_hash == digest and zone_of_existing == zone_code:
            return event_out(existing, zone_of_existing), False
        raise Problem(409, "event-id-reused", f"Event {event_id} was already recorded with another body.",
                      errors=[field_error("event_id", "already used with another body", "event-id-reused")],
                      conflicting_event_id=event_id)
    zone = await zones_repo.get_by_code(session, zone_code, for_update=True)
    if zone is None:
        raise Problem(404, "zone-not-found", f"No zone has the code {zone_code}.")
    rows = (await zones_repo.events_of(session, [zone.id]))[zone.id]
    change = body.change_map()
    supersedes = str(body.supersedes) if body.supersedes else None
    if not change and supersedes is None:
        raise Problem(422, "validation-failed", "An event must change at least one field (or supersede one).",
                      errors=[field_error("change", "empty change without supersedes", "empty-change")])
    if supersedes is not None:
        target = next((e for e in rows if e.event_id == supersedes), None)
        if target is None:
            raise Problem(422, "validation-failed", f"Event {supersedes} is not an event of zone {zone_code}.",
                          errors=[field_error("supersedes", "not an event of this zone", "unknown-event")])
        if any(e.supersedes == supersedes for e in rows):
            raise Problem(409, "already-superseded", f"Event {supersedes} was already superseded.",
                          errors=[field_error("supersedes", "already superseded", "already-superseded")],
                          conflicting_event_id=supersedes)
        if principal.role != "st_department" and (target.recorded_role, target.recorded_by) != (
                principal.role.value, principal.sub):
            raise Problem(403, "supersede-forbidden",
                          "Only the S&T Department or the event's own author may supersede an event.")
    now = utcnow()
    new = TimelineEvent(event_id=event_id, seq=(rows[-1].seq + 1) if rows else 1, effective_date=body.effective_date,
                        change=change, recorded_at=now, recorded_role=principal.role.value,
                        recorded_by=principal.sub, supersedes=supersedes)
    timeline = [e for e in visible_events([*timeline_of(rows), new], None) if e.change]
    if not timeline:
        raise Problem(409, "would-erase-zone", "Superseding this event would leave the zone with no history.",
                      conflicting_event_id=supersedes)
    try:
        state = check_timeline(timeline, event_id)
    except TransitionRefused as exc:
        raise _refused(exc) from None
    row = ZoneEvent(event_id=event_id, zone_id=zone.id, change=change, effective_date=body.effective_date,
                    effective_precision=body.effective_precision.value,
                    legal_basis=body.legal_basis.model_dump(mode="json", exclude_none=True),
                    actor=body.actor, source=body.source, note=body.note, supersedes=supersedes,
                    recorded_at=now, recorded_by=principal.sub, recorded_role=principal.role.value, body_hash=digest)
    session.add(row)
    apply_projection(zone, state)
    await session.flush()
    return event_out(row, zone_code), True


def history_entries(rows: Sequence[ZoneEvent], zone_code: str, known_at: dt.datetime | None) -> list[HistoryEntry]:
    """Every event known at known_at in timeline order, with what superseded it and the state after it."""
    known = [e for e in rows if known_at is None or e.recorded_at <= known_at]
    superseded_by = {e.supersedes: e.event_id for e in known if e.supersedes}
    in_effect = {e.event_id for e in visible_events(timeline_of(known), known_at)}
    ordered = sorted(known, key=lambda e: (e.effective_date, e.seq))
    state = ZoneState()
    out = []
    for e in ordered:
        effective = e.event_id in in_effect
        if effective:
            state.apply(e.change)
        out.append(HistoryEntry(**event_out(e, zone_code).model_dump(), in_effect=effective,
                                superseded_by=superseded_by.get(e.event_id),
                                state_after=state_out(state) if effective and "kind" in state.values else None))
    return out


async def feed(session: AsyncSession, after: int, limit: int) -> list[Event]:
    rows = await session.execute(
        select(ZoneEvent, Zone.code).join(Zone, Zone.id == ZoneEvent.zone_id)
        .where(ZoneEvent.seq > after).order_by(ZoneEvent.seq).limit(limit))
    return [event_out(e, code) for e, code in rows.tuples()]


async def get_event(session: AsyncSession, event_id: str) -> Event | None:
    row = (await session.execute(select(ZoneEvent, Zone.code).join(Zone, Zone.id == ZoneEvent.zone_id)
                                 .where(ZoneEvent.event_id == event_id))).first()
    return event_out(row[0], row[1]) if row else None


def establishing_event(zone: Zone, *, effective_date: dt.date, precision: str, legal_basis: dict[str, Any] | None,
                       actor: str, note: str | None, source: str | None, principal_sub: str, principal_role: str,
                       event_id: str | None = None, change: Mapping[str, str] | None = None) -> ZoneEvent:
    """The first event of a zone: it sets kind, level, status and names."""
    values = dict(change) if change is not None else {
        k: getattr(zone, k) for k in EVENT_FIELDS if getattr(zone, k) is not None}
    payload = {"change": values, "effective_date": str(effective_date), "effective_precision": precision,
               "legal_basis": legal_basis, "actor": actor, "note": note, "source": source}
    return ZoneEvent(event_id=event_id or str(uuid.uuid4()), zone_id=zone.id, change=values,
                     effective_date=effective_date, effective_precision=precision, legal_basis=legal_basis,
                     actor=actor, source=source, note=note, supersedes=None, recorded_at=utcnow(),
                     recorded_by=principal_sub, recorded_role=principal_role,
                     body_hash=body_hash(zone.code, payload))
