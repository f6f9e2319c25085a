"""Application routes: create (the intent), list, read, transitions, what the caller may do now, what is
waiting for the caller, and the deliveries to the registry."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Body, Depends, Path, Query, Request, Response

from services.contracts import ApplicationState
from services.workflow.applications import access, service, transitions
from services.workflow.applications import repository as repo
from services.workflow.applications.schemas import (
    Actions,
    Application,
    ApplicationCreate,
    ApplicationPage,
    Delivery,
    Tasks,
    TransitionRequest,
)
from services.workflow.applications.store import TransitionStore
from services.workflow.models import OutboxMessage
from services.workflow.outbox_endpoints import delivery
from shared.auth import Principal, Role, current_principal, require_roles
from shared.db import Database, SessionDep, utcnow
from shared.http import DEFAULT_LIMIT, MAX_LIMIT, decode_cursor, encode_cursor
from shared.outbox import deliveries
from shared.problems import Problem, problem_responses

router = APIRouter(tags=["applications"], responses=problem_responses(401, 403, 404))
Applicant = Annotated[Principal, Depends(require_roles(Role.league_government))]
Caller = Annotated[Principal, Depends(current_principal)]
ApplicationId = Annotated[int, Path(ge=1, le=2**31 - 1)]
TransitionName = Annotated[str, Path(pattern=r"^[a-z][a-z_]{1,39}$", description="a transition (GET /process)")]


@router.post("/applications", response_model=Application, status_code=201,
             responses=problem_responses(409, 422, 503),
             summary="Declare the construction intent for a park of your league (league_government): a draft")
async def create_application(body: ApplicationCreate, request: Request, response: Response, session: SessionDep,
                             principal: Applicant) -> Application:
    app, experts = await service.create(session, request, principal, body)
    response.headers["Location"] = f"/applications/{app.id}"
    response.headers["ETag"] = service.etag(app)
    return service.out(app, experts)


@router.get("/applications", response_model=ApplicationPage, responses=problem_responses(422),
            summary="Applications the caller may see, by league, state, overdue (cursor pages)")
async def list_applications(
    session: SessionDep, principal: Caller,
    league: Annotated[str | None, Query(pattern=r"^\d{6}$", description="league code (GB/T 2260)")] = None,
    state: ApplicationState | None = None,
    overdue: Annotated[bool | None, Query(description="true: past the deadline of their state")] = None,
    cursor: Annotated[str | None, Query(max_length=200)] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = DEFAULT_LIMIT,
) -> ApplicationPage:
    access.check_role(principal)
    if principal.role == Role.league_government:
        if league is not None and league != principal.league_code:
            raise Problem(403, "other-league", f"A league government lists its own league's applications "
                          f"({principal.league_code}) only.", league_code=principal.league_code)
        league = principal.league_code
    after = int(decode_cursor(cursor, 1)[0]) if cursor else None
    now = utcnow()
    expert = principal.sub if principal.role == Role.expert else None
    rows = await repo.run_listing(session, repo.listing(
        league=league, state=state.value if state else None, overdue=overdue, expert=expert,
        after_id=after, limit=limit + 1, now=now))
    page = list(rows[:limit])
    panels = await repo.experts_of(session, [a.id for a in page])
    return ApplicationPage(items=[service.out(a, panels[a.id], now) for a in page], limit=limit,
                           next_cursor=encode_cursor([page[-1].id]) if len(rows) > limit else None)


@router.get("/applications/{application_id}", response_model=Application, summary="One application (ETag)")
async def get_application(application_id: ApplicationId, request: Request, response: Response,
                          principal: Caller) -> Application:
    # the platforms read an application before every command (its ETag): one statement on the driver
    db: Database = request.app.state.db
    async with db.driver_connection() as driver:
        app, experts = await TransitionStore(driver, db.dialect).readable(principal, application_id,
                                                                          for_update=False)
    response.headers["ETag"] = service.etag(app)
    return service.out(app, experts)


@router.post("/applications/{application_id}/transitions/{name}", response_model=Application,
             responses=problem_responses(409, 412, 422, 428),
             summary="Take a transition of the process (If-Match: the application's ETag; Idempotency-Key honoured)")
async def take_transition(application_id: ApplicationId, name: TransitionName, request: Request, response: Response,
                          session: SessionDep, principal: Caller,
                          body: Annotated[TransitionRequest | None, Body()] = None) -> Application:
    app, experts = await transitions.take(await TransitionStore.of(session), request, principal, application_id,
                                          name, body or TransitionRequest())
    response.headers["ETag"] = service.etag(app)
    return service.out(app, experts)


@router.get("/applications/{application_id}/actions", response_model=Actions,
            summary="For the caller: the transitions possible now, and for each other one why not")
async def get_actions(application_id: ApplicationId, session: SessionDep, principal: Caller) -> Actions:
    app, experts = await service.readable(session, principal, application_id)
    return await service.actions(session, principal, app, experts)


@router.get("/tasks", response_model=Tasks, responses=problem_responses(422),
            summary="What is waiting for the caller (overdue first; cursor pages)")
async def get_tasks(session: SessionDep, principal: Caller,
                    cursor: Annotated[str | None, Query(max_length=200)] = None,
                    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = DEFAULT_LIMIT) -> Tasks:
    return await service.tasks(session, principal, cursor=cursor, limit=limit)


@router.get("/applications/{application_id}/deliveries", response_model=list[Delivery],
            summary="The application's messages to the registry and their delivery state (outbox)")
async def get_deliveries(application_id: ApplicationId, session: SessionDep, principal: Caller) -> list[Delivery]:
    app, _ = await service.readable(session, principal, application_id)
    return [delivery(m) for m in await deliveries(session, OutboxMessage, f"application:{app.id}")]
