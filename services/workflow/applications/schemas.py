"""Application, ApplicationCreate, TransitionRequest, actions and tasks (Pydantic v2)."""

from __future__ import annotations

import datetime as dt
import re
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, StringConstraints

from services.contracts import ApplicationState
from shared.outbox_api import Delivery as OutboxDelivery

ZoneCode = Annotated[str, StringConstraints(pattern=r"^(?:[GS]\d{6}|NM-\d{1,8})$")]
Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=120)]
NameEn = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=240)]
Document = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
Comment = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=4000)]
_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


def _iso_date(value: Any) -> Any:
    """Dates travel as YYYY-MM-DD only (pydantic alone would read 0 as 1970-01-01)."""
    if isinstance(value, dt.date) and not isinstance(value, dt.datetime):
        return value
    if not isinstance(value, str) or not _ISO_DATE.fullmatch(value):
        raise ValueError("must be a date written YYYY-MM-DD")
    return value


IsoDate = Annotated[dt.date, BeforeValidator(_iso_date)]


class ApplicationCreate(BaseModel):
    """The construction intent of a league government for a park of its league (002 art. 6(一))."""

    model_config = ConfigDict(extra="forbid")
    zone_code: ZoneCode = Field(description="the park's code in the register")
    proposed_name: Name = Field(description="the name the zone would have, e.g. 锡林浩特高新技术产业开发区")
    proposed_name_en: NameEn | None = None
    comment: Comment | None = None


class TransitionRequest(BaseModel):
    """A transition's body: a comment and the data the transition takes (GET /process: `data`)."""

    model_config = ConfigDict(extra="forbid")
    comment: Comment | None = None
    document: Document | None = Field(None, description="the decision's document number, e.g. 内政字〔2025〕12号")
    date: IsoDate | None = Field(None, description="the decision's date, YYYY-MM-DD (Asia/Shanghai)")
    approved_name: Name | None = Field(None, description="approve: the zone's approved name (default: proposed)")
    approved_name_en: NameEn | None = None


class Eligibility(BaseModel):
    status: str = Field(description="available | not_available: advice to the reviewers, never a block")
    year: int
    reason: str | None = None
    result: dict[str, Any] | None = Field(None, description="scoring's answer: conditions C1–C7 and attested ones")


class Signature(BaseModel):
    role: str
    sub: str
    at: dt.datetime
    comment: str | None = None


class JointSignatures(BaseModel):
    """A joint transition signed so far in the current state (002 art. 6(三)), and who is still to sign."""

    transition: str
    signatures: list[Signature]
    awaiting: list[str] = Field(description="the roles still to sign, in order; the last one's call moves the state")


class Application(BaseModel):
    id: int
    zone_code: str
    league_code: str
    park_name: str
    proposed_name: str
    proposed_name_en: str | None
    state: ApplicationState
    round: int = Field(description="expert review round (0 before the first)")
    process_version: str
    version: int
    etag: str
    status_at_intent: str = Field(description="the park's status in the register when the intent was submitted "
                                  "(when the draft was created, until then): restored on rejection or withdrawal")
    zone_at_intent: dict[str, Any] = Field(description="the park as the register had it at the same moment")
    eligibility: Eligibility = Field(description="scoring's advice, asked at creation and again at the intent")
    decision: dict[str, Any] | None
    joint: JointSignatures | None = Field(None, description="a joint transition in progress: who signed, who is "
                                          "awaited (process v2: submit_to_government)")
    experts: list[str] = Field(description="the panel (token subs of the assigned experts)")
    created_by: str
    created_at: dt.datetime
    updated_at: dt.datetime
    state_entered_at: dt.datetime
    due_at: dt.datetime | None
    overdue: bool
    intent_submitted_at: dt.datetime | None
    closed_at: dt.datetime | None


class ApplicationPage(BaseModel):
    items: list[Application]
    next_cursor: str | None
    limit: int


class Reason(BaseModel):
    code: str = Field(description="wrong_state, wrong_role, already_signed / awaiting_cosigner (a joint "
                      "transition), or the failing guard's name")
    reason: str


class PossibleAction(BaseModel):
    name: str
    to: ApplicationState
    label_zh: str
    comment: str = Field(description="required | optional")
    data: dict[str, str] = Field(description="the body members it takes: required | optional")


class ImpossibleAction(BaseModel):
    name: str
    to: ApplicationState
    label_zh: str
    reasons: list[Reason]


class Actions(BaseModel):
    application_id: int
    state: ApplicationState
    version: int
    etag: str
    role: str
    possible: list[PossibleAction]
    impossible: list[ImpossibleAction]


class Task(BaseModel):
    application: Application
    waiting_for: str = Field(description="what the caller is expected to do, or what its next step waits for")
    actions: list[str] = Field(description="the caller's forward transitions whose guards pass now")
    blocked_by: list[Reason] = Field(default_factory=list,
                                     description="when no action is possible yet: why (the guards' reasons)")
    due_at: dt.datetime | None
    overdue: bool


class Tasks(BaseModel):
    role: str
    items: list[Task]
    limit: int
    next_cursor: str | None = Field(None, description="the next page (?cursor=); none: this was the last")


Delivery = OutboxDelivery  # a registry event of the application and its delivery state (shared.outbox_api)
