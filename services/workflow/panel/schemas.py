"""Expert assignment and opinions (Pydantic v2)."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

ExpertSub = Annotated[str, StringConstraints(pattern=r"^[\x21-\x7e]{1,120}$")]
Recommendation = Literal["recommend", "revise", "not_recommend"]


class AssignmentCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    expert_sub: ExpertSub = Field(description="the expert's token `sub` (no user directory is kept)")


class Assignment(BaseModel):
    expert_sub: str
    assigned_by: str
    assigned_at: dt.datetime
    removed_by: str | None
    removed_at: dt.datetime | None


class Panel(BaseModel):
    application_id: int
    version: int
    experts: list[Assignment]


class OpinionCreate(BaseModel):
    """One expert's opinion in the current round (002 art. 6(二))."""

    model_config = ConfigDict(extra="forbid")
    recommendation: Recommendation
    text: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=20_000)]


class OpinionOut(BaseModel):
    id: int
    round: int
    expert_sub: str
    recommendation: Recommendation
    text: str
    created_at: dt.datetime


class Conclusion(BaseModel):
    conclusion: Recommendation
    comment: str | None
    recorded_by: str
    recorded_at: dt.datetime


class Round(BaseModel):
    round: int
    opinions: list[OpinionOut]
    outstanding: list[str] = Field(description="panel members without an opinion (current round only)")
    conclusion: Conclusion | None


class Opinions(BaseModel):
    application_id: int
    current_round: int
    rounds: list[Round]
