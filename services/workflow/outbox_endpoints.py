"""The dead-letter list of the outbox and its replay (shared/outbox.py): a message the registry refused
(a 4xx other than a transient one) or that kept failing past the retry window blocks the rest of its
application's messages until the S&T Department replays it (same id, same body; `replayed_at` records
the replay, from which the retry window counts again)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path

from services.workflow.applications.schemas import Delivery
from services.workflow.models import OutboxMessage
from shared.auth import Principal, Role, require_roles
from shared.db import SessionDep
from shared.outbox import list_dead, replay
from shared.problems import Problem, problem_responses

router = APIRouter(tags=["outbox"], responses=problem_responses(401, 403))
StDepartment = Annotated[Principal, Depends(require_roles(Role.st_department))]
MessageId = Annotated[str, Path(pattern=r"^[0-9a-f\-]{36}$", description="the message (= registry event) id")]


def delivery(m: OutboxMessage) -> Delivery:
    return Delivery(id=m.id, seq=m.seq, destination=m.destination, method=m.method, path=m.path, body=m.body,
                    state=m.state, attempts=m.attempts, last_status=m.last_status, last_error=m.last_error,
                    next_attempt_at=m.next_attempt_at, created_at=m.created_at, delivered_at=m.delivered_at,
                    replayed_at=m.replayed_at)


@router.get("/outbox/dead", response_model=list[Delivery], summary="Dead messages, oldest first (st_department)")
async def dead_messages(session: SessionDep, principal: StDepartment) -> list[Delivery]:
    return [delivery(m) for m in await list_dead(session, OutboxMessage, limit=500)]


@router.post("/outbox/{message_id}/replay", response_model=Delivery, responses=problem_responses(404),
             summary="Put a dead message back in the queue, due now (st_department)")
async def replay_message(message_id: MessageId, session: SessionDep, principal: StDepartment) -> Delivery:
    message = await replay(session, OutboxMessage, message_id)
    if message is None:
        raise Problem(404, "dead-message-not-found", f"No dead message {message_id}.")
    return delivery(message)
