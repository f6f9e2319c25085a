"""Applications: creating one for a park of the register, reading them, what the caller may do now
(/actions) and what is waiting for the caller (/tasks). Transitions are in transitions.py."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import replace
from typing import Any
from zoneinfo import ZoneInfo

from fastapi import Request
from sqlalchemy.ext.asyncio import AsyncSession

from services.workflow.applications import access
from services.workflow.applications import repository as repo
from services.workflow.applications.schemas import (
    Actions,
    ApplicationCreate,
    ImpossibleAction,
    JointSignatures,
    PossibleAction,
    Reason,
    Signature,
    Task,
    Tasks,
)
from services.workflow.applications.schemas import Application as ApplicationOut
from services.workflow.audit import service as audit
from services.workflow.clients.registry import RegistryClient
from services.workflow.clients.scoring import ScoringClient
from services.workflow.guards import READS, GuardContext
from services.workflow.models import Application, Material, Opinion
from services.workflow.process import (
    ProcessDefinition,
    Refusal,
    TransitionDef,
    deadline_days,
    definition,
    definitions,
    refusals,
)
from services.workflow.settings import Settings
from services.workflow.subscriptions import service as subscriptions
from shared.auth import Principal, Role
from shared.db import utcnow
from shared.http import DEFAULT_LIMIT, decode_cursor, encode_cursor, invalid_cursor, make_etag
from shared.problems import Problem, field_error
from shared.webhooks import new_webhook_id

SHANGHAI = ZoneInfo("Asia/Shanghai")
ZONE_FIELDS = ("code", "kind", "level", "status", "name_zh", "name_en", "league_code")


def settings_of(request: Request) -> Settings:
    return request.app.state.settings  # type: ignore[no-any-return]


def etag(app: Application) -> str:
    return make_etag(app.id, app.version)


def today() -> dt.date:
    return dt.datetime.now(SHANGHAI).date()


def local_date(at: dt.datetime) -> dt.date:
    return at.astimezone(SHANGHAI).date()


def due_at(p: ProcessDefinition, state: str, entered: dt.datetime, settings: Settings) -> dt.datetime | None:
    days = deadline_days(p, state, settings.deadline_days)
    return None if days is None else entered + dt.timedelta(days=days)


def out(app: Application, experts: Sequence[str], now: dt.datetime | None = None) -> ApplicationOut:
    now = now or utcnow()
    return ApplicationOut(
        id=app.id, zone_code=app.zone_code, league_code=app.league_code, park_name=app.park_name,
        proposed_name=app.proposed_name, proposed_name_en=app.proposed_name_en, state=app.state,  # type: ignore[arg-type]
        round=app.round, process_version=app.process_version, version=app.version, etag=etag(app),
        status_at_intent=app.status_at_intent, zone_at_intent=app.zone_at_intent,
        eligibility=app.eligibility, decision=app.decision, joint=joint_out(app),  # type: ignore[arg-type]
        experts=list(experts),
        created_by=app.created_by, created_at=app.created_at, updated_at=app.updated_at,
        state_entered_at=app.state_entered_at, due_at=app.due_at,
        overdue=app.closed_at is None and app.due_at is not None and app.due_at < now,
        intent_submitted_at=app.intent_submitted_at, closed_at=app.closed_at)


def signed(app: Application) -> dict[str, tuple[str, ...]]:
    """The roles that signed each joint transition in the application's current state."""
    j = app.joint_signatures
    if not j or j.get("state") != app.state:
        return {}
    return {j["transition"]: tuple(s["role"] for s in j["signatures"])}


def joint_out(app: Application) -> JointSignatures | None:
    j = app.joint_signatures
    if not j or j.get("state") != app.state:
        return None
    t = definition(app.process_version).transition(j["transition"])
    done = {s["role"] for s in j["signatures"]}
    return JointSignatures(transition=j["transition"], signatures=[Signature(**s) for s in j["signatures"]],
                           awaiting=[r.value for r in t.joint if r.value not in done] if t else [])


# ------------------------------------------------------------------------------------- create


def check_applicable(zone: dict[str, Any], settings: Settings) -> None:
    """The park's kind, level and status must allow an application (contracts: status transitions)."""
    wrong = [f"{name} {zone.get(name)!r} (allowed: {', '.join(allowed)})"
             for name, allowed in (("kind", settings.applicable_kinds), ("level", settings.applicable_levels),
                                   ("status", settings.applicable_statuses)) if zone.get(name) not in allowed]
    if wrong:
        raise Problem(409, "zone-cannot-apply", f"Zone {zone['code']} cannot apply for accreditation: "
                      + "; ".join(wrong) + ".",
                      errors=[field_error("zone_code", "; ".join(wrong), "zone-cannot-apply")])


async def create(session: AsyncSession, request: Request, principal: Principal,
                 body: ApplicationCreate) -> tuple[Application, list[str]]:
    """A draft application for a park of the caller's league (002 art. 6(一)); the eligibility advice is
    fetched from scoring now (never blocking), and the park's status and the advice are read again when the
    intent is submitted (transitions.py). The peers are asked before the database is touched."""
    settings = settings_of(request)
    registry: RegistryClient = request.app.state.registry
    zone = await registry.zone(body.zone_code)
    if zone is None:
        raise Problem(422, "unknown-zone", f"No zone {body.zone_code} in the register: the S&T Department "
                      "registers a new park there first.",
                      errors=[field_error("zone_code", "not in the register", "unknown-zone")])
    if zone.get("league_code") != principal.league_code:
        raise Problem(403, "other-league", f"Zone {body.zone_code} is in league {zone.get('league_code')}; a "
                      "league government applies for parks of its own league only (002 art. 6(一)).",
                      errors=[field_error("zone_code", "a park of another league", "other-league")])
    check_applicable(zone, settings)
    scoring: ScoringClient = request.app.state.scoring
    eligibility = await scoring.eligibility(body.zone_code, today().year)
    existing = await repo.open_for_zone(session, body.zone_code)
    if existing is not None:
        raise Problem(409, "application-open", f"Application {existing.id} for zone {body.zone_code} is still "
                      "open; one open application per park.", application_id=existing.id,
                      errors=[field_error("zone_code", f"application {existing.id} is open", "application-open")])
    p = definition(settings.process_version)
    now = utcnow()
    app = Application(
        zone_code=body.zone_code, league_code=zone["league_code"], park_name=zone["name_zh"],
        proposed_name=body.proposed_name, proposed_name_en=body.proposed_name_en, state=p.initial_state.value,
        round=0, process_version=p.version, version=1, status_at_intent=zone["status"],
        zone_at_intent={k: zone.get(k) for k in ZONE_FIELDS}, eligibility=eligibility, decision=None,
        created_by=principal.sub, created_at=now, updated_at=now, state_entered_at=now,
        due_at=due_at(p, p.initial_state.value, now, settings))
    session.add(app)
    await session.flush()
    webhook_id = new_webhook_id()
    entry = await audit.append(session, app, principal, "create", to_state=app.state, comment=body.comment,
                               data={"zone_code": app.zone_code, "proposed_name": app.proposed_name,
                                     "process_version": app.process_version, "eligibility": eligibility["status"],
                                     "webhook_id": webhook_id})
    await subscriptions.announce(session, app, from_state=None, transition="create", principal=principal, at=now,
                                 webhook_id=webhook_id, audit_seq=entry.seq)
    return app, []


# --------------------------------------------------------------------------------------- read


async def readable(session: AsyncSession, principal: Principal, application_id: int, *,
                   for_update: bool = False) -> tuple[Application, list[str]]:
    """The application and its panel, when the caller may see it (404 / 401 / 403 otherwise)."""
    access.check_role(principal)
    found = await repo.get_with_panel(session, application_id, for_update=for_update)
    if found is None:
        raise Problem(404, "application-not-found", f"No application {application_id}.")
    app, experts = found
    access.check_read(principal, app.league_code, experts)
    return app, experts


async def guard_rows(session: AsyncSession, app: Application, reads: frozenset[str] = frozenset(
        {"materials", "opinions"})) -> tuple[Sequence[Material], Sequence[Opinion]]:
    """What the guards read from the database: every material version, the opinions of the current round
    (only those of `reads`; the others empty)."""
    materials = await repo.materials(session, app.id) if "materials" in reads else ()
    opinions = await repo.opinions(session, app.id, app.round) if "opinions" in reads else ()
    return materials, opinions


def context_of(p: ProcessDefinition, app: Application, experts: Sequence[str], materials: Sequence[Material],
               opinions: Sequence[Opinion]) -> GuardContext:
    return GuardContext(state=app.state, round=app.round, required_items=p.required_items,
                        revised_items=p.revised_items, materials=repo.facts(materials), experts=frozenset(experts),
                        opinions=frozenset(o.expert_sub for o in opinions), min_experts=p.min_experts,
                        revision_baseline=app.revision_baseline, signed=signed(app))


async def guard_context(session: AsyncSession, p: ProcessDefinition, app: Application,
                        experts: Sequence[str]) -> GuardContext:
    return context_of(p, app, experts, *await guard_rows(session, app))


async def actions(session: AsyncSession, principal: Principal, app: Application, experts: Sequence[str]) -> Actions:
    """Every transition of the application's process: possible now for the caller, or why not."""
    p = definition(app.process_version)
    ctx = await guard_context(session, p, app, experts)
    possible, impossible = [], []
    for t in p.transitions:
        reasons = refusals(p, t, principal.role.value, ctx)
        if reasons:
            impossible.append(ImpossibleAction(name=t.name, to=t.to, label_zh=t.label_zh,
                                               reasons=[Reason(**r.as_dict()) for r in reasons]))
        else:
            possible.append(PossibleAction(name=t.name, to=t.to, label_zh=t.label_zh, comment=t.comment,
                                           data=dict(t.data)))
    return Actions(application_id=app.id, state=app.state, version=app.version, etag=etag(app),  # type: ignore[arg-type]
                   role=principal.role.value, possible=possible, impossible=impossible)


# -------------------------------------------------------------------------------------- tasks


def _task_cursor(cursor: str | None) -> tuple[dt.datetime | None, int] | None:
    """(due_at, id) of the last application of the previous page; a cursor not issued here is a 422."""
    if cursor is None:
        return None
    due, last_id = decode_cursor(cursor, 2)
    try:
        at = None if due is None else dt.datetime.fromisoformat(due)
    except (TypeError, ValueError):
        raise invalid_cursor() from None
    if (at is not None and at.tzinfo is None) or type(last_id) is not int:
        raise invalid_cursor()
    return at, last_id


async def tasks(session: AsyncSession, principal: Principal, *, cursor: str | None = None,
                limit: int = DEFAULT_LIMIT) -> Tasks:
    """What is waiting for the caller, earliest deadline (so overdue) first: a league government's own
    applications where it acts, an expert's panels without its opinion this round, the department's and
    the government's queues. Observers act on nothing.

    An application is in the caller's queue when the caller has a forward transition from its state;
    `actions` are only those whose guards pass now (the guards of /actions and of the transition
    itself). When none passes, the application stays in the queue with no action: `blocked_by` gives
    the guards' reasons and `waiting_for` says what it waits for (e.g. the opinions outstanding from
    expert-a). It is not left out because the step and its deadline are still the caller's: the
    department organises the review and chases its panel, a league completes its own materials. The
    guards' rows are read for the whole page at once (one query for materials, one for opinions)."""
    access.check_role(principal)
    after = _task_cursor(cursor)
    role = principal.role.value
    now = utcnow()

    def page(found: Sequence[Application], items: list[Task]) -> Tasks:
        last = found[limit - 1] if len(found) > limit else None
        return Tasks(role=role, items=items, limit=limit, next_cursor=None if last is None else encode_cursor(
            [None if last.due_at is None else last.due_at.isoformat(), last.id]))

    if principal.role == Role.expert:
        states = sorted({s.value for p in definitions().values() for s in p.opinion_states})
        found = await repo.waiting(session, states, expert=principal.sub, after=after, limit=limit + 1)
        rows = found[:limit]
        panels = await repo.experts_of(session, [a.id for a in rows])
        return page(found, [
            Task(application=out(a, panels[a.id], now), waiting_for=f"your opinion in round {a.round}",
                 actions=["give_opinion"], due_at=a.due_at, overdue=a.due_at is not None and a.due_at < now)
            for a in rows])
    states = sorted({s for p in definitions().values() for s in p.forward_states(role)})
    league = principal.league_code if principal.role == Role.league_government else None
    found = await repo.waiting(session, states, league=league, after=after, limit=limit + 1)
    steps = {a.id: (a, _forward_steps(definition(a.process_version), a.state, role)) for a in found[:limit]}
    steps = {i: (a, ts) for i, (a, ts) in steps.items() if ts}
    reads = {i: frozenset().union(*(READS[g] for t in ts for g in t.guards)) for i, (_, ts) in steps.items()}
    panels = await repo.experts_of(session, list(steps))
    materials = await repo.material_facts_of(session, [i for i, r in reads.items() if "materials" in r])
    opinions = await repo.opinion_subs_of(session, [i for i, r in reads.items() if "opinions" in r])
    items = []
    for a, forward in steps.values():
        p = definition(a.process_version)
        ctx = replace(context_of(p, a, panels[a.id], (), ()), materials=materials.get(a.id, ()),
                      opinions=opinions.get(a.id, frozenset()))
        names, blocked = _takeable(p, forward, role, ctx)
        waiting_for = (f"{a.state}: " + ", ".join(names) if names
                       else f"{a.state}: waiting — " + "; ".join(r.reason for r in blocked))
        items.append(Task(application=out(a, panels[a.id], now), waiting_for=waiting_for, actions=names,
                          blocked_by=[] if names else [Reason(**r.as_dict()) for r in blocked],
                          due_at=a.due_at, overdue=a.due_at is not None and a.due_at < now))
    return page(found, items)


def _forward_steps(p: ProcessDefinition, state: str, role: str) -> list[TransitionDef]:
    """The forward transitions `role` may take from `state` (guards not yet asked)."""
    return [t for t in p.transitions if t.kind == "forward" and role in t.roles_from(state)]


def _takeable(p: ProcessDefinition, forward: Sequence[TransitionDef], role: str, ctx: GuardContext
              ) -> tuple[list[str], list[Refusal]]:
    """The names of the transitions whose guards pass now, and the distinct reasons of the others."""
    names: list[str] = []
    blocked: dict[tuple[str, str], Refusal] = {}
    for t in forward:
        reasons = refusals(p, t, role, ctx)
        if reasons:
            blocked.update(((r.code, r.reason), r) for r in reasons)
        else:
            names.append(t.name)
    return names, list(blocked.values())
