"""The expert panel (002 art. 6(二)): the S&T Department assigns experts; each assigned expert gives one
opinion per round. Every change is audited and bumps the application's version (the guards read it)."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from services.workflow.applications import repository as repo
from services.workflow.applications.service import readable
from services.workflow.applications.store import TransitionStore
from services.workflow.audit import service as audit
from services.workflow.models import Application, ExpertAssignment, Opinion, PanelConclusion
from services.workflow.panel.schemas import (
    Assignment,
    Conclusion,
    OpinionCreate,
    OpinionOut,
    Opinions,
    Panel,
    Round,
)
from services.workflow.process import definition
from shared.auth import Principal
from shared.db import utcnow
from shared.problems import Problem, field_error


def _touch(app: Application) -> None:
    app.version += 1
    app.updated_at = utcnow()


def _check_state(app: Application, allowed: Sequence[str], what: str, code: str) -> None:
    if app.state not in allowed:
        raise Problem(409, code, f"{what} only while the application is {', '.join(allowed)}; it is {app.state}.",
                      state=app.state)


async def panel(session: AsyncSession, app: Application) -> Panel:
    rows = (await session.execute(select(ExpertAssignment).where(ExpertAssignment.application_id == app.id)
                                  .order_by(ExpertAssignment.assigned_at, ExpertAssignment.id))).scalars().all()
    return panel_of(app, rows)


def panel_of(app: Application, rows: Sequence[ExpertAssignment]) -> Panel:
    return Panel(application_id=app.id, version=app.version, experts=[
        Assignment(expert_sub=r.expert_sub, assigned_by=r.assigned_by, assigned_at=r.assigned_at,
                   removed_by=r.removed_by, removed_at=r.removed_at) for r in rows])


async def assign(store: TransitionStore, principal: Principal, application_id: int, expert_sub: str) -> Panel:
    """Put an expert on the panel (again, after a removal). The statements on the driver, as a
    transition's (applications/store.py): the route's session's or the lane's own (applications/hot.py)."""
    app, _ = await store.readable(principal, application_id)
    _check_state(app, definition(app.process_version).expert_assignment_states, "Experts are assigned",
                 "assignment-closed")
    row = await store.assignment(app.id, expert_sub)
    now = utcnow()
    if row is not None and row.removed_at is None:
        raise Problem(409, "already-assigned", f"{expert_sub} is already on the panel.",
                      errors=[field_error("expert_sub", "already on the panel", "already-assigned")])
    if row is None:
        store.add(ExpertAssignment(application_id=app.id, expert_sub=expert_sub, assigned_by=principal.sub,
                                   assigned_at=now))
    else:
        row.assigned_by, row.assigned_at, row.removed_by, row.removed_at = principal.sub, now, None, None
        await store.update(row, ["assigned_by", "assigned_at", "removed_by", "removed_at"])
    _touch(app)
    await audit.append(store, app, principal, "assign_expert", data={"expert_sub": expert_sub}, flush=False)
    await store.flush(app)  # the application's version and audit head, the new rows
    return panel_of(app, await store.assignments(app.id))


async def remove(session: AsyncSession, principal: Principal, application_id: int, expert_sub: str) -> Panel:
    """Take an expert off the panel (opinions already given stay)."""
    app, _ = await readable(session, principal, application_id, for_update=True)
    _check_state(app, definition(app.process_version).expert_assignment_states, "Experts are removed",
                 "assignment-closed")
    row = await repo.assignment(session, app.id, expert_sub)
    if row is None or row.removed_at is not None:
        raise Problem(404, "not-assigned", f"{expert_sub} is not on the panel.",
                      errors=[field_error("expert_sub", "not on the panel", "not-assigned", location="path")])
    row.removed_by, row.removed_at = principal.sub, utcnow()
    _touch(app)
    await audit.append(session, app, principal, "remove_expert", data={"expert_sub": expert_sub}, flush=False)
    await session.flush()
    return await panel(session, app)


def _opinion_out(o: Opinion) -> OpinionOut:
    return OpinionOut(id=o.id, round=o.round, expert_sub=o.expert_sub,
                      recommendation=o.recommendation, text=o.text, created_at=o.created_at)  # type: ignore[arg-type]


async def give(store: TransitionStore, principal: Principal, application_id: int, body: OpinionCreate) -> OpinionOut:
    """The calling expert's opinion in the current round (once per round); on the driver, as a transition
    (the route's session's or the lane's own)."""
    # 403 unless on the panel; the round's opinions come with the application
    app, _ = await store.readable(principal, application_id, prefetch=frozenset({"opinions"}))
    _check_state(app, definition(app.process_version).opinion_states, "Opinions are given", "opinions-closed")
    _, given = await store.guard_rows(app, frozenset({"opinions"}))
    mine = [o for o in given if o.expert_sub == principal.sub]
    if mine:
        raise Problem(409, "opinion-given", f"{principal.sub} already gave an opinion in round {app.round}.",
                      opinion_id=mine[0].id)
    opinion = Opinion(application_id=app.id, round=app.round, expert_sub=principal.sub,
                      recommendation=body.recommendation, text=body.text, created_at=utcnow())
    store.add(opinion)
    _touch(app)
    await audit.append(store, app, principal, "give_opinion", data={"recommendation": body.recommendation},
                       documents=[{"opinion_of": principal.sub, "round": app.round,
                                   "sha256": hashlib.sha256(body.text.encode()).hexdigest()}], flush=False)
    await store.flush(app)  # the opinion's id comes back for the answer
    return _opinion_out(opinion)


async def opinions(session: AsyncSession, app: Application, experts: Sequence[str]) -> Opinions:
    """Every round's opinions and conclusion; who is still to give one in the current round."""
    rows = await repo.opinions(session, app.id)
    conclusions = {c.round: c for c in (await session.execute(
        select(PanelConclusion).where(PanelConclusion.application_id == app.id))).scalars().all()}
    rounds = []
    for n in range(1, app.round + 1):
        mine = [o for o in rows if o.round == n]
        c = conclusions.get(n)
        outstanding = sorted(set(experts) - {o.expert_sub for o in mine}) if n == app.round and c is None else []
        rounds.append(Round(round=n, opinions=[_opinion_out(o) for o in mine], outstanding=outstanding,
                            conclusion=Conclusion(conclusion=c.conclusion, comment=c.comment,  # type: ignore[arg-type]
                                                  recorded_by=c.recorded_by, recorded_at=c.recorded_at)
                            if c else None))
    return Opinions(application_id=app.id, current_round=app.round, rounds=rounds)
