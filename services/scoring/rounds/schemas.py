"""Bodies of the expert-score round routes (issue #5 §2)."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

from services.scoring.frameworks.definition import FRAMEWORK_ID
from shared.decimals import ExactDecimalField

ZONE_CODE = r"^[A-Za-z0-9][A-Za-z0-9_\-]{0,31}$"


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class RoundCreate(Strict):
    framework: Annotated[str, Field(pattern=FRAMEWORK_ID)] = "nmg-hitech-2022"
    year: Annotated[int, Field(ge=1900, le=2200)]
    note: Annotated[str | None, Field(max_length=2000)] = None


class ExpertAssignment(Strict):
    expert: Annotated[str, Field(min_length=1, max_length=120, description="the expert's token `sub`")]
    zones: Annotated[list[Annotated[str, Field(pattern=ZONE_CODE)]] | None,
                     Field(max_length=10_000, description="zone codes; null: every zone")] = None


class ScoreBody(Strict):
    score: Annotated[ExactDecimalField | None, Field(description="0 … the indicator's points; null withdraws")]
    comment: Annotated[str | None, Field(max_length=4000)] = None
