"""Zone and park routes: parse, authorise, call the service, shape the answer."""

from __future__ import annotations

import datetime as dt
from enum import StrEnum
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request, Response

from services.contracts import ZoneKind, ZoneLevel, ZoneStatus
from services.registry.history.rules import known_at_from_date
from services.registry.zones import repository as repo
from services.registry.zones import service
from services.registry.zones.repository import ZoneFilters
from services.registry.zones.schemas import (
    IsoDate,
    Park,
    ParkIn,
    ParkUpdate,
    Zone,
    ZoneCreate,
    ZoneLookup,
    ZoneLookupResult,
    ZonePage,
    ZoneUpdate,
)
from shared.auth import Principal, Role, require_roles
from shared.db import Database, SessionDep
from shared.http import DEFAULT_LIMIT, MAX_LIMIT, check_if_match
from shared.problems import Problem, field_error, problem_responses

router = APIRouter(tags=["zones"])
Editor = Annotated[Principal, Depends(require_roles(Role.st_department, Role.league_government))]
StDepartment = Annotated[Principal, Depends(require_roles(Role.st_department))]


# known_at as the validator reads it: a date, or a date and time with an optional UTC offset (none: UTC).
KNOWN_AT_PATTERN = (r"^[0-9]{4}-[0-9]{2}-[0-9]{2}"
                    r"(?:[Tt ][0-9]{2}:[0-9]{2}(?::[0-9]{2}(?:\.[0-9]{1,6})?)?(?:[Zz]|[+-][0-9]{2}:[0-9]{2})?)?$")
KnownAt = Annotated[str | None, Query(pattern=KNOWN_AT_PATTERN, description="transaction time: as the register knew "
                                      "it then (a date: 23:59:59 Asia/Shanghai that day; a timestamp: UTC unless "
                                      "it has an offset)")]
AsOf = Annotated[IsoDate | None, Query(description="valid time: the state on this date (YYYY-MM-DD)")]


def parse_known_at(value: str | None) -> dt.datetime | None:
    """known_at: a UTC timestamp, or a bare date meaning 23:59:59 Asia/Shanghai that day (contracts)."""
    if value is None:
        return None
    try:
        if len(value) == 10:
            return known_at_from_date(dt.date.fromisoformat(value))
        stamp = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise Problem(422, "validation-failed", f"known_at {value!r} is neither a date nor an ISO 8601 timestamp.",
                      errors=[field_error("known_at", "not a date or timestamp", "invalid_datetime",
                                          location="query")]) from None
    return stamp.replace(tzinfo=dt.UTC) if stamp.tzinfo is None else stamp.astimezone(dt.UTC)


def _values(name: str, raw: list[str], enum: type[StrEnum] | None) -> list[str]:
    """Several values as repeated parameters or comma-separated; each checked against its enum."""
    values = [v.strip() for item in raw for v in item.split(",") if v.strip()]
    if enum is not None:
        allowed = {m.value for m in enum}
        bad = [v for v in values if v not in allowed]
        if bad:
            raise Problem(422, "validation-failed", f"{name}: {', '.join(bad)} not among {', '.join(sorted(allowed))}.",
                          errors=[field_error(name, f"{v!r} is not one of {sorted(allowed)}", "enum",
                                              location="query") for v in bad])
    return values


class ZoneQuery:
    """The filters shared by the list and the exports."""

    def __init__(
        self,
        league: Annotated[list[str], Query(description="league code(s), GB/T 2260")] = [],  # noqa: B006
        kind: Annotated[list[str], Query(description="zone kind(s)")] = [],  # noqa: B006
        level: Annotated[list[str], Query(description="level(s)")] = [],  # noqa: B006
        status: Annotated[list[str], Query(description="status(es), repeated or comma-separated")] = [],  # noqa: B006
        q: Annotated[str | None, Query(max_length=100, description="text in the zh or en name")] = None,
        as_of: AsOf = None,
        known_at: KnownAt = None,
    ) -> None:
        for code in _values("league", league, None):
            if not (len(code) == 6 and code.isdigit()):
                raise Problem(422, "validation-failed", f"league: {code!r} is not a 6-digit GB/T 2260 code.",
                              errors=[field_error("league", "not a 6-digit code", "pattern", location="query")])
        self.filters = ZoneFilters(leagues=_values("league", league, None), kinds=_values("kind", kind, ZoneKind),
                                   levels=_values("level", level, ZoneLevel),
                                   statuses=_values("status", status, ZoneStatus), q=q.strip() if q else None)
        self.as_of = as_of
        self.known_at = parse_known_at(known_at)


def _json(body: bytes, headers: dict[str, str] | None = None) -> Response:
    """A body the service already rendered (the hot reads): FastAPI passes a Response through as is."""
    return Response(body, media_type="application/json", headers=headers)


@router.get("/zones", response_model=ZonePage, summary="List zones (filters, bitemporal, cursor pages)")
async def list_zones(
    request: Request,
    query: Annotated[ZoneQuery, Depends()],
    cursor: Annotated[str | None, Query(max_length=500)] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = DEFAULT_LIMIT,
) -> Response | ZonePage:
    db: Database = request.app.state.db
    if query.as_of is None and query.known_at is None:
        return _json(await service.current_page_json(db, query.filters, service.after_code(cursor), limit))
    async with db.transaction() as session:
        return await service.list_zones(session, query.filters, cursor, limit, query.as_of, query.known_at)


# Declared before the /zones/{code} routes, so that "lookup" is never taken for a zone code.
@router.post("/zones/lookup", response_model=ZoneLookupResult, responses=problem_responses(422),
             summary="Several zones by code at once, in the order given (public; for peers)")
async def lookup_zones(body: ZoneLookup, request: Request) -> Response:
    return _json(await service.lookup_json(request.app.state.db, body.codes, body.as_of))


@router.get("/zones/{code}", response_model=Zone, responses=problem_responses(404),
            summary="One zone with its parks and its level and status (now, or as_of / known_at)")
async def get_zone(
    code: str, request: Request, response: Response,
    as_of: AsOf = None,
    known_at: KnownAt = None,
) -> Response | Zone:
    db: Database = request.app.state.db
    stamp = parse_known_at(known_at)
    if as_of is None and stamp is None:
        found = await service.current_zone_json(db, code)
        if found is None:
            raise Problem(404, "zone-not-found", f"No zone has the code {code}.")
        return _json(found[0], {"ETag": found[1]})
    async with db.transaction() as session:
        zone = await service.get_zone(session, code, as_of, stamp)
    response.headers["ETag"] = f'"{zone.code}.{zone.version}"'
    return zone


@router.post("/zones", response_model=Zone, status_code=201, responses=problem_responses(409),
             summary="Register a zone (st_department)")
async def create_zone(body: ZoneCreate, session: SessionDep, principal: StDepartment, response: Response) -> Zone:
    zone = await service.create_zone(session, principal, body)
    out = await service.get_zone(session, zone.code, None, None)
    response.headers["Location"] = f"/zones/{zone.code}"
    response.headers["ETag"] = service.zone_etag(zone)
    return out


@router.patch("/zones/{code}", response_model=Zone, responses=problem_responses(404, 409, 412, 428),
              summary="Edit descriptive fields (If-Match); kind/level/status/names change through events")
async def update_zone(code: str, body: ZoneUpdate, request: Request, session: SessionDep, principal: Editor,
                      response: Response) -> Zone:
    zone = await repo.get_by_code(session, code, for_update=True)
    if zone is None:
        raise Problem(404, "zone-not-found", f"No zone has the code {code}.")
    check_if_match(request, service.zone_etag(zone))
    await service.update_zone(session, principal, zone, body)
    response.headers["ETag"] = service.zone_etag(zone)
    return await service.get_zone(session, code, None, None)


@router.post("/zones/{code}/parks", response_model=Park, status_code=201, responses=problem_responses(404, 409),
             summary="Add a park to a zone (一区多园, 002 art. 13)")
async def add_park(code: str, body: ParkIn, session: SessionDep, principal: Editor, response: Response) -> Park:
    zone = await repo.get_by_code(session, code, for_update=True)
    if zone is None:
        raise Problem(404, "zone-not-found", f"No zone has the code {code}.")
    park = await service.add_park(session, principal, zone, body)
    response.headers["Location"] = f"/zones/{code}/parks/{park.id}"
    response.headers["ETag"] = service.park_etag(park)
    return service.park_out(park)


@router.patch("/zones/{code}/parks/{park_id}", response_model=Park,
              responses=problem_responses(404, 409, 412, 428), summary="Edit a park (If-Match)")
async def update_park(code: str, park_id: int, body: ParkUpdate, request: Request, session: SessionDep,
                      principal: Editor, response: Response) -> Park:
    zone = await repo.get_by_code(session, code, for_update=True)
    park = await repo.get_park(session, zone.id, park_id) if zone is not None else None
    if zone is None or park is None:
        raise Problem(404, "park-not-found", f"Zone {code} has no park {park_id}.")
    check_if_match(request, service.park_etag(park))
    await service.update_park(session, principal, zone, park, body)
    response.headers["ETag"] = service.park_etag(park)
    return service.park_out(park)
