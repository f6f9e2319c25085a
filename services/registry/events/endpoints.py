"""Event routes: post an event, a zone's history, the change feed."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Response

from services.registry.events import service
from services.registry.events.schemas import Event, EventCreate, EventFeed, History
from services.registry.zones import repository as zones_repo
from services.registry.zones.endpoints import KnownAt, parse_known_at
from shared.auth import Principal, Role, require_roles
from shared.db import SessionDep
from shared.http import DEFAULT_LIMIT, MAX_LIMIT
from shared.problems import Problem, field_error, problem_responses

router = APIRouter(tags=["events"])
EventPoster = Annotated[Principal, Depends(require_roles(Role.service, Role.st_department, Role.regional_government))]


@router.post("/zones/{code}/events", response_model=Event, status_code=201,
             responses={200: {"description": "replay of an event already recorded with the same body",
                              "model": Event}, **problem_responses(403, 404, 409)},
             summary="Record a change of level, status, name or kind (contracts: registry events)")
async def post_event(code: str, body: EventCreate, session: SessionDep, principal: EventPoster,
                     response: Response) -> Event:
    event, created = await service.post_event(session, principal, code, body)
    if not created:
        response.status_code = 200
    response.headers["Location"] = f"/events/{event.event_id}"
    return event


@router.get("/zones/{code}/history", response_model=History, responses=problem_responses(404),
            summary="Every event of a zone in effective-date order, with the state after each")
async def history(code: str, session: SessionDep,
                  known_at: KnownAt = None) -> History:
    zone = await zones_repo.get_by_code(session, code)
    stamp = parse_known_at(known_at)
    if zone is None or (stamp is not None and zone.created_at > stamp):
        raise Problem(404, "zone-not-found", f"No zone has the code {code}.")
    rows = (await zones_repo.events_of(session, [zone.id]))[zone.id]
    return History(zone_code=code, known_at=stamp, events=service.history_entries(rows, code, stamp))


@router.get("/events", response_model=EventFeed, summary="The change feed: every event in recording order")
async def feed(session: SessionDep,
               after: Annotated[str | None, Query(pattern=r"^[0-9]{1,20}$",
                                                  description="the next_after of the last page")] = None,
               limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = DEFAULT_LIMIT) -> EventFeed:
    position = 0
    if after is not None:
        if not after.isdigit():
            raise Problem(422, "validation-failed", "after must be a next_after value this feed returned.",
                          errors=[field_error("after", "not a feed position", "invalid_cursor", location="query")])
        position = min(int(after), 2**31 - 1)  # seq is an INTEGER column: a position beyond it is past every event
    items = await service.feed(session, position, limit)
    next_after = str(items[-1].seq) if items else (after if after is not None else None)
    return EventFeed(items=items, next_after=next_after, limit=limit)


@router.get("/events/{event_id}", response_model=Event, responses=problem_responses(404), summary="One event")
async def get_event(event_id: str, session: SessionDep) -> Event:
    found = await service.get_event(session, event_id)
    if found is None:
        raise Problem(404, "event-not-found", f"No event has the id {event_id}.")
    return found
