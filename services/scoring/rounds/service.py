"""Expert scores of the qualitative indicators (002 annex 1: 2.8, 4.2, 4.3, 4.5; SPEC 8.3).

The S&T Department opens a year's round and assigns experts by token `sub` (to given zones or to all);
an expert scores only what is assigned, 0 … the indicator's points, and sees and changes only their own
scores; every change is a new revision. Publishing an evaluation that used the round freezes it."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from services.scoring.clients.registry import RegistryClient
from services.scoring.data.service import unit_problems
from services.scoring.frameworks import service as frameworks
from services.scoring.frameworks.definition import FrameworkDocument, Node
from services.scoring.models import EvaluationRound, ExpertScore, RoundExpert
from services.scoring.rounds import repository as repo
from services.scoring.rounds.schemas import ExpertAssignment, RoundCreate
from shared.auth import Principal
from shared.problems import Problem, field_error

DEFAULT_SCORE_MAX = Decimal(100)  # a qualitative indicator without points (not in 002) is scored 0..100


async def open_round(session: AsyncSession, body: RoundCreate, principal: Principal) -> EvaluationRound:
    """Open the round of a (framework, year); one per pair."""
    if (error := await frameworks.unknown(session, body.framework)) is not None:
        raise Problem(422, "validation-failed", f"No framework {body.framework}.", errors=[error])
    _, doc = await frameworks.current(session, body.framework)
    if not qualitative(doc):
        raise Problem(422, "no-qualitative-indicators", f"{doc.id} has no qualitative indicator to score.",
                      errors=[field_error("framework", "has no qualitative indicator", "no-qualitative")])
    if (existing := await repo.find(session, body.framework, body.year)) is not None:
        raise Problem(409, "round-exists", f"The {body.year} round of {body.framework} is open already "
                      f"(round {existing.id}).", round_id=existing.id)
    row = EvaluationRound(framework_id=body.framework, year=body.year, opened_by=principal.sub, note=body.note)
    session.add(row)
    await session.flush()
    return row


async def get_round(session: AsyncSession, round_id: int) -> EvaluationRound:
    row = await repo.get(session, round_id)
    if row is None:
        raise Problem(404, "round-not-found", f"No round {round_id}.")
    return row


async def ensure_open(session: AsyncSession, row: EvaluationRound) -> None:
    if (evaluation := await repo.frozen_by(session, row.id)) is not None:
        raise Problem(409, "round-frozen", f"Round {row.id} is frozen: evaluation {evaluation} that used it is "
                      "published (a correction is a new evaluation).", evaluation_id=evaluation)


def qualitative(doc: FrameworkDocument) -> dict[str, Node]:
    return {n.code: n for n in doc.indicators if n.kind == "qualitative"}


async def assign(session: AsyncSession, registry: RegistryClient, row: EvaluationRound, body: ExpertAssignment,
                 principal: Principal) -> list[RoundExpert]:
    """Assign an expert to zones (or all); zones must be in the framework's scope. Re-assigning is a no-op."""
    await ensure_open(session, row)
    _, doc = await frameworks.current(session, row.framework_id)
    zones: list[str | None] = list(dict.fromkeys(body.zones)) if body.zones else [None]
    if body.zones:
        bad = await unit_problems(doc, "unit", [z for z in zones if z], registry)
        if bad:
            raise Problem(422, "validation-failed", f"{len(bad)} zone(s) cannot be assigned.", errors=[
                field_error(["zones", i], reason, code) for i, z in enumerate(zones)
                if z in bad for code, reason in [bad[z]]])
    have = {(a.zone_code) for a in await repo.assignments(session, row.id, body.expert)}
    for zone in zones:
        if zone not in have:
            session.add(RoundExpert(round_id=row.id, expert_sub=body.expert, zone_code=zone,
                                    assigned_by=principal.sub))
    try:
        await session.flush()
    except IntegrityError:  # a concurrent identical assignment
        raise Problem(409, "concurrent-change", "The assignment changed meanwhile; retry.") from None
    return list(await repo.assignments(session, row.id, body.expert))


def is_assigned(assignments: list[RoundExpert], zone: str) -> bool:
    return any(a.zone_code is None or a.zone_code == zone for a in assignments)


async def put_score(session: AsyncSession, registry: RegistryClient, row: EvaluationRound, principal: Principal,
                    zone: str, indicator: str, score: Decimal | None,
                    comment: str | None) -> tuple[ExpertScore, bool]:
    """Record the expert's score (a new revision); (row, created). Same score and comment: unchanged. An
    expert assigned to every zone scores only zones of the framework's scope (a zone assigned by name was
    checked when assigned)."""
    await ensure_open(session, row)
    _, doc = await frameworks.current(session, row.framework_id)
    nodes = qualitative(doc)
    node = nodes.get(indicator)
    if node is None:
        raise Problem(422, "not-qualitative", f"{indicator} is not a qualitative indicator of {doc.id} "
                      f"(these are: {', '.join(nodes)}).",
                      errors=[field_error("indicator", f"one of {', '.join(nodes)}", "not-qualitative",
                                          location="path")])
    assignments = list(await repo.assignments(session, row.id, principal.sub))
    if not is_assigned(assignments, zone):
        raise Problem(403, "expert-not-assigned", f"Expert {principal.sub} is not assigned to {zone} in round "
                      f"{row.id}.", errors=[field_error("zone_code", "not assigned to this expert", "not-assigned",
                                                        location="path")])
    if not any(a.zone_code == zone for a in assignments):  # assigned to every zone: of the scope only (002 art. 7)
        bad = await unit_problems(doc, "unit", [zone], registry)
        if zone in bad:
            code, reason = bad[zone]
            raise Problem(422, "validation-failed", f"{zone} cannot be scored in round {row.id}: {reason}.",
                          errors=[field_error("zone_code", reason, code, location="path")])
    top = node.points if node.points is not None else DEFAULT_SCORE_MAX
    if score is not None and not Decimal(0) <= score <= top:
        raise Problem(422, "validation-failed", f"A score of {indicator} is between 0 and {top}.",
                      errors=[field_error("score", f"between 0 and {top} (the indicator's points)", "out-of-range")])
    last = await repo.latest_score(session, row.id, principal.sub, zone, indicator)
    if last is not None and last.score == score and last.comment == comment:
        return last, False
    new = ExpertScore(round_id=row.id, expert_sub=principal.sub, zone_code=zone, indicator=indicator,
                      revision=(last.revision + 1) if last else 1, score=score, comment=comment)
    session.add(new)
    try:
        await session.flush()
    except IntegrityError:  # the same expert posting twice at once
        raise Problem(409, "concurrent-change", "This score changed meanwhile; read it and retry.") from None
    return new, True


def score_out(s: ExpertScore) -> dict[str, Any]:
    return {"zone": s.zone_code, "indicator": s.indicator, "expert": s.expert_sub, "revision": s.revision,
            "score": None if s.score is None else str(s.score), "comment": s.comment,
            "recorded_at": s.recorded_at.isoformat()}


def round_out(row: EvaluationRound, frozen_by: int | None, assignments: list[RoundExpert]) -> dict[str, Any]:
    experts: dict[str, list[str] | None] = {}
    for a in assignments:
        if a.zone_code is None:
            experts[a.expert_sub] = None
        elif experts.get(a.expert_sub, []) is not None:
            experts.setdefault(a.expert_sub, []).append(a.zone_code)  # type: ignore[union-attr]
    return {"id": row.id, "framework": row.framework_id, "year": row.year, "opened_by": row.opened_by,
            "opened_at": row.opened_at.isoformat(), "note": row.note,
            "state": "frozen" if frozen_by is not None else "open", "frozen_by_evaluation": frozen_by,
            "experts": [{"expert": k, "zones": v} for k, v in experts.items()],
            "href": f"/rounds/{row.id}"}


def snapshot(scores: list[ExpertScore]) -> list[dict[str, Any]]:
    """The scores an evaluation takes: the latest non-withdrawn revision of each (expert, zone, indicator)."""
    return [{"id": s.id, "zone": s.zone_code, "indicator": s.indicator, "expert": s.expert_sub,
             "revision": s.revision, "score": str(s.score)} for s in scores if s.score is not None]
