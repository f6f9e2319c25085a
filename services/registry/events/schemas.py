"""Registry events (contracts): the one way to change a zone's level, status, name or kind."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, StringConstraints, ValidationInfo, field_validator

from services.contracts import DatePrecision, ZoneKind, ZoneLevel, ZoneStatus
from services.registry.history.rules import SHANGHAI
from services.registry.zones.schemas import IsoDate, LegalBasis, Text200, check_precision

EventField = Literal["status", "level", "kind", "name_zh", "name_en"]
_ENUMS: dict[str, type] = {"status": ZoneStatus, "level": ZoneLevel, "kind": ZoneKind}
_MAX_LEN = {"name_zh": 120, "name_en": 240}


class FieldChange(BaseModel):
    model_config = ConfigDict(extra="forbid")
    field: EventField
    value: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=240)]

    @field_validator("value")
    @classmethod
    def _value_fits_field(cls, value: str, info: ValidationInfo) -> str:
        name = info.data.get("field")
        enum = _ENUMS.get(name or "")
        if enum is not None and value not in {m.value for m in enum}:  # type: ignore[attr-defined]
            raise ValueError(f"{value!r} is not a {name}; one of " + ", ".join(m.value for m in enum))  # type: ignore[attr-defined]
        if name in _MAX_LEN and len(value) > _MAX_LEN[name]:
            raise ValueError(f"a {name} has at most {_MAX_LEN[name]} characters")
        return value


class EventCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    event_id: uuid.UUID = Field(description="chosen by the sender; a replay with the same body answers 200")
    change: Annotated[list[FieldChange], BeforeValidator(lambda v: [v] if isinstance(v, dict) else v)] = Field(
        max_length=5, description="one field change (an object is accepted too) or several; empty only for a "
                                  "pure retraction (with supersedes)")
    effective_date: IsoDate
    effective_precision: DatePrecision = DatePrecision.day
    legal_basis: LegalBasis
    actor: Text200 = Field(description="the person or body who decided")
    source: Annotated[str, StringConstraints(max_length=500)] | None = None
    note: Annotated[str, StringConstraints(max_length=2000)] | None = None
    supersedes: uuid.UUID | None = Field(None, description="the event this one corrects (it stops counting)")

    @field_validator("change")
    @classmethod
    def _distinct_fields(cls, change: list[FieldChange]) -> list[FieldChange]:
        names = [c.field for c in change]
        if len(names) != len(set(names)):
            raise ValueError("each field may appear once in a change")
        return change

    @field_validator("effective_date")
    @classmethod
    def _not_in_future(cls, day: dt.date) -> dt.date:
        today = dt.datetime.now(SHANGHAI).date()
        if day > today:
            raise ValueError(f"{day} is in the future (today is {today} in Asia/Shanghai); the register records "
                             "what has taken effect")
        return day

    @field_validator("effective_precision")
    @classmethod
    def _precision(cls, value: DatePrecision, info: ValidationInfo) -> DatePrecision:
        check_precision(info.data.get("effective_date"), value, "effective_date")
        return value

    def change_map(self) -> dict[str, str]:
        return {c.field: c.value for c in self.change}


class ZoneStateOut(BaseModel):
    kind: ZoneKind
    level: ZoneLevel
    status: ZoneStatus
    name_zh: str
    name_en: str | None = None


class Event(BaseModel):
    seq: int = Field(description="position in the change feed")
    event_id: str
    zone_code: str
    change: dict[str, str]
    effective_date: dt.date
    effective_precision: DatePrecision
    legal_basis: dict[str, Any] | None
    actor: str
    source: str | None
    note: str | None
    supersedes: str | None
    recorded_at: dt.datetime
    recorded_by: str
    recorded_role: str


class HistoryEntry(Event):
    in_effect: bool = Field(description="false when superseded (as known at known_at)")
    superseded_by: str | None
    state_after: ZoneStateOut | None = Field(description="the zone's state once this event took effect")


class History(BaseModel):
    zone_code: str
    known_at: dt.datetime | None
    events: list[HistoryEntry]


class EventFeed(BaseModel):
    items: list[Event]
    next_after: str | None = Field(description="pass as ?after= to continue; null when nothing more yet")
    limit: int
