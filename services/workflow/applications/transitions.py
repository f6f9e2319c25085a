"""Taking a transition (002 art. 6; the table in process.py): lock the application, check the caller,
If-Match, state, role and guards, the body the transition takes; then change the state, record what
the transition records, append the audit entry, enqueue the registry event and the callbacks to the
subscribed platforms, in one transaction. The intent also reads the park from the registry and the
eligibility advice from scoring, before the lock."""

from __future__ import annotations

import asyncio
import datetime as dt
import functools
import hashlib
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from fastapi import Request

from services.workflow.applications import registry_events
from services.workflow.applications import repository as repo
from services.workflow.applications.schemas import TransitionRequest
from services.workflow.applications.service import (
    ZONE_FIELDS,
    check_applicable,
    context_of,
    due_at,
    etag,
    local_date,
    settings_of,
    today,
)
from services.workflow.applications.store import TransitionStore
from services.workflow.audit import service as audit
from services.workflow.clients.registry import RegistryClient
from services.workflow.clients.scoring import ScoringClient
from services.workflow.guards import READS, latest_versions
from services.workflow.models import Application, Material, Opinion, OutboxMessage, PanelConclusion
from services.workflow.process import (
    ProcessDefinition,
    TransitionDef,
    awaiting,
    definition,
    definitions,
    refusals,
)
from services.workflow.settings import Settings
from services.workflow.subscriptions import service as subscriptions
from shared.auth import Principal
from shared.db import Database, utcnow
from shared.http import check_if_match
from shared.outbox import enqueue
from shared.problems import Problem, field_error
from shared.webhooks import new_webhook_id

DATA_FIELDS = ("document", "date", "approved_name", "approved_name_en")


def _unknown(name: str, p: ProcessDefinition) -> Problem:
    return Problem(404, "unknown-transition", f"Process {p.version} has no transition {name!r}; "
                   f"transitions: {', '.join(t.name for t in p.transitions)}.",
                   errors=[field_error("name", "not a transition of the application's process", "unknown-transition",
                                       location="path")])


def check_body(t: TransitionDef, body: TransitionRequest, app: Application) -> None:
    """The members the transition takes (required / optional), and dates the registry can record:
    not in the future, not before the intent."""
    errors = []
    if t.comment == "required" and body.comment is None:
        errors.append(field_error("comment", f"{t.name} needs a comment (the reason)", "missing"))
    for name in DATA_FIELDS:
        given = getattr(body, name) is not None
        need = t.data.get(name)  # type: ignore[call-overload]
        if need == "required" and not given:
            errors.append(field_error(name, f"{t.name} needs {name}", "missing"))
        elif need is None and given:
            errors.append(field_error(name, f"{t.name} does not take {name}", "not-taken"))
    if body.date is not None:
        if body.date > today():
            errors.append(field_error("date", f"{body.date} is in the future (Asia/Shanghai)", "in-future"))
        if app.intent_submitted_at is not None and body.date < local_date(app.intent_submitted_at):
            errors.append(field_error("date", f"before the intent of {local_date(app.intent_submitted_at)}",
                                      "before-intent"))
    if errors:
        raise Problem(422, "validation-failed", f"The body does not fit transition {t.name}: "
                      + "; ".join(e["reason"] for e in errors) + ".", errors=errors)


def _documents(p: ProcessDefinition, kind: str | None, materials: Sequence[Material], opinions: Sequence[Opinion]
               ) -> list[dict[str, Any]]:
    """The hashes of the documents the transition concerns, for the audit entry: from the rows the guards
    were checked on (all material versions, the opinions of the current round; the row lock keeps them)."""
    if kind == "round_opinions":
        return [{"opinion_of": o.expert_sub, "round": o.round, "recommendation": o.recommendation,
                 "sha256": hashlib.sha256(o.text.encode()).hexdigest()} for o in opinions]
    if kind in ("current_materials", "revised_plans"):
        rows = repo.latest(materials)
        if kind == "revised_plans":
            rows = [m for m in rows if m.item in p.revised_items]
        return [{"item": m.item, "version": m.version, "sha256": m.sha256} for m in rows]
    return []


def _reads(t: TransitionDef) -> frozenset[str]:
    """The rows the transition's guards, its audit documents and its revision baseline read (guards.READS)."""
    reads: set[str] = set()
    for guard in t.guards:
        reads |= READS[guard]
    if t.effects.requests_revision:
        reads.add("materials")
    if t.effects.documents == "round_opinions":
        reads.add("opinions")
    elif t.effects.documents in ("current_materials", "revised_plans"):
        reads.add("materials")
    return frozenset(reads)


@functools.cache
def _reads_by_name() -> dict[str, frozenset[str]]:
    """What a transition of each name reads in any process version (read with the application, before
    its version is known; a version that reads less leaves the rest unused)."""
    reads: dict[str, frozenset[str]] = {}
    for p in definitions().values():
        for t in p.transitions:
            reads[t.name] = reads.get(t.name, frozenset()) | _reads(t)
    return reads


def _reads_of_name(name: str) -> frozenset[str]:
    return _reads_by_name().get(name, frozenset())  # an unknown name: refused after the read


def _registry_event(t: TransitionDef, app: Application, principal: Principal, body: TransitionRequest,
                    event_id: str) -> dict[str, Any] | None:
    actor = f"{principal.sub} ({principal.role.value})"
    kind = t.effects.registry_event
    if kind == "applying":
        return registry_events.intent(event_id=event_id, application_id=app.id, day=today(), actor=actor)
    if kind == "accredited":
        assert body.document is not None and body.date is not None  # required by the table, checked above
        return registry_events.approval(event_id=event_id, application_id=app.id, document=body.document,
                                        day=body.date, approved_name=body.approved_name or app.proposed_name,
                                        approved_name_en=body.approved_name_en or app.proposed_name_en,
                                        actor=actor)
    if kind == "restore_status" and app.intent_submitted_at is not None:  # a draft never made the park applying
        outcome = "withdrawal" if t.to == "withdrawn" else "rejection"
        return registry_events.restore(event_id=event_id, application_id=app.id, status=app.status_at_intent,
                                       outcome=outcome, document=body.document, day=body.date or today(),
                                       actor=actor, comment=body.comment)
    return None


@dataclass(frozen=True, slots=True)
class AtIntent:
    """The park as the registry has it when the intent is submitted, and scoring's eligibility advice."""

    zone: dict[str, Any] | None
    eligibility: dict[str, Any]


async def _ask_at_intent(request: Request, zone_code: str) -> AtIntent:
    """Both peers at once: the registry must answer (503, nothing changed, when it cannot); scoring's
    advice never fails ("not_available" with the reason)."""
    registry: RegistryClient = request.app.state.registry
    scoring: ScoringClient = request.app.state.scoring
    zone, eligibility = await asyncio.gather(registry.zone(zone_code), scoring.eligibility(zone_code, today().year))
    return AtIntent(zone, eligibility)


def _makes_applying(name: str) -> bool:
    return any((t := p.transition(name)) is not None and t.effects.registry_event == "applying"
               for p in definitions().values())


async def _at_intent_before_lock(request: Request, principal: Principal, application_id: int,
                                 name: str) -> AtIntent | None:
    """For the transition that makes the park applying (submit_intent): the peers asked before the
    application's row is locked (on SQLite the write lock is the whole database's), as `service.create`
    asks them before touching the database. Read in a short transaction of its own; None for any other
    transition or a caller who cannot take it now (`take` checks everything again under the lock)."""
    if not _makes_applying(name):
        return None
    db: Database = request.app.state.db
    try:
        async with db.driver_connection() as driver:
            found, _ = await TransitionStore(driver, db.dialect).readable(principal, application_id,
                                                                          for_update=False)
    except Problem:  # not found or not the caller's to see: `take` answers it
        return None
    t = definition(found.process_version).transition(name)
    if t is None or t.effects.registry_event != "applying" or principal.role.value not in t.roles_from(found.state):
        return None
    return await _ask_at_intent(request, found.zone_code)


def check_at_intent(zone: dict[str, Any] | None, zone_code: str, settings: Settings) -> None:
    """The park must still be in the register and still able to apply when the intent is submitted: the
    registry refuses to make it applying otherwise (contracts: status transitions)."""
    if zone is None:
        raise Problem(409, "zone-cannot-apply", f"Zone {zone_code} is no longer in the register.",
                      errors=[field_error("zone_code", "not in the register", "zone-cannot-apply")])
    check_applicable(zone, settings)


async def _sign(store: TransitionStore, app: Application, t: TransitionDef, principal: Principal,
                body: TransitionRequest, now: dt.datetime, documents: list[dict[str, Any]]) -> None:
    """One signature of a joint transition that is not the last (002 art. 6(三): the department's audit
    agreement before the league's submission): kept on the application and in the audit chain. The state
    does not change, so there is no registry event and no callback (those announce state changes)."""
    current = app.joint_signatures if (app.joint_signatures or {}).get("state") == app.state else None
    signatures = [*(current or {}).get("signatures", []),
                  {"role": principal.role.value, "sub": principal.sub, "at": now.isoformat(), "comment": body.comment}]
    app.joint_signatures = {"state": app.state, "transition": t.name, "signatures": signatures}  # a new value
    app.version += 1
    app.updated_at = now
    done = {x["role"] for x in signatures}
    given = {k: (v.isoformat() if isinstance(v, dt.date) else v)
             for k in DATA_FIELDS if (v := getattr(body, k)) is not None}
    await audit.append(store, app, principal, t.name, from_state=app.state, to_state=app.state,
                       comment=body.comment, documents=documents, flush=False,
                       data={"joint": "signed", "awaiting": [r.value for r in t.joint if r.value not in done],
                             **given})


async def take(store: TransitionStore, request: Request, principal: Principal, application_id: int, name: str,
               body: TransitionRequest) -> tuple[Application, list[str]]:
    """Take transition `name` on the application, with the statements of `store` (store.py: on the driver
    connection of the caller's write transaction, which commits what `take` wrote when it returns and rolls
    back when it raises); returns the application (changed) and its panel. `request` gives If-Match, the
    settings and the peers asked at intent."""
    asked = await _at_intent_before_lock(request, principal, application_id, name)
    app, experts = await store.readable(principal, application_id, with_receivers=True,
                                        prefetch=_reads_of_name(name))
    p = definition(app.process_version)
    t = p.transition(name)
    if t is None:
        raise _unknown(name, p)
    if principal.role.value not in t.roles:
        raise Problem(403, "transition-forbidden-for-role", f"{t.name} is for {', '.join(t.roles)}, not "
                      f"{principal.role.value}.", errors=[field_error("name", "wrong role", "wrong_role",
                                                                      location="path")])
    check_if_match(request, etag(app))
    materials, opinions = await store.guard_rows(app, _reads(t))
    ctx = context_of(p, app, experts, materials, opinions)
    found = refusals(p, t, principal.role.value, ctx)
    if found:
        status = 409 if any(r.status == 409 for r in found) else 403
        raise Problem(status, "transition-refused",
                      f"{t.name} cannot be taken now: " + "; ".join(r.reason for r in found) + ".",
                      errors=[field_error("name", r.reason, r.code, location="path") for r in found],
                      reasons=[r.as_dict() for r in found])
    check_body(t, body, app)
    settings = settings_of(request)
    at_intent: AtIntent | None = None
    if t.effects.registry_event == "applying":
        at_intent = asked or await _ask_at_intent(request, app.zone_code)  # None only after a race: ask now
        check_at_intent(at_intent.zone, app.zone_code, settings)

    now = utcnow()
    from_state = app.state
    documents = _documents(p, t.effects.documents, materials, opinions)
    if t.joint and len(awaiting(t, ctx)) > 1:  # a signature before the last: recorded, the state stays
        await _sign(store, app, t, principal, body, now, documents)
        await store.flush(app)
        return app, experts
    joint_signed = (app.joint_signatures or {}).get("signatures") if t.joint else None
    if t.effects.round == "next":
        app.round += 1
    if t.effects.registry_event == "applying":
        app.intent_submitted_at = now
    if t.effects.panel_conclusion is not None:
        store.add(PanelConclusion(application_id=app.id, round=app.round, conclusion=t.effects.panel_conclusion,
                                    comment=body.comment, recorded_by=principal.sub, recorded_at=now))
    given = {k: (v.isoformat() if isinstance(v, dt.date) else v)
             for k in DATA_FIELDS if (v := getattr(body, k)) is not None}
    if t.effects.decision:
        app.decision = {"transition": t.name, "outcome": t.to.value, "by": principal.sub,
                        "role": principal.role.value, "comment": body.comment, **given}
        if t.effects.registry_event == "accredited":
            app.decision.setdefault("approved_name", app.proposed_name)
    message_id = str(uuid.uuid4())
    event = _registry_event(t, app, principal, body, message_id)
    app.state = t.to.value
    app.joint_signatures = None  # signatures belong to the state they were given in
    app.version += 1
    app.updated_at = app.state_entered_at = now
    app.due_at = due_at(p, app.state, now, settings)
    if p.is_final(app.state):
        app.closed_at = now
    audit_data: dict[str, Any] = dict(given)
    if t.effects.panel_conclusion is not None:
        audit_data["panel_conclusion"] = t.effects.panel_conclusion
    if t.effects.requests_revision:  # 002 art. 6(二): the revision needs newer versions of the plans than these
        app.revision_baseline = latest_versions(repo.facts(materials))
        audit_data["revision_baseline"] = app.revision_baseline
    if at_intent is not None and at_intent.zone is not None:
        # 002 art. 6(一): the park's status and the eligibility advice as they are when the intent is submitted
        # (not when the draft was created): the status is the one a rejection or withdrawal restores
        app.status_at_intent = at_intent.zone["status"]
        app.zone_at_intent = {k: at_intent.zone.get(k) for k in ZONE_FIELDS}
        app.eligibility = at_intent.eligibility
        audit_data["status_at_intent"] = app.status_at_intent
        audit_data["eligibility"] = app.eligibility["status"]
    if joint_signed:
        audit_data["joint_signatures"] = [{"role": x["role"], "sub": x["sub"]} for x in joint_signed]
    if event is not None:
        enqueue(store, OutboxMessage, aggregate=f"application:{app.id}", destination="registry", method="POST",
                path=f"/zones/{app.zone_code}/events", body=event, message_id=message_id)
        audit_data["registry_event_id"] = message_id
    webhook_id = new_webhook_id()  # one per state change, for every subscriber and every retry (§7)
    audit_data["webhook_id"] = webhook_id
    # every write of the transition goes in the one flush below (the application's row is locked)
    entry = await audit.append(store, app, principal, t.name, from_state=from_state, to_state=app.state,
                               comment=body.comment, data=audit_data, documents=documents, flush=False)
    await subscriptions.announce(store, app, from_state=from_state, transition=t.name, principal=principal,
                                 at=now, webhook_id=webhook_id, audit_seq=entry.seq,
                                 receivers=await store.receivers(app.league_code))
    await store.flush(app)
    return app, experts
