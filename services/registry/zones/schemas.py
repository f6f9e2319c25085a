"""Zone, ZoneCreate, ZoneUpdate, Park … (Pydantic v2)."""

from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal
from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationInfo,
    WithJsonSchema,
    field_validator,
)

from services.contracts import DatePrecision, ZoneKind, ZoneLevel, ZoneStatus
from services.registry.zones.geo import validate_boundary
from shared.decimals import ExactDecimalField

# Which levels a kind can have (SPEC 1; the 2018 catalogue): ETDZs and customs zones are national;
# a high-tech zone is national or regional; parks not yet approved at any level have level none.
ALLOWED_LEVELS: dict[ZoneKind, frozenset[ZoneLevel]] = {
    ZoneKind.hitech: frozenset({ZoneLevel.national, ZoneLevel.regional}),
    ZoneKind.etdz: frozenset({ZoneLevel.national}),
    ZoneKind.bonded: frozenset({ZoneLevel.national}),
    ZoneKind.border_cooperation: frozenset({ZoneLevel.national, ZoneLevel.regional}),
    ZoneKind.economic_development: frozenset({ZoneLevel.regional, ZoneLevel.none}),
    ZoneKind.industrial_park: frozenset({ZoneLevel.regional, ZoneLevel.none}),
    ZoneKind.other: frozenset({ZoneLevel.national, ZoneLevel.regional, ZoneLevel.none}),
}
# Statuses a zone may be registered with; the others are reached only through events.
INITIAL_STATUSES = frozenset({ZoneStatus.candidate, ZoneStatus.accredited})

Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=120)]
NameEn = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=240)]
Text200 = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
Industry = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=60)]
Code6 = Annotated[str, StringConstraints(pattern=r"^\d{6}$")]
ZoneCode = Annotated[str, StringConstraints(pattern=r"^(?:[GS]\d{6}|NM-\d{1,8})$")]


ISO_DATE_RE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")  # ASCII digits only (\d takes ٢٠٢٢)


def _iso_date(value: Any) -> Any:
    """Dates travel as YYYY-MM-DD strings only (query parameters and bodies alike): pydantic's lax mode would
    also take 0, 1700000000 or "1700000000" (Unix time), 20220224 or "2022-02-24T00:00:00". A date object
    passes (Python callers, the transfer import's XLSX date cells)."""
    if isinstance(value, dt.date) and not isinstance(value, dt.datetime):
        return value
    if not isinstance(value, str) or not ISO_DATE_RE.fullmatch(value):
        raise ValueError("must be a date written YYYY-MM-DD")
    return value


IsoDate = Annotated[dt.date, BeforeValidator(_iso_date)]


def _positive(v: Decimal | None) -> Decimal | None:
    if v is not None and v <= 0:
        raise ValueError("must be greater than 0 hectares")
    return v


# The schema says what the validator accepts: a decimal greater than 0 (ExactDecimalField's pattern alone
# would also admit 0 and negatives).
AreaHa = Annotated[ExactDecimalField, AfterValidator(_positive), WithJsonSchema({
    "type": "string", "pattern": r"^(?=[0-9.]*[1-9])[0-9]{1,20}(\.[0-9]{1,10})?$",
    "description": "hectares, an exact decimal greater than 0, as a string (numbers also accepted)"})]
Boundary = Annotated[dict[str, Any], AfterValidator(validate_boundary)]


def check_precision(day: dt.date | None, precision: DatePrecision | None, field: str) -> None:
    """A month-precise date is stored on day 1, a year-precise one on 1 January (contracts)."""
    if day is None or precision is None:
        return
    if precision == DatePrecision.month and day.day != 1:
        raise ValueError(f"{field} {day} has precision month: write it as the month's first day")
    if precision == DatePrecision.year and (day.month, day.day) != (1, 1):
        raise ValueError(f"{field} {day} has precision year: write it as 1 January")


def _precision_of(date_field: str) -> Any:
    def check(cls: type, value: DatePrecision | None, info: ValidationInfo) -> DatePrecision | None:
        check_precision(info.data.get(date_field), value, date_field)
        return value

    return field_validator(f"{date_field}_precision" if date_field != "effective_date" else "effective_precision")(
        classmethod(check))  # type: ignore[arg-type]


class LegalBasis(BaseModel):
    model_config = ConfigDict(extra="forbid")
    document: Text200 = Field(description="document number, e.g. 内政办发〔2022〕17号")
    article: Annotated[str, StringConstraints(strip_whitespace=True, max_length=40)] | None = None
    date: IsoDate | None = None


class Establishment(BaseModel):
    """How the zone came to be: the first event of its history."""

    model_config = ConfigDict(extra="forbid")
    effective_date: IsoDate
    effective_precision: DatePrecision = DatePrecision.day
    legal_basis: LegalBasis | None = None
    actor: Text200 | None = None
    note: Annotated[str, StringConstraints(max_length=2000)] | None = None

    _precision = _precision_of("effective_date")


class ParkIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name_zh: Name
    name_en: NameEn | None = None
    area_ha: AreaHa | None = None
    boundary: Boundary | None = None


class ParkUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name_zh: Name | None = None
    name_en: NameEn | None = None
    area_ha: AreaHa | None = None
    boundary: Boundary | None = None


class Park(BaseModel):
    id: int
    name_zh: str
    name_en: str | None
    area_ha: ExactDecimalField | None
    boundary: dict[str, Any] | None
    version: int


class _Descriptive(BaseModel):
    model_config = ConfigDict(extra="forbid")
    county_code: Code6 | None = None
    area_ha: AreaHa | None = None
    boundary: Boundary | None = None
    management_committee: Text200 | None = None
    leading_industries: list[Industry] | None = Field(default=None, max_length=30)
    approval_doc: Text200 | None = None
    approval_date: IsoDate | None = None
    approval_date_precision: DatePrecision | None = None
    source: Annotated[str, StringConstraints(max_length=2000)] | None = None
    confidence: Annotated[str, StringConstraints(pattern=r"^(high|medium|low)$")] | None = None

    _approval_precision = _precision_of("approval_date")


class ZoneCreate(_Descriptive):
    code: ZoneCode | None = Field(default=None, description="catalogue code; omitted: NM-<n> is assigned")
    kind: ZoneKind
    level: ZoneLevel
    status: ZoneStatus = ZoneStatus.candidate
    name_zh: Name
    name_en: NameEn | None = None
    league_code: Code6
    established: Establishment | None = Field(default=None, description="default: today, no legal basis")

    @field_validator("level")
    @classmethod
    def _level_fits_kind(cls, level: ZoneLevel, info: ValidationInfo) -> ZoneLevel:
        kind = info.data.get("kind")
        if kind is not None and level not in ALLOWED_LEVELS[kind]:
            allowed = ", ".join(sorted(ALLOWED_LEVELS[kind]))
            raise ValueError(f"a zone of kind {kind.value} cannot have level {level.value} (allowed: {allowed})")
        return level

    @field_validator("status")
    @classmethod
    def _initial_status(cls, status: ZoneStatus) -> ZoneStatus:
        if status not in INITIAL_STATUSES:
            raise ValueError(f"a zone is registered as candidate or accredited; {status.value} is reached "
                             "only through events")
        return status


class ZoneUpdate(_Descriptive):
    """Descriptive fields; kind, level, status and names change only through events."""

    league_code: Code6 | None = None


class ZoneSummary(BaseModel):
    code: str
    kind: ZoneKind
    level: ZoneLevel
    status: ZoneStatus
    name_zh: str
    name_en: str | None
    league_code: str
    league_name_zh: str
    county_code: str | None
    area_ha: ExactDecimalField | None
    leading_industries: list[str]
    approval_doc: str | None
    approval_date: dt.date | None
    approval_date_precision: DatePrecision | None


class Zone(ZoneSummary):
    boundary: dict[str, Any] | None
    management_committee: str | None
    source: str | None
    confidence: str | None
    parks: list[Park]
    version: int
    created_at: dt.datetime
    updated_at: dt.datetime
    as_of: dt.date | None = Field(None, description="valid time the state refers to (null: today)")
    known_at: dt.datetime | None = Field(None, description="transaction time the answer reflects (null: now)")


class ZonePage(BaseModel):
    items: list[ZoneSummary]
    next_cursor: str | None
    limit: int
    as_of: dt.date | None = None
    known_at: dt.datetime | None = None


MAX_LOOKUP_CODES = 10_000


class ZoneLookup(BaseModel):
    """Several zones at once, by code (peers: e.g. scoring's cohort)."""

    model_config = ConfigDict(extra="forbid")
    codes: list[ZoneCode] = Field(min_length=1, max_length=MAX_LOOKUP_CODES,
                                  description="zone codes; duplicates are answered once")
    as_of: IsoDate | None = Field(None, description="valid time: the state on this date (default: today)")


class ZoneLookupResult(BaseModel):
    items: list[ZoneSummary] = Field(description="the zones found, in the order of the codes given")
    missing: list[str] = Field(description="codes of no zone in the register (on as_of, when given)")
