"""The rules of zones and parks: reads (current and bitemporal), registration, descriptive edits."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

import orjson
from sqlalchemy import insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from services.registry.events import service as events_service
from services.registry.history.rules import EVENT_FIELDS, ZoneState, state_at
from services.registry.models import Park, Zone, ZoneEvent, ZoneRevision
from services.registry.zones import repository as repo
from services.registry.zones.repository import ZoneFilters
from services.registry.zones.schemas import Park as ParkOut
from services.registry.zones.schemas import (
    ParkIn,
    ParkUpdate,
    ZoneCreate,
    ZonePage,
    ZoneSummary,
    ZoneUpdate,
)
from services.registry.zones.schemas import Zone as ZoneOut
from shared.auth import Principal, Role
from shared.db import Database, utcnow
from shared.decimals import canonical_decimal
from shared.http import decode_cursor, encode_cursor
from shared.problems import Problem, field_error

LEAGUE_EDITABLE = frozenset({"county_code", "area_ha", "boundary", "management_committee", "leading_industries"})


def _summary(zone: Zone, league_name: str, state: ZoneState | None = None) -> dict[str, Any]:
    values = state.values if state is not None else {}
    return {
        "code": zone.code,
        "kind": values.get("kind", zone.kind), "level": values.get("level", zone.level),
        "status": values.get("status", zone.status), "name_zh": values.get("name_zh", zone.name_zh),
        "name_en": values.get("name_en", zone.name_en),
        "league_code": zone.league_code, "league_name_zh": league_name, "county_code": zone.county_code,
        "area_ha": zone.area_ha, "leading_industries": list(zone.leading_industries or []),
        "approval_doc": zone.approval_doc, "approval_date": zone.approval_date,
        "approval_date_precision": zone.approval_date_precision,
    }


def park_out(p: Park) -> ParkOut:
    return ParkOut(id=p.id, name_zh=p.name_zh, name_en=p.name_en, area_ha=p.area_ha, boundary=p.boundary,
                   version=p.version)


def zone_etag(zone: Zone) -> str:
    return f'"{zone.code}.{zone.version}"'


def park_etag(park: Park) -> str:
    return f'"park-{park.id}.{park.version}"'


def _matches(summary: dict[str, Any], f: ZoneFilters) -> bool:
    if f.kinds and summary["kind"] not in f.kinds:
        return False
    if f.levels and summary["level"] not in f.levels:
        return False
    if f.statuses and summary["status"] not in f.statuses:
        return False
    if f.q:
        q = f.q.lower()
        return q in summary["name_zh"].lower() or q in (summary["name_en"] or "").lower()
    return True


async def get_zone(session: AsyncSession, code: str, as_of: dt.date | None, known_at: dt.datetime | None) -> ZoneOut:
    zone = await repo.get_by_code(session, code)
    if zone is None or (known_at is not None and zone.created_at > known_at):
        raise Problem(404, "zone-not-found", f"No zone has the code {code}"
                      + (f" as known at {known_at.isoformat()}." if zone is not None and known_at is not None else "."))
    state = None
    if as_of is not None or known_at is not None:
        rows = (await repo.events_of(session, [zone.id]))[zone.id]
        state = state_at(events_service.timeline_of(rows), as_of, known_at)
        if state is None:
            raise Problem(404, "zone-not-in-effect", f"Zone {code} was not yet established on {as_of}.")
    league = await repo.league_name(session, zone.league_code) or ""
    parks = [park_out(p) for p in await repo.parks_of(session, zone.id)]
    return ZoneOut(**_summary(zone, league, state), boundary=zone.boundary,
                   management_committee=zone.management_committee, source=zone.source, confidence=zone.confidence,
                   parks=parks, version=zone.version, created_at=zone.created_at, updated_at=zone.updated_at,
                   as_of=as_of, known_at=known_at)


def after_code(cursor: str | None) -> str | None:
    """The last code of the previous page, from a cursor this endpoint issued."""
    after = decode_cursor(cursor, 1)[0] if cursor else None
    if after is not None and not isinstance(after, str):
        raise Problem(422, "validation-failed", "The cursor is not one this service issued.",
                      errors=[field_error("cursor", "not issued by this endpoint", "invalid_cursor", location="query")])
    return after


async def list_zones(session: AsyncSession, filters: ZoneFilters, cursor: str | None, limit: int,
                     as_of: dt.date | None, known_at: dt.datetime | None) -> ZonePage:
    """Zones sorted by code (stable); with as_of/known_at, kind/level/status/names are folded from events."""
    after = after_code(cursor)
    if as_of is None and known_at is None:
        rows = await repo.list_current(session, filters, after, limit + 1)
        items = [ZoneSummary(**_summary(z, name)) for z, name in rows]
    else:
        candidates = await repo.list_for_fold(session, filters, known_at)
        if after is not None:
            candidates = [(z, n) for z, n in candidates if z.code > after]
        events = await repo.events_of(session, [z.id for z, _ in candidates])
        items = []
        for zone, name in candidates:
            state = state_at(events_service.timeline_of(events.get(zone.id, [])), as_of, known_at)
            if state is None:
                continue
            summary = _summary(zone, name, state)
            if _matches(summary, filters):
                items.append(ZoneSummary(**summary))
                if len(items) > limit:
                    break
    next_cursor = encode_cursor([items[limit - 1].code]) if len(items) > limit else None
    return ZonePage(items=items[:limit], next_cursor=next_cursor, limit=limit, as_of=as_of, known_at=known_at)


# ------------------------------------------------------------------------ current state, as JSON bytes
# The hot reads (see repository.py) skip pydantic: the rows become the JSON of ZoneSummary / Zone /
# ZonePage directly, with the same members in the same order and the same value forms (decimals as
# canonical strings, UTC timestamps with Z), so that the bytes equal what the response models give
# (tests/registry/test_zone_reads.py compares them for every zone on both databases).


def _summary_json(row: dict[str, Any]) -> dict[str, Any]:
    area = row["area_ha"]
    return {**row, "area_ha": None if area is None else canonical_decimal(area)}


def _park_json(park: dict[str, Any]) -> dict[str, Any]:
    area = park["area_ha"]
    return {**park, "area_ha": None if area is None else canonical_decimal(area)}


def _dumps(value: Any) -> bytes:
    return orjson.dumps(value, option=orjson.OPT_UTC_Z)


async def current_zone_json(db: Database, code: str) -> tuple[bytes, str] | None:
    """GET /zones/{code} without as_of/known_at: the body of a Zone and its ETag; None if unknown. The
    requests of one loop turn share one statement (shared.coalesce)."""
    return await db.coalescer(_current_zones_json).get(code)


async def _current_zones_json(db: Database, codes: Sequence[str]) -> dict[str, tuple[bytes, str] | None]:
    async with db.driver_connection() as driver:
        found = await repo.current_zones(driver, db.dialect, codes)
    out: dict[str, tuple[bytes, str] | None] = dict.fromkeys(codes)
    for code, (zone, parks) in found.items():
        body = {**_summary_json({k: zone[k] for k in repo.SUMMARY_COLUMNS}),
                **{k: zone[k] for k in repo.DETAIL_COLUMNS[:4]}, "parks": [_park_json(p) for p in parks],
                **{k: zone[k] for k in repo.DETAIL_COLUMNS[4:]}, "as_of": None, "known_at": None}
        out[code] = _dumps(body), f'"{code}.{zone["version"]}"'
    return out


# a page: its filters (hashable, as tuples), the code it starts after, its limit
_PageKey = tuple[ZoneFilters, str | None, int]


async def current_page_json(db: Database, filters: ZoneFilters, after: str | None, limit: int) -> bytes:
    """GET /zones without as_of/known_at: the body of a ZonePage (`after`: see after_code). The same page
    asked for by requests of one loop turn is read once (shared.coalesce)."""
    hashable = ZoneFilters(tuple(filters.leagues), tuple(filters.kinds), tuple(filters.levels),
                           tuple(filters.statuses), filters.q)
    return await db.coalescer(_current_pages_json).get((hashable, after, limit))


async def _current_pages_json(db: Database, keys: Sequence[_PageKey]) -> dict[_PageKey, bytes]:
    async with db.driver_connection() as driver:  # one statement for every page
        found = await repo.current_pages(driver, db.dialect, [(f, after, limit + 1) for f, after, limit in keys])
    out = {}
    for (filters, after, limit), rows in zip(keys, found, strict=True):
        next_cursor = encode_cursor([rows[limit - 1]["code"]]) if len(rows) > limit else None
        out[(filters, after, limit)] = _dumps({"items": [_summary_json(r) for r in rows[:limit]],
                                               "next_cursor": next_cursor, "limit": limit, "as_of": None,
                                               "known_at": None})
    return out


async def lookup_json(db: Database, codes: Sequence[str], as_of: dt.date | None) -> bytes:
    """POST /zones/lookup: the zones of the given codes in the order given (each once), now or on as_of
    (kind, level, status and names folded from the events), and the codes that name no zone (then)."""
    wanted = list(dict.fromkeys(codes))
    async with db.driver_connection() as driver:
        found = await repo.zones_by_code(driver, db.dialect, wanted, with_events=as_of is not None)
    items, missing = [], []
    for code in wanted:
        row, events = found.get(code, (None, []))
        if row is not None and as_of is not None:
            state = state_at(events, as_of, None)  # None: not yet established on as_of
            row = None if state is None else {**row, **{k: state.values.get(k, row[k]) for k in EVENT_FIELDS}}
        if row is None:
            missing.append(code)
        else:
            items.append(_summary_json(row))
    return _dumps({"items": items, "missing": missing})


async def _check_references(session: AsyncSession, league_code: str, county_code: str | None) -> None:
    errors = []
    if await repo.league_name(session, league_code) is None:
        errors.append(field_error("league_code", f"{league_code} is not one of the 12 leagues/cities",
                                  "unknown-league"))
    elif county_code is not None:
        county_league = await repo.county_league(session, county_code)
        if county_league is None:
            errors.append(field_error("county_code", f"{county_code} is not a county of Inner Mongolia",
                                      "unknown-county"))
        elif county_league != league_code:
            errors.append(field_error("county_code", f"county {county_code} belongs to league {county_league}, "
                                      f"not {league_code}", "county-outside-league"))
    if errors:
        raise Problem(422, "validation-failed", "; ".join(e["reason"] for e in errors), errors=errors)


async def create_zone(session: AsyncSession, principal: Principal, body: ZoneCreate) -> Zone:
    """Register a zone with its establishing event (kind, level, status and names at that date)."""
    await _check_references(session, body.league_code, body.county_code)
    if body.code is not None:
        if await repo.get_by_code(session, body.code) is not None:
            raise Problem(409, "duplicate-code", f"A zone with code {body.code} exists already.",
                          errors=[field_error("code", "already registered", "duplicate-code")])
        code = body.code
    else:
        code = f"NM-{await repo.max_nm_number(session) + 1}"
    if await repo.name_taken(session, body.league_code, body.name_zh):
        raise Problem(409, "duplicate-name", f"League {body.league_code} already has a zone named {body.name_zh}.",
                      errors=[field_error("name_zh", "already used in this league", "duplicate-name")])
    zone = _new_zone(principal, body.model_copy(update={"code": code}), utcnow())
    session.add(zone)
    await session.flush()
    await events_service.lock_feed(session)
    session.add(_establishing_event(principal, zone, body, dt.datetime.now(dt.UTC).date()))
    await session.flush()
    return zone


async def create_checked_zones(session: AsyncSession, principal: Principal, bodies: Sequence[ZoneCreate]) -> None:
    """Register zones whose codes are assigned and whose references, codes and names the caller has checked
    (the bulk import): the rows create_zone writes, as two bulk INSERTs (executemany: no RETURNING, which
    SQLite's ORM flush would do a row at a time) and one SELECT of the new ids, not ~6 queries a zone."""
    now = utcnow()
    today = dt.datetime.now(dt.UTC).date()
    zones = [_new_zone(principal, body, now) for body in bodies]  # transient: values only
    columns = [c.key for c in Zone.__table__.columns if c.key != "id"]
    await session.execute(insert(Zone), [{k: getattr(z, k) for k in columns} for z in zones])
    ids: dict[str, int] = {}
    codes = [z.code for z in zones]
    for start in range(0, len(codes), 1000):
        rows = await session.execute(select(Zone.code, Zone.id).where(Zone.code.in_(codes[start:start + 1000])))
        ids.update({code: zone_id for code, zone_id in rows.tuples()})
    for zone in zones:
        zone.id = ids[zone.code]
    await events_service.lock_feed(session)
    event_columns = [c.key for c in ZoneEvent.__table__.columns if c.key != "seq"]
    events = [_establishing_event(principal, z, b, today) for z, b in zip(zones, bodies, strict=True)]
    await session.execute(insert(ZoneEvent), [{k: getattr(e, k) for k in event_columns} for e in events])


def _new_zone(principal: Principal, body: ZoneCreate, now: dt.datetime) -> Zone:
    assert body.code is not None
    return Zone(code=body.code, kind=body.kind.value, level=body.level.value, status=body.status.value,
                name_zh=body.name_zh, name_en=body.name_en, league_code=body.league_code,
                county_code=body.county_code, area_ha=body.area_ha, boundary=body.boundary,
                management_committee=body.management_committee, leading_industries=body.leading_industries or [],
                approval_doc=body.approval_doc, approval_date=body.approval_date,
                approval_date_precision=body.approval_date_precision.value if body.approval_date_precision else None,
                source=body.source, confidence=body.confidence, version=1, created_at=now, updated_at=now,
                created_by=principal.sub)


def _establishing_event(principal: Principal, zone: Zone, body: ZoneCreate, today: dt.date) -> ZoneEvent:
    est = body.established
    return events_service.establishing_event(
        zone, effective_date=est.effective_date if est else (body.approval_date or today),
        precision=(est.effective_precision.value if est else
                   (body.approval_date_precision.value if body.approval_date and body.approval_date_precision
                    else "day")),
        legal_basis=(est.legal_basis.model_dump(mode="json", exclude_none=True) if est and est.legal_basis
                     else ({"document": body.approval_doc} if body.approval_doc else None)),
        actor=(est.actor if est and est.actor else principal.sub), note=est.note if est else None,
        source=body.source, principal_sub=principal.sub, principal_role=principal.role.value)


def _authorise_edit(principal: Principal, zone: Zone, fields: set[str]) -> None:
    if principal.role == Role.st_department:
        return
    if principal.role == Role.league_government:
        if principal.league_code != zone.league_code:
            raise Problem(403, "other-league", f"Zone {zone.code} belongs to league {zone.league_code}; your token "
                          f"is for league {principal.league_code}.")
        outside = sorted(fields - LEAGUE_EDITABLE)
        if outside:
            raise Problem(403, "field-not-editable-by-league",
                          f"A league government may edit only {', '.join(sorted(LEAGUE_EDITABLE))}.",
                          errors=[field_error(f, "editable by st_department only", "forbidden-field")
                                  for f in outside])
        return
    raise Problem(403, "forbidden-role", f"Role {principal.role.value} may not edit zones.")


def _changes(obj: Any, updates: dict[str, Any]) -> dict[str, list[Any]]:
    out = {}
    for name, value in updates.items():
        old = getattr(obj, name)
        if old != value:
            out[name] = [old, value]
    return out


def _jsonable(changes: dict[str, list[Any]]) -> dict[str, list[Any]]:
    def conv(v: Any) -> Any:
        return str(v) if isinstance(v, dt.date | dt.datetime) or type(v).__name__ == "Decimal" else v
    return {k: [conv(a), conv(b)] for k, (a, b) in changes.items()}


async def update_zone(session: AsyncSession, principal: Principal, zone: Zone, body: ZoneUpdate) -> Zone:
    fields = set(body.model_fields_set)
    _authorise_edit(principal, zone, fields)
    updates = {f: getattr(body, f) for f in fields}
    for key in ("approval_date_precision",):
        if updates.get(key) is not None:
            updates[key] = updates[key].value
    if "leading_industries" in updates and updates["leading_industries"] is None:
        updates["leading_industries"] = []
    league = updates.get("league_code") or zone.league_code
    if "league_code" in updates and updates["league_code"] is None:
        raise Problem(422, "validation-failed", "league_code cannot be removed.",
                      errors=[field_error("league_code", "required", "missing")])
    county = updates["county_code"] if "county_code" in updates else zone.county_code
    if "league_code" in updates or "county_code" in updates:
        await _check_references(session, league, county)
    if "league_code" in updates and await repo.name_taken(session, league, zone.name_zh, except_id=zone.id):
        raise Problem(409, "duplicate-name", f"League {league} already has a zone named {zone.name_zh}.",
                      errors=[field_error("league_code", "the zone's name is used in that league", "duplicate-name")])
    changes = _changes(zone, updates)
    if not changes:
        return zone
    for name, (_, new) in changes.items():
        setattr(zone, name, new)
    zone.version += 1
    zone.updated_at = utcnow()
    session.add(ZoneRevision(zone_id=zone.id, park_id=None, changes=_jsonable(changes), changed_at=zone.updated_at,
                             changed_by=principal.sub, changed_role=principal.role.value))
    await session.flush()
    return zone


async def add_park(session: AsyncSession, principal: Principal, zone: Zone, body: ParkIn) -> Park:
    _authorise_edit(principal, zone, set())
    if any(p.name_zh == body.name_zh for p in await repo.parks_of(session, zone.id)):
        raise Problem(409, "duplicate-name", f"Zone {zone.code} already has a park named {body.name_zh}.",
                      errors=[field_error("name_zh", "already used in this zone", "duplicate-name")])
    park = Park(zone_id=zone.id, name_zh=body.name_zh, name_en=body.name_en, area_ha=body.area_ha,
                boundary=body.boundary, version=1)
    session.add(park)
    await session.flush()
    session.add(ZoneRevision(zone_id=zone.id, park_id=park.id, changes={"park": [None, body.name_zh]},
                             changed_at=utcnow(), changed_by=principal.sub, changed_role=principal.role.value))
    zone.version += 1
    await session.flush()
    return park


async def update_park(session: AsyncSession, principal: Principal, zone: Zone, park: Park, body: ParkUpdate) -> Park:
    _authorise_edit(principal, zone, set())
    updates = {f: getattr(body, f) for f in body.model_fields_set}
    if "name_zh" in updates:
        if updates["name_zh"] is None:
            raise Problem(422, "validation-failed", "name_zh cannot be removed.",
                          errors=[field_error("name_zh", "required", "missing")])
        if any(p.name_zh == updates["name_zh"] and p.id != park.id for p in await repo.parks_of(session, zone.id)):
            raise Problem(409, "duplicate-name", f"Zone {zone.code} already has a park named {updates['name_zh']}.",
                          errors=[field_error("name_zh", "already used in this zone", "duplicate-name")])
    changes = _changes(park, updates)
    if not changes:
        return park
    for name, (_, new) in changes.items():
        setattr(park, name, new)
    park.version += 1
    park.updated_at = utcnow()
    zone.version += 1
    session.add(ZoneRevision(zone_id=zone.id, park_id=park.id, changes=_jsonable(changes), changed_at=park.updated_at,
                             changed_by=principal.sub, changed_role=principal.role.value))
    await session.flush()
    return park
