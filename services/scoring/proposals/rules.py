"""Dynamic management of 002 art. 15 as pure rules: which zones a published evaluation proposes for
upgrade, rectification or revocation, with the evidence. The thresholds are settings (SPEC 4, 8.11).

- upgrade (002 art. 15 ¶1): ranked within the top `upgrade_top_ranks` and the innovation group (group
  `innovation_group`, 技术创新能力) at least `upgrade_min_innovation_share` of its points;
- rectification (¶2): ranked among the bottom `rectification_bottom_ranks` region-wide **and** a total below
  `low_score`;
- revocation (¶3, rule "002"): last region-wide (no zone ranks below it) in this **and** the previous
  published evaluation **and** a total below `low_score`. Rule "000" (000 §23): still among the bottom
  `rectification_bottom_ranks` in two consecutive evaluations while under rectification, **and** the
  innovation group below `upgrade_min_innovation_share` of its points (poor innovation capacity).

A proposal is drawn only when the registry transition it asks for is still possible from the zone's
current status (contracts, status transitions: `accredited → rectification`; `accredited`/`rectification
→ revocation_proposed`): a zone already under rectification gets no new rectification proposal, one whose
revocation is proposed neither. Its evidence names the zone's missing-data flags, so that a zone ranked
last only because of gaps in its data is visible as such (SPEC 8.4, 8.5)."""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

Kind = Literal["upgrade", "rectification", "revocation"]
# contracts, status transitions: the registry status a confirmed proposal moves the zone to, and from which
TARGET_STATUS: dict[str, str] = {"rectification": "rectification", "revocation": "revocation_proposed"}
TRANSITION_FROM: dict[str, frozenset[str]] = {
    "rectification": frozenset({"accredited"}),  # 002 art. 15 ¶2
    "revocation": frozenset({"accredited", "rectification"}),  # 002 art. 15 ¶3
}


class ManagementSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    upgrade_top_ranks: int = Field(1, ge=0)
    upgrade_min_innovation_share: Decimal = Field(Decimal("0.8"), ge=0, le=1)
    innovation_group: str = "1"
    rectification_bottom_ranks: int = Field(2, ge=0)
    low_score: Decimal = Field(Decimal(60), ge=0)
    revocation_rule: Literal["002", "000"] = "002"


@dataclass(frozen=True, slots=True)
class Ranked:
    """One zone's line of a published ranking."""

    code: str
    rank: int
    total: Decimal
    groups: dict[str, Decimal]
    status: str | None = None  # the cohort's status at the evaluated year's end
    flags: tuple[str, ...] = ()  # the ranking row's missing-data flags (`missing:<cell>[:<reason>]`)
    current_status: str | None = None  # the registry's status now (None: unknown, `status` stands in)


@dataclass(slots=True)
class Draft:
    zone: str
    kind: Kind
    evidence: dict[str, Any] = field(default_factory=dict)


def transition_rule(kind: str) -> str:
    """The registry transition a confirmed proposal of this kind asks for, as the contracts write it."""
    return f"{'/'.join(sorted(TRANSITION_FROM[kind]))} → {TARGET_STATUS[kind]}"


def transition_possible(kind: str, status: str | None) -> bool:
    """Whether the registry still takes the status event of a confirmed proposal of this kind from a zone
    in `status` (contracts, status transitions; None: unknown, left to the registry). An upgrade moves
    no status (the level changes with the national approval, 002 art. 15 ¶1)."""
    return kind not in TRANSITION_FROM or status is None or status in TRANSITION_FROM[kind]


def is_last(line: Ranked, lines: list[Ranked]) -> bool:
    """'Last' means no zone ranks below (ties share the lower rank number, so two may both be last)."""
    return all(other.rank <= line.rank for other in lines)


def bottom(line: Ranked, lines: list[Ranked], n: int) -> bool:
    """Among the bottom n: fewer than n zones rank strictly below it."""
    return n > 0 and sum(1 for other in lines if other.rank > line.rank) < n


def propose(current: list[Ranked], previous: list[Ranked] | None, settings: ManagementSettings,
            group_points: dict[str, Decimal], *, evaluation_id: int,
            previous_evaluation_id: int | None) -> list[Draft]:
    """The art. 15 proposals of a published evaluation, given the previous year's published one."""
    before = {line.code: line for line in previous or []}
    innovation_max = group_points.get(settings.innovation_group)
    out: list[Draft] = []
    for line in current:
        innovation = line.groups.get(settings.innovation_group)
        share = (innovation / innovation_max) if innovation is not None and innovation_max else None
        status = line.current_status if line.current_status is not None else line.status
        evidence: dict[str, Any] = {
            "evaluation_id": evaluation_id, "rank": line.rank, "total": str(line.total), "cohort_size": len(current),
            "registry_status": status, "flags": list(line.flags),
            "innovation_group": settings.innovation_group,
            "innovation_points": None if innovation is None else str(innovation),
            "innovation_share": None if share is None else str(round(share, 4)),
            "settings": settings.model_dump(mode="json"),
        }
        prev = before.get(line.code)
        if prev is not None:
            evidence.update(previous_evaluation_id=previous_evaluation_id, previous_rank=prev.rank,
                            previous_total=str(prev.total), previous_cohort_size=len(previous or []),
                            previous_flags=list(prev.flags))
        low = line.total < settings.low_score
        if line.rank <= settings.upgrade_top_ranks and share is not None \
                and share >= settings.upgrade_min_innovation_share:
            out.append(Draft(line.code, "upgrade", {**evidence, "rule": "002 art. 15 ¶1: top ranked, strong "
                                                    "innovation"}))
        if bottom(line, current, settings.rectification_bottom_ranks) and low \
                and transition_possible("rectification", status):  # contracts: accredited → rectification
            out.append(Draft(line.code, "rectification", {**evidence, "rule": "002 art. 15 ¶2: near the bottom "
                                                          "region-wide and a low score"}))
        if prev is None or previous is None or not transition_possible("revocation", status):
            continue  # contracts: accredited/rectification → revocation_proposed
        if settings.revocation_rule == "002":
            if is_last(line, current) and is_last(prev, previous) and low:
                out.append(Draft(line.code, "revocation", {**evidence, "rule": "002 art. 15 ¶3: last region-wide "
                                                           "in two consecutive evaluations and a low score"}))
        elif (line.status == "rectification" and bottom(line, current, settings.rectification_bottom_ranks)
              and bottom(prev, previous, settings.rectification_bottom_ranks) and share is not None
              and share < settings.upgrade_min_innovation_share):
            out.append(Draft(line.code, "revocation", {**evidence, "rule": "000 §23: near the bottom in two "
                                                       "consecutive evaluations after rectification, poor "
                                                       "innovation capacity"}))
    return out


@dataclass(frozen=True, slots=True)
class Earlier:
    """A proposal of an evaluation that the one being published corrects (directly or down the chain)."""

    id: int
    evaluation_id: int
    state: Literal["proposed", "confirmed", "dismissed"]


def carry_over(drafts: list[Draft], earlier: dict[tuple[str, str], Earlier]) -> list[Draft]:
    """The drafts of a correction (issue #5 §3: a correction supersedes a published evaluation): a (zone,
    kind) confirmed on the corrected evaluation has been acted on and is not drawn again, so that one zone
    never has two live proposals of one kind (002 art. 15); any other earlier proposal of the same zone and
    kind (pending, now superseded, or dismissed) is named in the new one's evidence."""
    out = []
    for d in drafts:
        before = earlier.get((d.zone, d.kind))
        if before is not None and before.state == "confirmed":
            continue
        if before is not None:
            d = Draft(d.zone, d.kind, {**d.evidence, "earlier_proposal": {
                "id": before.id, "evaluation_id": before.evaluation_id, "state": before.state}})
        out.append(d)
    return out
