"""Dynamic-management proposals (002 art. 15): list, read, and the S&T Department's one decision."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Path, Query, Request

from services.scoring.evaluations import repository as evaluations_repo
from services.scoring.evaluations.schemas import Decision
from services.scoring.models import Proposal, UncertaintyRun
from services.scoring.proposals import service
from shared.auth import Principal, Role, require_roles
from shared.db import SessionDep
from shared.problems import Problem, problem_responses

router = APIRouter(tags=["dynamic management"], responses=problem_responses(401, 403, 404))
Reader = Annotated[Principal, Depends(require_roles(
    Role.st_department, Role.observer, Role.regional_government, Role.league_government))]
StDepartment = Annotated[Principal, Depends(require_roles(Role.st_department))]
ProposalId = Annotated[int, Path(ge=1, le=2**31 - 1)]


async def _interval(session: Any, evaluation_id: int, zone: str) -> dict[str, Any] | None:
    """The zone's rank interval from the latest uncertainty analysis of the evaluation, if one ran."""
    from sqlalchemy import select

    stmt = (select(UncertaintyRun).where(UncertaintyRun.evaluation_id == evaluation_id)
            .order_by(UncertaintyRun.id.desc()).limit(1))
    run = (await session.execute(stmt)).scalar_one_or_none()
    if run is None:
        return None
    line = next((z for z in run.result.get("zones", []) if z.get("code") == zone), None)
    return None if line is None else {"uncertainty_run": run.id, **{k: line.get(k) for k in (
        "median_rank", "rank_p05", "rank_p95", "last_share")}}


def _visible(principal: Principal, zone_league: str | None) -> bool:
    return principal.role is not Role.league_government or principal.league_code == zone_league


async def _league(session: Any, p: Proposal) -> str | None:
    """The league of the proposal's zone, as the evaluation's cohort recorded it."""
    ev = await evaluations_repo.get(session, p.evaluation_id)
    return next((z.get("league_code") for z in ev.cohort["zones"] if z["code"] == p.zone_code), None) \
        if ev else None


async def _readable(session: Any, proposal_id: int, principal: Principal) -> tuple[Proposal, Any]:
    """The proposal, if the caller may read it (a league government: its own league's zones only)."""
    p, d = await service.get(session, proposal_id)
    if not _visible(principal, await _league(session, p)):
        raise Problem(404, "proposal-not-found", f"No proposal {proposal_id} of a zone of your league.")
    return p, d


@router.get("/proposals", summary="Proposals, newest evaluation first (a league sees its own zones')")
async def list_proposals(session: SessionDep, principal: Reader,
                         evaluation: Annotated[int | None, Query(ge=1, le=2**31 - 1)] = None,
                         state: Annotated[Literal["proposed", "decided"] | None, Query(
                             description="proposed: still decidable (undecided, evaluation not superseded)")] = None,
                         ) -> dict[str, Any]:
    rows = await service.listing(session, evaluation, None if state is None else state == "proposed")
    items = []
    for p, d, superseded_by in rows:
        if _visible(principal, await _league(session, p)):
            items.append(service.out(p, d, await _interval(session, p.evaluation_id, p.zone_code), superseded_by))
    return {"items": items}


@router.get("/proposals/{proposal_id}", summary="One proposal with its evidence and rank interval")
async def get_proposal(proposal_id: ProposalId, session: SessionDep, principal: Reader) -> dict[str, Any]:
    p, d = await _readable(session, proposal_id, principal)
    return service.out(p, d, await _interval(session, p.evaluation_id, p.zone_code),
                       await evaluations_repo.published_superseder(session, p.evaluation_id))


@router.post("/proposals/{proposal_id}/decision", responses=problem_responses(409, 422, 503),
             summary="Confirm or dismiss (st_department), once, while its evaluation is not superseded; a "
                     "confirmed rectification or revocation proposal, re-checked against the zone's status in "
                     "the registry, reaches the registry as one status event through the outbox")
async def decide(proposal_id: ProposalId, body: Decision, request: Request, session: SessionDep,
                 principal: StDepartment) -> dict[str, Any]:
    p, _ = await service.get(session, proposal_id)
    d = await service.decide(session, request.app.state.registry, p, body.decision, body.note, principal)
    return service.out(p, d, await _interval(session, p.evaluation_id, p.zone_code))


@router.get("/proposals/{proposal_id}/deliveries", summary="Delivery state of the registry event, if any")
async def deliveries(proposal_id: ProposalId, session: SessionDep, principal: Reader) -> dict[str, Any]:
    from services.scoring.models import OutboxMessage
    from shared.outbox import deliveries as outbox_deliveries

    p, d = await _readable(session, proposal_id, principal)
    items = [m for m in await outbox_deliveries(session, OutboxMessage, f"zone:{p.zone_code}")
             if d is not None and m.id == d.event_id]
    return {"items": [{"id": m.id, "state": m.state, "attempts": m.attempts, "last_status": m.last_status,
                       "last_error": m.last_error, "created_at": m.created_at.isoformat(),
                       "delivered_at": m.delivered_at.isoformat() if m.delivered_at else None,
                       "replayed_at": m.replayed_at.isoformat() if m.replayed_at else None} for m in items]}
