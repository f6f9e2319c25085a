"""Dynamic management of 002 art. 15 as pure rules: which zones a published evaluation proposes for
upgrade, rectification or revocation, with the evidence. The thresholds are settings (SPEC 4, 8.11).

- upgrade (002 art. 15 ¶1): ranked within the top `upgrade_top_ranks` and the innovation group (group
  `innovation_group`, 技术创新能力) at least `upgrade_min_innovation_share` of its points;
- rectification (¶2): ranked among the bottom `rectification_bottom_ranks` region-wide **and** a total below
  `low_score`;
- revocation (¶3, rule "002"): last region-wide (no zone ranks below it) in this **and** the previous
  published evaluation **and** a total below `low_score`. Rule "000" (000 §23): still among the bottom
  `rectification_bottom_ranks` in two consecutive evaluations while under rectification, **and** the
  innovation group below `upgrade_min_innovation_share` of its points (poor innovation capacity)."""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

Kind = Literal["upgrade", "rectification", "revocation"]


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
    status: str | None = None


@dataclass(slots=True)
class Draft:
    zone: str
    kind: Kind
    evidence: dict[str, Any] = field(default_factory=dict)


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
        evidence: dict[str, Any] = {
            "evaluation_id": evaluation_id, "rank": line.rank, "total": str(line.total), "cohort_size": len(current),
            "innovation_group": settings.innovation_group,
            "innovation_points": None if innovation is None else str(innovation),
            "innovation_share": None if share is None else str(round(share, 4)),
            "settings": settings.model_dump(mode="json"),
        }
        prev = before.get(line.code)
        if prev is not None:
            evidence.update(previous_evaluation_id=previous_evaluation_id, previous_rank=prev.rank,
                            previous_total=str(prev.total), previous_cohort_size=len(previous or []))
        low = line.total < settings.low_score
        if line.rank <= settings.upgrade_top_ranks and share is not None \
                and share >= settings.upgrade_min_innovation_share:
            out.append(Draft(line.code, "upgrade", {**evidence, "rule": "002 art. 15 ¶1: top ranked, strong "
                                                    "innovation"}))
        if bottom(line, current, settings.rectification_bottom_ranks) and low:
            out.append(Draft(line.code, "rectification", {**evidence, "rule": "002 art. 15 ¶2: near the bottom "
                                                          "region-wide and a low score"}))
        if prev is None or previous is None:
            continue
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
