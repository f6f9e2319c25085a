"""The process of accreditation as data (002 art. 6; SPEC 8.8): one transition table per version, in
process_definitions/<version>.json, validated here at load. Each transition names its target state,
the roles allowed from which states (grants), its guards (services.workflow.guards), what the
request must carry and what it records (effects). An application keeps the version it started with.

Pure: no I/O besides reading the bundled definition files once."""

from __future__ import annotations

import datetime as dt
import functools
import json
from collections import deque
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from services.contracts import ApplicationState
from services.workflow.guards import GUARDS, GuardContext, describe
from shared.auth import Role

DEFINITIONS_DIR = Path(__file__).resolve().parent / "process_definitions"
CURRENT_VERSION = "v2"
# Roles that take transitions; experts give opinions, observers read.
ACTING_ROLES = frozenset({Role.league_government, Role.st_department, Role.regional_government})
DataField = Literal["document", "date", "approved_name", "approved_name_en"]
Need = Literal["required", "optional"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class StateDef(_Strict):
    name: ApplicationState
    label_zh: str
    final: bool
    deadline_days: int | None = Field(None, ge=1, le=3650)
    description: str


class Grant(_Strict):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)
    role: Role
    from_states: tuple[ApplicationState, ...] = Field(alias="from", min_length=1)


class Effects(_Strict):
    registry_event: Literal["applying", "accredited", "restore_status"] | None = None
    round: Literal["next"] | None = None
    panel_conclusion: Literal["recommend", "revise", "not_recommend"] | None = None
    decision: bool = False
    documents: Literal["current_materials", "round_opinions", "revised_plans"] | None = None

    @property
    def requests_revision(self) -> bool:
        """The panel's "revise" sends the application back: the plans' versions now are the baseline the
        revision is measured against (002 art. 6(二))."""
        return self.panel_conclusion == "revise"


class TransitionDef(_Strict):
    name: str = Field(pattern=r"^[a-z][a-z_]{1,39}$")
    label_zh: str
    to: ApplicationState
    kind: Literal["forward", "exit"]
    grants: tuple[Grant, ...] = Field(min_length=1)
    guards: tuple[str, ...] = ()
    comment: Need = "optional"
    data: dict[DataField, Need] = Field(default_factory=dict)
    effects: Effects = Effects()
    # A joint act: every one of these roles takes the transition, in this order; each call before the last
    # records that role's signature (the state does not change), the last one moves the application.
    joint: tuple[Role, ...] = ()
    basis: str

    @property
    def from_states(self) -> tuple[str, ...]:
        seen: dict[str, None] = {}
        for grant in self.grants:
            seen.update(dict.fromkeys(grant.from_states))
        return tuple(seen)

    @property
    def roles(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(g.role.value for g in self.grants))

    def roles_from(self, state: str) -> tuple[str, ...]:
        """The roles that may take this transition from `state`."""
        return tuple(g.role.value for g in self.grants if state in g.from_states)


class ChecklistItem(_Strict):
    item: str = Field(pattern=r"^[a-z][a-z_]{1,39}$")
    label_zh: str
    article: str
    required: bool
    revised_in_revision: bool


class MaterialsDef(_Strict):
    upload_states: tuple[ApplicationState, ...]
    checklist: tuple[ChecklistItem, ...] = Field(min_length=1)


class ProcessDefinition(_Strict):
    version: str = Field(pattern=r"^[a-z0-9][a-z0-9.\-]{0,19}$")
    title: str
    title_zh: str
    basis: str
    effective_from: dt.date
    notes: tuple[str, ...] = ()
    initial_state: ApplicationState
    states: tuple[StateDef, ...]
    transitions: tuple[TransitionDef, ...]
    materials: MaterialsDef
    expert_assignment_states: tuple[ApplicationState, ...]
    opinion_states: tuple[ApplicationState, ...]
    min_experts: int = Field(1, ge=1, le=50)

    @model_validator(mode="after")
    def _consistent(self) -> ProcessDefinition:
        problems = _problems(self)
        if problems:
            raise ValueError("; ".join(problems))
        return self

    # ---------------------------------------------------------------------------------- lookups

    @functools.cached_property
    def _states(self) -> dict[str, StateDef]:
        return {s.name.value: s for s in self.states}

    @functools.cached_property
    def _transitions(self) -> dict[str, TransitionDef]:
        return {t.name: t for t in self.transitions}

    def state(self, name: str) -> StateDef:
        return self._states[name]

    def transition(self, name: str) -> TransitionDef | None:
        return self._transitions.get(name)

    def is_final(self, state: str) -> bool:
        return self._states[state].final

    @property
    def open_states(self) -> tuple[str, ...]:
        return tuple(s.name.value for s in self.states if not s.final)

    @property
    def required_items(self) -> tuple[str, ...]:
        return tuple(c.item for c in self.materials.checklist if c.required)

    @property
    def revised_items(self) -> tuple[str, ...]:
        return tuple(c.item for c in self.materials.checklist if c.revised_in_revision)

    @property
    def items(self) -> tuple[str, ...]:
        return tuple(c.item for c in self.materials.checklist)

    def forward_states(self, role: str) -> tuple[str, ...]:
        """States in which `role` moves the application forward (its work queue)."""
        return tuple(dict.fromkeys(s for t in self.transitions if t.kind == "forward"
                                   for g in t.grants if g.role.value == role for s in g.from_states))

    def as_data(self) -> dict[str, Any]:
        """The table as JSON (GET /process), guards with their rules."""
        body = self.model_dump(mode="json", by_alias=True)
        body["guard_rules"] = {name: describe(name) for name in
                               dict.fromkeys(g for t in self.transitions for g in t.guards)}
        return body


def _problems(p: ProcessDefinition) -> list[str]:
    """What makes a definition unusable: unknown states or guards, final states with a way out,
    open states without one, states the initial state cannot reach."""
    out: list[str] = []
    names = [s.name.value for s in p.states]
    if sorted(names) != sorted(s.value for s in ApplicationState):
        out.append("states must list every application state of the contracts exactly once")
    final = {s.name.value for s in p.states if s.final}
    if p.initial_state.value in final:
        out.append("the initial state cannot be final")
    if len({t.name for t in p.transitions}) != len(p.transitions):
        out.append("transition names must be unique")
    for t in p.transitions:
        out += [f"{t.name}: unknown guard {g}" for g in t.guards if g not in GUARDS]
        out += [f"{t.name}: role {g.role.value} does not take transitions" for g in t.grants
                if g.role not in ACTING_ROLES]
        out += [f"{t.name}: leaves final state {s}" for s in t.from_states if s in final]
        if t.joint:
            joint = [r.value for r in t.joint]
            if len(joint) < 2 or len(set(joint)) != len(joint):
                out.append(f"{t.name}: a joint transition names two or more distinct roles")
            out += [f"{t.name}: from {s} the roles granted must be the joint roles {', '.join(joint)}"
                    for s in t.from_states if set(t.roles_from(s)) != set(joint)]
    for state in names:  # the application keeps the signatures of one joint transition at a time
        joint_out = [t.name for t in p.transitions if t.joint and state in t.from_states]
        if len(joint_out) > 1:
            out.append(f"state {state}: at most one joint transition leaves it ({', '.join(joint_out)})")
    leaving = {s for t in p.transitions for s in t.from_states}
    out += [f"open state {s} has no transition out" for s in names if s not in final and s not in leaving]
    items = [c.item for c in p.materials.checklist]
    if len(set(items)) != len(items):
        out.append("checklist items must be unique")
    reached, todo = {p.initial_state.value}, deque([p.initial_state.value])
    while todo:
        here = todo.popleft()
        for t in p.transitions:
            if here in t.from_states and t.to.value not in reached:
                reached.add(t.to.value)
                todo.append(t.to.value)
    out += [f"state {s} cannot be reached from {p.initial_state.value}" for s in names if s not in reached]
    return out


@functools.cache
def definitions() -> dict[str, ProcessDefinition]:
    """Every bundled version, validated (a broken file fails the service at start, not a request)."""
    found = {}
    for path in sorted(DEFINITIONS_DIR.glob("*.json")):
        definition = ProcessDefinition.model_validate(json.loads(path.read_text(encoding="utf-8")))
        if definition.version != path.stem:
            raise ValueError(f"{path.name} declares version {definition.version}")
        found[definition.version] = definition
    if CURRENT_VERSION not in found:
        raise ValueError(f"the current process version {CURRENT_VERSION} is not bundled")
    return found


def definition(version: str = CURRENT_VERSION) -> ProcessDefinition:
    return definitions()[version]


# ------------------------------------------------------------------------------------ evaluation


@dataclass(frozen=True, slots=True)
class Refusal:
    """Why a transition cannot be taken now: `code` is wrong_state, wrong_role or a guard's name."""

    code: str
    reason: str
    status: int

    def as_dict(self) -> dict[str, Any]:
        return {"code": self.code, "reason": self.reason}


def refusals(p: ProcessDefinition, t: TransitionDef, role: str, ctx: GuardContext) -> list[Refusal]:
    """Every reason `role` cannot take `t` now: state and role first; the guards only when both fit."""
    out: list[Refusal] = []
    if ctx.state not in t.from_states:
        out.append(Refusal("wrong_state", f"{t.name} is taken from {', '.join(t.from_states)}; the application is "
                                          f"{ctx.state}", 409))
    if role not in t.roles:
        out.append(Refusal("wrong_role", f"{t.name} is for {', '.join(t.roles)}, not {role}", 403))
    elif ctx.state in t.from_states and role not in t.roles_from(ctx.state):
        out.append(Refusal("wrong_role", f"{t.name} from {ctx.state} is for {', '.join(t.roles_from(ctx.state))}, "
                                         f"not {role}", 403))
    if out:
        return out
    if t.joint:
        out += _joint_refusals(t, role, ctx)
    for name in t.guards:
        reason = GUARDS[name](ctx)
        if reason is not None:
            out.append(Refusal(name, reason, 409))
    return out


def awaiting(t: TransitionDef, ctx: GuardContext) -> tuple[str, ...]:
    """The joint roles that have not yet signed `t` in the current state, in signing order."""
    signed = ctx.signed.get(t.name, ())
    return tuple(r.value for r in t.joint if r.value not in signed)


def _joint_refusals(t: TransitionDef, role: str, ctx: GuardContext) -> list[Refusal]:
    """A joint act is signed once by each of its roles, in the order of the table."""
    left = awaiting(t, ctx)
    if role not in left:
        return [Refusal("already_signed", f"{role} has signed {t.name}; waiting for {', '.join(left)}", 409)]
    before = left[:left.index(role)]
    if before:
        order = " then ".join(r.value for r in t.joint)
        return [Refusal("awaiting_cosigner", f"{t.name} is a joint act signed by {order}: waiting for "
                                             f"{', '.join(before)} first", 409)]
    return []


def deadline_days(p: ProcessDefinition, state: str, overrides: dict[str, int]) -> int | None:
    """Days allowed in `state`: the settings' override, else the definition's (None: no deadline)."""
    if p.is_final(state):
        return None
    return overrides.get(state, p.state(state).deadline_days)
