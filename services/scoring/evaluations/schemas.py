"""Bodies of the evaluation routes."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from services.scoring.frameworks.definition import FRAMEWORK_ID
from services.scoring.methods.definition import METHOD_ID

INT4 = 2**31 - 1  # versions and ids are INTEGER columns (int4 on PostgreSQL)


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class EvaluationCreate(Strict):
    year: Annotated[int, Field(ge=1900, le=2200)]
    framework: Annotated[str, Field(pattern=FRAMEWORK_ID)] = "nmg-hitech-2022"
    framework_version: Annotated[int | None, Field(ge=1, le=INT4)] = None
    method: Annotated[str, Field(pattern=METHOD_ID)] = "nmg-default"
    method_version: Annotated[int | None, Field(ge=1, le=INT4)] = None
    supersedes: Annotated[int | None, Field(ge=1, le=INT4,
                                            description="the published evaluation this one corrects")] = None
    note: Annotated[str | None, Field(max_length=2000)] = None


class Publish(Strict):
    note: Annotated[str | None, Field(max_length=2000)] = None


class Decision(Strict):
    decision: Literal["confirmed", "dismissed"]
    note: Annotated[str | None, Field(max_length=2000)] = None
