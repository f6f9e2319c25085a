"""The rules of a zone's history, pure: the bitemporal fold and the status-transition table of the
contracts (ARCHITECTURE.md, "Status transitions"), applied to a whole timeline so that a back-dated
event is checked against every later one."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from services.contracts import ZoneKind, ZoneLevel, ZoneStatus

EVENT_FIELDS = ("kind", "level", "status", "name_zh", "name_en")
ESTABLISHING_FIELDS = ("kind", "level", "status", "name_zh")
REFERENCE_ROLE = "reference_data"  # facts loaded from sources by `make run`: trusted, not re-judged
SHANGHAI = dt.timezone(dt.timedelta(hours=8))

S, L = ZoneStatus, ZoneLevel


@dataclass(frozen=True, slots=True)
class Rule:
    """One row of the transition table: who may move a field from `before` to `after`."""

    code: str
    field: str
    before: str | None  # None: any value
    after: str | None  # None: any value, or the value remembered in `after_from`
    roles: Mapping[str, frozenset[str] | None]  # role → allowed subs (None: any sub)
    after_from: str | None = None
    basis: str = ""
    not_for_kind: str | None = None  # the rule does not apply to zones of this kind


WORKFLOW = {"service": frozenset({"workflow"})}
SCORING = {"service": frozenset({"scoring"})}

# Contracts, status transitions. Our addition: a park already approved as a zone of another kind
# (an accredited economic development zone or industrial park) may apply too (002 art. 4: the
# league's best class-I industrial park); the contracts' "the status recorded at intent" implies it.
STATUS_RULES: tuple[Rule, ...] = (
    Rule("intent", "status", S.candidate, S.applying, WORKFLOW, basis="002 art. 6(一)"),
    Rule("intent", "status", S.accredited, S.applying, WORKFLOW, basis="002 art. 6(一)",
         not_for_kind=ZoneKind.hitech),
    Rule("approval", "status", S.applying, S.accredited, WORKFLOW, basis="002 art. 6(三)"),
    Rule("rejection-or-withdrawal", "status", S.applying, None, WORKFLOW, after_from="status_at_intent"),
    Rule("rectification", "status", S.accredited, S.rectification, SCORING, basis="002 art. 15"),
    Rule("rectification-ended", "status", S.rectification, S.accredited, {"st_department": None},
         basis="002 art. 15"),
    Rule("revocation-proposed", "status", S.accredited, S.revocation_proposed, SCORING, basis="002 art. 15"),
    Rule("revocation-proposed", "status", S.rectification, S.revocation_proposed, SCORING, basis="002 art. 15"),
    Rule("revocation", "status", S.revocation_proposed, S.revoked, {"regional_government": None},
         basis="002 art. 15"),
    Rule("revocation-declined", "status", S.revocation_proposed, None, {"regional_government": None},
         after_from="status_before_proposal", basis="002 art. 15"),
    Rule("upgrade-to-national", "level", L.regional, L.national, {"st_department": None}),
    Rule("rename", "name_zh", None, None, {"st_department": None}),
    Rule("rename", "name_en", None, None, {"st_department": None}),
)
# On approval the same event may also set kind hitech, the approved name and level regional.
APPROVAL_COMPANIONS = frozenset({"kind", "level", "name_zh", "name_en"})


@dataclass(frozen=True, slots=True)
class TimelineEvent:
    event_id: str
    seq: int
    effective_date: dt.date
    change: Mapping[str, str]
    recorded_at: dt.datetime
    recorded_role: str
    recorded_by: str
    supersedes: str | None = None


@dataclass(slots=True)
class ZoneState:
    values: dict[str, str] = field(default_factory=dict)
    status_at_intent: str | None = None
    status_before_proposal: str | None = None

    def apply(self, change: Mapping[str, str]) -> None:
        new_status = change.get("status")
        old_status = self.values.get("status")
        if new_status == S.applying and old_status != S.applying:
            self.status_at_intent = old_status
        if new_status == S.revocation_proposed and old_status != S.revocation_proposed:
            self.status_before_proposal = old_status
        self.values.update(change)


class TransitionRefused(Exception):
    """A change the table does not allow (409), or allows only to another role (403)."""

    def __init__(self, status: int, code: str, detail: str, *, event_id: str | None = None,
                 field_name: str | None = None) -> None:
        super().__init__(detail)
        self.status, self.code, self.detail = status, code, detail
        self.event_id, self.field_name = event_id, field_name


# ------------------------------------------------------------------------------------ bitemporal


def known_at_from_date(day: dt.date) -> dt.datetime:
    """A bare date as known_at means the end of that day in Asia/Shanghai (contracts)."""
    return dt.datetime.combine(day, dt.time(23, 59, 59), SHANGHAI).astimezone(dt.UTC)


def visible_events(events: Iterable[TimelineEvent], known_at: dt.datetime | None) -> list[TimelineEvent]:
    """Events the register knew at `known_at`, minus those superseded by then, in timeline order."""
    known = [e for e in events if known_at is None or e.recorded_at <= known_at]
    superseded = {e.supersedes for e in known if e.supersedes}
    return sorted((e for e in known if e.event_id not in superseded), key=lambda e: (e.effective_date, e.seq))


def fold(events: Sequence[TimelineEvent], as_of: dt.date | None) -> ZoneState | None:
    """The zone's state on `as_of` from events in timeline order; None when not yet established."""
    state = ZoneState()
    for e in events:
        if as_of is not None and e.effective_date > as_of:
            break
        state.apply(e.change)
    return state if all(f in state.values for f in ESTABLISHING_FIELDS) else None


def state_at(events: Iterable[TimelineEvent], as_of: dt.date | None, known_at: dt.datetime | None) -> ZoneState | None:
    return fold(visible_events(events, known_at), as_of)


# --------------------------------------------------------------------------------- transitions


def _role_allows(rule: Rule, role: str, sub: str) -> bool:
    if role not in rule.roles:
        return False
    subs = rule.roles[role]
    return subs is None or sub in subs


def _reaches(rule: Rule, state: ZoneState, after: str) -> bool:
    if rule.after_from is not None:  # back to a remembered status
        return bool(getattr(state, rule.after_from) == after)
    return rule.after is None or rule.after == after  # None: any value (renames)


def national_rule_refusal(values: Mapping[str, str], effective: Mapping[str, str], event_id: str) -> None:
    """A national-level zone neither applies for nor is approved as a regional zone: the workflow
    accredits regional zones only (002 art. 6(三)); national zones are approved by the State Council and
    only st_department changes a level, with the national document (contracts: status transitions)."""
    if values.get("level") != L.national:
        return
    if effective.get("status") == S.applying:
        raise TransitionRefused(409, "national-zone-cannot-apply",
                                "A national-level zone cannot apply for accreditation as a regional high-tech zone "
                                "(002 art. 6; contracts: status transitions).", event_id=event_id,
                                field_name="status")
    if values.get("status") == S.applying and effective.get("status") == S.accredited \
            and effective.get("level") == L.regional:
        raise TransitionRefused(409, "approval-would-downgrade-national",
                                "An approval (applying → accredited, level regional) may not downgrade a "
                                "national-level zone to regional (002 art. 6(三); contracts: status transitions).",
                                event_id=event_id, field_name="level")


def check_change(state: ZoneState, change: Mapping[str, str], role: str, sub: str, event_id: str) -> None:
    """Raise TransitionRefused unless the table lets (role, sub) make `change` from `state`."""
    values = state.values
    if values.get("status") == S.revoked:
        raise TransitionRefused(409, "revoked-is-final",
                                "The zone is revoked; revoked is final and nothing may change it.",
                                event_id=event_id, field_name="status")
    effective = {k: v for k, v in change.items() if values.get(k) != v}
    if not effective:
        raise TransitionRefused(409, "no-change", "The event changes nothing: every value is already current.",
                                event_id=event_id)
    national_rule_refusal(values, effective, event_id)
    # applying → accredited is the approval, unless it only restores the accredited status recorded at
    # intent (a rejection or withdrawal of a park accredited as another kind, SPEC 8.8)
    restore = state.status_at_intent == S.accredited and set(effective) == {"status"}
    approval = values.get("status") == S.applying and effective.get("status") == S.accredited and not restore
    if approval:
        result = {**values, **change}
        if result.get("kind") != ZoneKind.hitech or result.get("level") != L.regional:
            raise TransitionRefused(409, "approval-incomplete",
                                    "applying → accredited must leave the zone of kind hitech at level regional "
                                    "(contracts: status transitions).", event_id=event_id, field_name="status")
    wrong_role: list[str] = []
    for name, after in effective.items():
        if approval and name in APPROVAL_COMPANIONS:
            continue  # judged together with the status by the approval rule
        before = values.get(name)
        matching = [r for r in STATUS_RULES if r.field == name and r.before in (None, before)
                    and r.not_for_kind != values.get("kind")
                    and _reaches(r, state, after)]
        if not matching:
            raise TransitionRefused(409, f"{name}-transition-not-allowed",
                                    f"{name} may not change from {before!r} to {after!r} "
                                    "(contracts: status transitions).", event_id=event_id, field_name=name)
        if not any(_role_allows(r, role, sub) for r in matching):
            who = sorted({f"{ro}" + (f" ({', '.join(sorted(s))})" if s else "") for r in matching
                          for ro, s in r.roles.items()})
            wrong_role.append(f"{name} {before!r} → {after!r} is for {', '.join(who)}")
    if approval and not _role_allows(STATUS_RULES[2], role, sub):
        wrong_role.append("applying → accredited is for service (workflow)")
    if wrong_role:
        raise TransitionRefused(403, "transition-forbidden-for-role",
                                f"Role {role} ({sub}) may not make this change: " + "; ".join(wrong_role) + ".",
                                event_id=event_id)


def check_timeline(events: Sequence[TimelineEvent], new_event_id: str) -> ZoneState:
    """Replay a timeline (timeline order) with the rules: the first event establishes the zone, every
    other event must be allowed from the state before it. Returns the final state.
    A conflict raised by an event other than the new one names that event."""
    if not events:
        raise ValueError("empty timeline")
    first = events[0]
    if not all(f in first.change for f in ESTABLISHING_FIELDS):
        establishing = next((e for e in events if all(f in e.change for f in ESTABLISHING_FIELDS)), None)
        raise TransitionRefused(
            409, "before-establishment",
            "The event would take effect before the zone was established"
            + (f" (event {establishing.event_id}, {establishing.effective_date})." if establishing else "."),
            event_id=establishing.event_id if establishing else None)
    state = ZoneState()
    state.apply(first.change)
    for e in events[1:]:
        if e.recorded_role == REFERENCE_ROLE:
            state.apply(e.change)
            continue
        try:
            check_change(state, e.change, e.recorded_role, e.recorded_by, e.event_id)
        except TransitionRefused as refused:
            if e.event_id == new_event_id:
                raise
            raise TransitionRefused(
                409, "conflicts-with-later-event",
                f"The event would make the later event {e.event_id} (effective {e.effective_date}) invalid: "
                f"{refused.detail}", event_id=e.event_id, field_name=refused.field_name) from None
        state.apply(e.change)
    return state
