"""Expert-score round routes: open a year's round, assign experts, experts score (issue #5 §2)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, Path, Query, Request, Response

from services.scoring.frameworks.definition import FRAMEWORK_ID
from services.scoring.rounds import repository as repo
from services.scoring.rounds import service
from services.scoring.rounds.schemas import ZONE_CODE, ExpertAssignment, RoundCreate, ScoreBody
from shared.auth import Principal, Role, require_roles
from shared.db import SessionDep
from shared.problems import Problem, problem_responses

router = APIRouter(tags=["expert scores"], responses=problem_responses(401, 403, 404))
StDepartment = Annotated[Principal, Depends(require_roles(Role.st_department))]
Expert = Annotated[Principal, Depends(require_roles(Role.expert))]
Reader = Annotated[Principal, Depends(require_roles(
    Role.st_department, Role.observer, Role.regional_government, Role.expert))]
RoundId = Annotated[int, Path(ge=1, le=2**31 - 1)]
ZoneCode = Annotated[str, Path(pattern=ZONE_CODE)]
IndicatorCode = Annotated[str, Path(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,31}$")]


@router.post("/rounds", status_code=201, responses=problem_responses(409, 422),
             summary="Open a year's round of expert scores (st_department)")
async def open_round(body: RoundCreate, response: Response, session: SessionDep,
                     principal: StDepartment) -> dict[str, Any]:
    row = await service.open_round(session, body, principal)
    response.headers["Location"] = f"/rounds/{row.id}"
    return service.round_out(row, None, [])


@router.get("/rounds", summary="Rounds (an expert sees the rounds it is assigned to)")
async def list_rounds(session: SessionDep, principal: Reader,
                      framework: Annotated[str | None, Query(pattern=FRAMEWORK_ID)] = None,
                      year: Annotated[int | None, Query(ge=1900, le=2200)] = None) -> dict[str, Any]:
    items = []
    for row in await repo.listing(session, framework, year):
        assignments = list(await repo.assignments(session, row.id,
                                                  principal.sub if principal.role is Role.expert else None))
        if principal.role is Role.expert and not assignments:
            continue
        items.append(service.round_out(row, await repo.frozen_by(session, row.id), assignments))
    return {"items": items}


@router.get("/rounds/{round_id}", summary="One round: state and assigned experts")
async def get_round(round_id: RoundId, session: SessionDep, principal: Reader) -> dict[str, Any]:
    row = await service.get_round(session, round_id)
    assignments = list(await repo.assignments(session, row.id,
                                              principal.sub if principal.role is Role.expert else None))
    if principal.role is Role.expert and not assignments:
        raise Problem(404, "round-not-found", f"No round {round_id} assigned to you.")
    return service.round_out(row, await repo.frozen_by(session, row.id), assignments)


@router.post("/rounds/{round_id}/experts", responses=problem_responses(409, 422, 503),
             summary="Assign an expert (token sub) to zones of the round, or to all (st_department)")
async def assign_expert(round_id: RoundId, body: ExpertAssignment, request: Request, session: SessionDep,
                        principal: StDepartment) -> dict[str, Any]:
    row = await service.get_round(session, round_id)
    await service.assign(session, request.app.state.registry, row, body, principal)
    return service.round_out(row, None, list(await repo.assignments(session, row.id)))


@router.put("/rounds/{round_id}/scores/{zone_code}/{indicator}", status_code=201,
            responses={200: {"description": "unchanged: the same score and comment as the latest revision"},
                       **problem_responses(409, 422, 503)},
            summary="An expert's score of one zone on one qualitative indicator, 0 … points (a new revision)")
async def put_score(round_id: RoundId, zone_code: ZoneCode, indicator: IndicatorCode,
                    body: Annotated[ScoreBody, Body()], request: Request, response: Response, session: SessionDep,
                    principal: Expert) -> dict[str, Any]:
    row = await service.get_round(session, round_id)
    score, created = await service.put_score(session, request.app.state.registry, row, principal, zone_code,
                                             indicator, body.score, body.comment)
    response.status_code = 201 if created else 200
    return service.score_out(score)


@router.get("/rounds/{round_id}/scores",
            summary="The latest scores of the round (an expert sees only its own)")
async def list_scores(round_id: RoundId, session: SessionDep, principal: Reader,
                      history: Annotated[bool, Query(description="every revision, not only the latest")] = False,
                      ) -> dict[str, Any]:
    row = await service.get_round(session, round_id)
    expert = principal.sub if principal.role is Role.expert else None
    scores = await repo.latest_scores(session, row.id, expert)
    items = [service.score_out(s) for s in scores]
    if history:
        items = [service.score_out(h) for s in scores
                 for h in await repo.score_history(session, row.id, s.expert_sub, s.zone_code, s.indicator)]
    return {"round": row.id, "items": items}
