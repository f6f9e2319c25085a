"""The outbox's dead letters over HTTP, one implementation for every service with an outbox
(shared/outbox.py): a message its peer refused (a 4xx other than a transient one) or that kept failing
past the retry window is `dead` and blocks the later messages of its aggregate; an operator lists them and
replays one (same id, same body; `replayed_at` records the replay, from which the retry window counts
again)."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path
from pydantic import BaseModel

from shared.auth import Principal, Role, require_roles
from shared.db import SessionDep
from shared.outbox import list_dead, replay
from shared.problems import Problem, problem_responses

MessageId = Annotated[str, Path(pattern=r"^[0-9a-f\-]{36}$", description="the message (= peer event) id")]


class Delivery(BaseModel):
    """A message of the outbox and its delivery state."""

    id: str
    seq: int
    destination: str
    method: str
    path: str
    body: Any
    state: str
    attempts: int
    last_status: int | None
    last_error: str | None
    next_attempt_at: dt.datetime
    created_at: dt.datetime
    delivered_at: dt.datetime | None
    replayed_at: dt.datetime | None  # the latest replay: the retry window counts from here (else created_at)


def delivery(m: Any) -> Delivery:
    return Delivery(id=m.id, seq=m.seq, destination=m.destination, method=m.method, path=m.path, body=m.body,
                    state=m.state, attempts=m.attempts, last_status=m.last_status, last_error=m.last_error,
                    next_attempt_at=m.next_attempt_at, created_at=m.created_at, delivered_at=m.delivered_at,
                    replayed_at=m.replayed_at)


def dead_letter_router(model: type[Any], operator: Role, what: str) -> APIRouter:
    """GET /outbox/dead and POST /outbox/{message_id}/replay for `operator` (`what`: whose messages)."""
    router = APIRouter(tags=["outbox"], responses=problem_responses(401, 403))
    allowed = Depends(require_roles(operator))  # a default, not an annotation: the handlers are local

    @router.get("/outbox/dead", response_model=list[Delivery],
                summary=f"Dead messages ({what}), oldest first ({operator.value})")
    async def dead_messages(session: SessionDep, principal: Principal = allowed) -> list[Delivery]:
        return [delivery(m) for m in await list_dead(session, model, limit=500)]

    @router.post("/outbox/{message_id}/replay", response_model=Delivery, responses=problem_responses(404),
                 summary=f"Put a dead message back in the queue, due now ({operator.value})")
    async def replay_message(message_id: MessageId, session: SessionDep, principal: Principal = allowed) -> Delivery:
        message = await replay(session, model, message_id)
        if message is None:
            raise Problem(404, "dead-message-not-found", f"No dead message {message_id}.")
        return delivery(message)

    return router
