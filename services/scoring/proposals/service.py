"""Proposals of 002 art. 15 drawn when an evaluation is published, and the S&T Department's one decision
on each. A confirmed rectification or revocation proposal reaches the registry as one status event
through the outbox (contracts: status transitions; the registry being down only delays its delivery).
A proposal of an evaluation that a published correction supersedes is not decided any more; confirming
re-checks the zone's status in the registry first, so that an event the registry would refuse is never
enqueued."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any, Literal
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from services.scoring.clients.registry import RegistryClient
from services.scoring.evaluations import repository as evaluations_repo
from services.scoring.models import OutboxMessage, Proposal, ProposalDecision
from services.scoring.proposals.rules import TARGET_STATUS, Draft, Earlier, transition_possible, transition_rule
from shared.auth import Principal
from shared.outbox import enqueue
from shared.problems import Problem, field_error

LEGAL_BASIS = {"document": "内政办发〔2022〕17号", "article": "15", "date": "2022-02-24"}
SHANGHAI = ZoneInfo("Asia/Shanghai")
REGISTRY = "registry"


def store(session: AsyncSession, evaluation_id: int, drafts: list[Draft]) -> list[Proposal]:
    rows = [Proposal(evaluation_id=evaluation_id, zone_code=d.zone, kind=d.kind, evidence=d.evidence) for d in drafts]
    session.add_all(rows)
    return rows


async def get(session: AsyncSession, proposal_id: int) -> tuple[Proposal, ProposalDecision | None]:
    row = await session.get(Proposal, proposal_id)
    if row is None:
        raise Problem(404, "proposal-not-found", f"No proposal {proposal_id}.")
    return row, await session.get(ProposalDecision, proposal_id)


async def listing(session: AsyncSession, evaluation_id: int | None = None,
                  pending: bool | None = None) -> list[tuple[Proposal, ProposalDecision | None, int | None]]:
    """(proposal, decision, the published correction superseding its evaluation); `pending`: undecided
    and not superseded (decidable), or decided."""
    stmt = (select(Proposal, ProposalDecision).outerjoin(ProposalDecision, ProposalDecision.proposal_id == Proposal.id)
            .order_by(Proposal.evaluation_id.desc(), Proposal.id))
    if evaluation_id is not None:
        stmt = stmt.where(Proposal.evaluation_id == evaluation_id)
    if pending is not None:
        decided = ProposalDecision.proposal_id
        stmt = stmt.where(decided.is_(None) if pending else decided.is_not(None))
    rows = (await session.execute(stmt)).all()
    superseded = await evaluations_repo.published_superseders(session, {p.evaluation_id for p, _ in rows})
    return [(p, d, superseded.get(p.evaluation_id)) for p, d in rows
            if not (pending and superseded.get(p.evaluation_id) is not None)]


async def earlier(session: AsyncSession, supersedes_id: int | None) -> dict[tuple[str, str], Earlier]:
    """The proposals down the chain of evaluations a correction supersedes, the nearest first; a
    confirmed one wins over any other of the same zone and kind."""
    out: dict[tuple[str, str], Earlier] = {}
    seen: set[int] = set()
    evaluation_id = supersedes_id
    while evaluation_id is not None and evaluation_id not in seen:
        seen.add(evaluation_id)
        for p, d, _ in await listing(session, evaluation_id):
            state: Literal["proposed", "confirmed", "dismissed"] = \
                "proposed" if d is None else "confirmed" if d.decision == "confirmed" else "dismissed"
            key = (p.zone_code, p.kind)
            if key not in out or (state == "confirmed" and out[key].state != "confirmed"):
                out[key] = Earlier(p.id, p.evaluation_id, state)
        row = await evaluations_repo.get(session, evaluation_id)
        evaluation_id = row.supersedes_id if row is not None else None
    return out


async def decide(session: AsyncSession, registry: RegistryClient, proposal: Proposal, decision: str,
                 note: str | None, principal: Principal) -> ProposalDecision:
    """Confirm or dismiss, once (a second decision is 409); not once its evaluation is superseded by a
    published correction (409). Confirming rectification or revocation re-checks the zone's status in the
    registry (409 when the transition is no longer possible) and enqueues the registry status event in this
    transaction; confirming an upgrade records the decision only (the level changes when the national
    approval arrives, entered by the S&T Department on the registry)."""
    if await session.get(ProposalDecision, proposal.id) is not None:
        raise Problem(409, "proposal-decided", f"Proposal {proposal.id} has been decided already.")
    if (newer := await evaluations_repo.published_superseder(session, proposal.evaluation_id)) is not None:
        raise Problem(409, "evaluation-superseded", f"Proposal {proposal.id} was drawn from evaluation "
                      f"{proposal.evaluation_id}, which the published correction {newer} supersedes: decide that "
                      "one's proposals. Nothing was changed.", evaluation_id=proposal.evaluation_id,
                      superseded_by=newer)
    if decision == "confirmed" and proposal.kind in TARGET_STATUS:
        await _check_transition(registry, proposal)
    event_id = None
    if decision == "confirmed" and proposal.kind in TARGET_STATUS:
        event_id = str(uuid.uuid4())
        today = dt.datetime.now(SHANGHAI).date().isoformat()
        enqueue(session, OutboxMessage, aggregate=f"zone:{proposal.zone_code}", destination=REGISTRY,
                method="POST", path=f"/zones/{proposal.zone_code}/events", message_id=event_id, body={
                    "event_id": event_id,
                    "change": [{"field": "status", "value": TARGET_STATUS[proposal.kind]}],
                    "effective_date": today, "effective_precision": "day", "legal_basis": LEGAL_BASIS,
                    "actor": principal.sub, "source": f"scoring:proposals/{proposal.id}",
                    "note": f"{proposal.kind} proposal of evaluation {proposal.evaluation_id} confirmed"
                            + (f": {note}" if note else ""),
                })
    row = ProposalDecision(proposal_id=proposal.id, decision=decision, decided_by=principal.sub, note=note,
                           event_id=event_id)
    session.add(row)
    try:
        await session.flush()
    except IntegrityError:  # decided concurrently
        raise Problem(409, "proposal-decided", f"Proposal {proposal.id} has been decided already.") from None
    return row


async def _check_transition(registry: RegistryClient, proposal: Proposal) -> None:
    """409 unless the registry still takes the proposal's status event from the zone's status now
    (contracts, status transitions; 002 art. 15), asked afresh, not from the cache."""
    zone = (await registry.zones([proposal.zone_code], fresh=True)).get(proposal.zone_code)
    status = zone.get("status") if zone is not None else None
    rule = transition_rule(proposal.kind)
    if zone is not None and transition_possible(proposal.kind, status):
        return
    now = f"is {status} in the registry now" if zone is not None else "is not in the register"
    raise Problem(409, "status-transition-impossible", f"Zone {proposal.zone_code} {now}: confirming the "
                  f"{proposal.kind} proposal {proposal.id} needs the transition {rule} (contracts, status "
                  "transitions; 002 art. 15), which is no longer possible. Nothing was changed; dismiss it.",
                  rule=rule, zone=proposal.zone_code, zone_status=status,
                  errors=[field_error("decision", f"the zone {now}; {rule} is not possible",
                                      "transition-impossible")])


def out(p: Proposal, d: ProposalDecision | None, uncertainty: dict[str, Any] | None = None,
        superseded_by: int | None = None) -> dict[str, Any]:
    return {"id": p.id, "evaluation_id": p.evaluation_id, "zone": p.zone_code, "kind": p.kind,
            "evidence": p.evidence, "created_at": p.created_at.isoformat(),
            "state": d.decision if d is not None else "superseded" if superseded_by is not None else "proposed",
            "superseded_by_evaluation": superseded_by,
            "decision": None if d is None else {"decision": d.decision, "by": d.decided_by,
                                                "at": d.decided_at.isoformat(), "note": d.note,
                                                "registry_event_id": d.event_id},
            "rank_interval": uncertainty, "href": f"/proposals/{p.id}"}
