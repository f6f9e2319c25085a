"""Proposals of 002 art. 15 drawn when an evaluation is published, and the S&T Department's one decision
on each. A confirmed rectification or revocation proposal reaches the registry as one status event
through the outbox (contracts: status transitions; the registry being down only delays it)."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from services.scoring.models import OutboxMessage, Proposal, ProposalDecision
from services.scoring.proposals.rules import Draft
from shared.auth import Principal
from shared.outbox import enqueue
from shared.problems import Problem

LEGAL_BASIS = {"document": "内政办发〔2022〕17号", "article": "15", "date": "2022-02-24"}
TARGET_STATUS = {"rectification": "rectification", "revocation": "revocation_proposed"}
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
                  pending: bool | None = None) -> list[tuple[Proposal, ProposalDecision | None]]:
    stmt = (select(Proposal, ProposalDecision).outerjoin(ProposalDecision, ProposalDecision.proposal_id == Proposal.id)
            .order_by(Proposal.evaluation_id.desc(), Proposal.id))
    if evaluation_id is not None:
        stmt = stmt.where(Proposal.evaluation_id == evaluation_id)
    if pending is not None:
        decided = ProposalDecision.proposal_id
        stmt = stmt.where(decided.is_(None) if pending else decided.is_not(None))
    return [(p, d) for p, d in (await session.execute(stmt)).all()]


async def decide(session: AsyncSession, proposal: Proposal, decision: str, note: str | None,
                 principal: Principal) -> ProposalDecision:
    """Confirm or dismiss, once (a second decision is 409). Confirming rectification or revocation enqueues
    the registry status event in this transaction; confirming an upgrade records the decision only (the
    level changes when the national approval arrives, entered by the S&T Department on the registry)."""
    if await session.get(ProposalDecision, proposal.id) is not None:
        raise Problem(409, "proposal-decided", f"Proposal {proposal.id} has been decided already.")
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


def out(p: Proposal, d: ProposalDecision | None, uncertainty: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"id": p.id, "evaluation_id": p.evaluation_id, "zone": p.zone_code, "kind": p.kind,
            "evidence": p.evidence, "created_at": p.created_at.isoformat(),
            "state": "proposed" if d is None else d.decision,
            "decision": None if d is None else {"decision": d.decision, "by": d.decided_by,
                                                "at": d.decided_at.isoformat(), "note": d.note,
                                                "registry_event_id": d.event_id},
            "rank_interval": uncertainty, "href": f"/proposals/{p.id}"}
