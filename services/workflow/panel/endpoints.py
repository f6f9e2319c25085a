"""Expert panel and opinions routes (002 art. 6(二))."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path

from services.workflow.applications.service import readable
from services.workflow.applications.store import TransitionStore
from services.workflow.panel import service
from services.workflow.panel.schemas import AssignmentCreate, OpinionCreate, OpinionOut, Opinions, Panel
from shared.auth import Principal, Role, current_principal, require_roles
from shared.db import SessionDep
from shared.problems import problem_responses

router = APIRouter(tags=["panel"], responses=problem_responses(401, 403, 404, 409))
StDepartment = Annotated[Principal, Depends(require_roles(Role.st_department))]
Expert = Annotated[Principal, Depends(require_roles(Role.expert))]
Caller = Annotated[Principal, Depends(current_principal)]
ApplicationId = Annotated[int, Path(ge=1, le=2**31 - 1)]
ExpertSubPath = Annotated[str, Path(pattern=r"^[\x21-\x7e]{1,120}$")]


@router.get("/applications/{application_id}/experts", response_model=Panel, summary="The expert panel")
async def get_panel(application_id: ApplicationId, session: SessionDep, principal: Caller) -> Panel:
    app, _ = await readable(session, principal, application_id)
    return await service.panel(session, app)


@router.post("/applications/{application_id}/experts", response_model=Panel, status_code=201,
             summary="Assign an expert (st_department; intent_submitted, under_expert_review, revised)")
async def assign_expert(application_id: ApplicationId, body: AssignmentCreate, session: SessionDep,
                        principal: StDepartment) -> Panel:
    return await service.assign(await TransitionStore.of(session), principal, application_id, body.expert_sub)


@router.delete("/applications/{application_id}/experts/{expert_sub}", response_model=Panel,
               summary="Take an expert off the panel (st_department); opinions given stay")
async def remove_expert(application_id: ApplicationId, expert_sub: ExpertSubPath, session: SessionDep,
                        principal: StDepartment) -> Panel:
    return await service.remove(session, principal, application_id, expert_sub)


@router.get("/applications/{application_id}/opinions", response_model=Opinions,
            summary="Opinions and the panel's conclusion, round by round")
async def get_opinions(application_id: ApplicationId, session: SessionDep, principal: Caller) -> Opinions:
    app, experts = await readable(session, principal, application_id)
    return await service.opinions(session, app, experts)


@router.post("/applications/{application_id}/opinions", response_model=OpinionOut, status_code=201,
             summary="Give your opinion in the current round (an expert on the panel; once per round)")
async def give_opinion(application_id: ApplicationId, body: OpinionCreate, session: SessionDep,
                       principal: Expert) -> OpinionOut:
    return await service.give(await TransitionStore.of(session), principal, application_id, body)
