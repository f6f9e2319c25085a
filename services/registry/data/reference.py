"""The registry's reference data: the CSV files beside this module, read and validated (pure, stdlib only).

Files (built from the project's zone sources and the policy seeds, copied here; see README.md in this folder):
``leagues.csv`` (12), ``counties.csv`` (103), ``zones.csv`` (one row per physical zone, static
attributes) and ``events.csv`` (the history: every change of kind, level, status or name).

Identity and merge decisions (the evidence, with every source cited, is in README.md in this folder):

- A zone's code is its 2018 catalogue code where it has one, else ``NM-<n>``: NM-1..NM-5 are the
  post-2018 rows of the shared zones.csv in file order, NM-6 and NM-7..NM-11 the zones named only in
  seeds 000 and 001, in the order the seeds name them. Codes never change.
- Merged (SOURCES.md states they are the same physical zone): 内蒙古包头装备制造产业园区 into S159041
  包头装备制造产业园区 and 内蒙古鄂尔多斯鄂托克经济开发区 into S157034 内蒙古鄂托克经济开发区. Each has two
  events: the catalogue approval (month precision) and the 2023 accreditation as a regional
  high-tech zone (kind hitech, the new name, level regional, status accredited; year precision,
  because the 2023-08-11 news says only "近日").
- Not merged (inferred, low confidence; the relation is written in the event's note):
  乌海高新区 (NM-3) and S157038 乌海经济开发区: the 2018 catalogue, published after the 2016-12-01
  accreditation, still lists 乌海经济开发区 as an economic development zone, so the two co-existed in the
  sources; 兴安盟经开区 (NM-5) and S157020 乌兰浩特经济技术开发区: the former is "一区四园", a
  consolidation of several parks, not one-to-one; 呼和浩特综合保税区 (NM-2) and G153012 出口加工区:
  the only source attests existence in 2025, nothing about a conversion.
- Added from the seeds: 通辽高新区 (000 §3; NM-6, hitech regional accredited, league 150500) and the five
  Xilingol economic development zones of 001 §3 (NM-7..NM-11). None matches a catalogue name; three
  share a place name with a catalogue park (锡林浩特/锡林郭勒, 白音华, 多伦) and are noted as possible
  successors, not merged. The other zones the seeds name are catalogue rows under longer names
  (金山 G152058, 稀土 G152006, 鄂尔多斯 G152059, 赤峰 S158023, 阿拉善 S158039, the ETDZs of 003
  G151005/G151063/G151064) or a post-2018 row (乌海高新区 NM-3).
- A seed-only zone's establishing event carries the seed's date (day precision) and a note that the
  real approval date is unknown. Dates never claim more precision than their source.
"""

from __future__ import annotations

import csv
import datetime as dt
import functools
import re
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from services.contracts import ZONE_CODE_RE, DatePrecision, ZoneKind, ZoneLevel, ZoneStatus

DATA_DIR = Path(__file__).resolve().parent

LEAGUE_FIELDS = ("code", "name_zh", "name_en", "kind")
COUNTY_FIELDS = ("code", "name_zh", "league_code")
ZONE_FIELDS = tuple(
    "code league_code county_code area_ha leading_industries approval_doc approval_date "
    "approval_date_precision management_committee source confidence".split()
)
EVENT_FIELDS = tuple(
    "event_id zone_code effective_date effective_precision kind level status name_zh name_en "
    "legal_basis_document legal_basis_article legal_basis_date actor source note".split()
)
STATE_FIELDS = ("kind", "level", "status", "name_zh", "name_en")
ESTABLISHING_FIELDS = ("kind", "level", "status", "name_zh")
CONFIDENCES = ("high", "medium", "low")
LEAGUE_KINDS = ("city", "league")
DIVISION_CODE_RE = re.compile(r"^\d{6}$")
UUID_NAMESPACE = uuid.NAMESPACE_URL


def reference_event_id(zone_code: str, n: int) -> uuid.UUID:
    """The deterministic id of a zone's n-th reference event (1-based), so reloading is idempotent."""
    return uuid.uuid5(UUID_NAMESPACE, f"hitech-zones:reference:{zone_code}:{n}")


@dataclass(frozen=True, slots=True)
class LeagueRow:
    code: str
    name_zh: str
    name_en: str
    kind: str  # city | league


@dataclass(frozen=True, slots=True)
class CountyRow:
    code: str
    name_zh: str
    league_code: str


@dataclass(frozen=True, slots=True)
class ZoneRow:
    code: str
    league_code: str
    county_code: str | None
    area_ha: Decimal | None
    leading_industries: tuple[str, ...]
    approval_doc: str | None
    approval_date: dt.date | None
    approval_date_precision: DatePrecision | None
    management_committee: str | None
    source: str
    confidence: str  # high | medium | low


@dataclass(frozen=True, slots=True)
class EventRow:
    event_id: uuid.UUID
    zone_code: str
    effective_date: dt.date
    effective_precision: DatePrecision
    kind: ZoneKind | None
    level: ZoneLevel | None
    status: ZoneStatus | None
    name_zh: str | None
    name_en: str | None
    legal_basis: dict[str, str] | None  # {document, article, date}, empty keys dropped
    actor: str
    source: str
    note: str | None

    def change(self) -> dict[str, str]:
        """The fields this event sets (blank = unchanged)."""
        return {f: str(v) for f in STATE_FIELDS if (v := getattr(self, f)) is not None}


@dataclass(frozen=True, slots=True)
class ReferenceData:
    leagues: tuple[LeagueRow, ...]
    counties: tuple[CountyRow, ...]
    zones: tuple[ZoneRow, ...]
    events: tuple[EventRow, ...]

    def zone(self, code: str) -> ZoneRow:
        for z in self.zones:
            if z.code == code:
                return z
        raise KeyError(code)

    def events_of(self, zone_code: str) -> tuple[EventRow, ...]:
        return tuple(e for e in self.events if e.zone_code == zone_code)

    def current_state(self, zone_code: str) -> dict[str, str | None]:
        """Fold the zone's events in date order: kind, level, status, name_zh, name_en after the last."""
        self.zone(zone_code)
        state: dict[str, str | None] = dict.fromkeys(STATE_FIELDS)
        for e in sorted(self.events_of(zone_code), key=lambda e: e.effective_date):
            state.update(e.change())
        return state


class _Rows:
    """Reads one CSV file, yielding (line, row) and building errors that name the file and line."""

    def __init__(self, path: Path, fields: tuple[str, ...]) -> None:
        self.path, self.fields = path, fields

    def error(self, line: int, reason: str) -> ValueError:
        return ValueError(f"{self.path.name}, line {line}: {reason}")

    def __iter__(self) -> Iterator[tuple[int, dict[str, str]]]:
        if not self.path.is_file():
            raise ValueError(f"{self.path.name}: file not found in {self.path.parent}")
        with self.path.open(encoding="utf-8", newline="") as f:
            reader = csv.reader(f)
            header = next(reader, None)
            if header is None or tuple(h.strip() for h in header) != self.fields:
                raise self.error(1, f"header must be {','.join(self.fields)}, got {header}")
            for row in reader:
                line = reader.line_num
                if not row or all(not c.strip() for c in row):
                    continue
                if len(row) != len(self.fields):
                    raise self.error(line, f"expected {len(self.fields)} fields, got {len(row)}")
                yield line, {k: v.strip() for k, v in zip(self.fields, row, strict=True)}

    def required(self, line: int, row: dict[str, str], name: str) -> str:
        if not row[name]:
            raise self.error(line, f"{name} is required")
        return row[name]

    def enum(self, line: int, row: dict[str, str], name: str, enum: Any, *, required: bool = False) -> Any:
        value = row[name]
        if not value:
            if required:
                raise self.error(line, f"{name} is required")
            return None
        try:
            return enum(value)
        except ValueError:
            allowed = ", ".join(m.value for m in enum)
            raise self.error(line, f"{name} {value!r} is not one of {allowed}") from None

    def iso_date(self, line: int, name: str, value: str) -> dt.date:
        try:
            if not re.fullmatch(r"\d{4}-\d{2}-\d{2}", value):
                raise ValueError
            return dt.date.fromisoformat(value)
        except ValueError:
            raise self.error(line, f"{name} {value!r} is not a YYYY-MM-DD date") from None

    def dated(
        self, line: int, row: dict[str, str], date_name: str, precision_name: str, *, required: bool
    ) -> tuple[dt.date | None, DatePrecision | None]:
        if not row[date_name] and not row[precision_name] and not required:
            return None, None
        if not row[date_name]:
            raise self.error(line, f"{date_name} is required")
        value = self.iso_date(line, date_name, row[date_name])
        precision = self.enum(line, row, precision_name, DatePrecision, required=True)
        if precision is DatePrecision.month and value.day != 1:
            raise self.error(
                line, f"{date_name} {value} has precision month: it must be the 1st of the month"
            )
        if precision is DatePrecision.year and (value.month, value.day) != (1, 1):
            raise self.error(line, f"{date_name} {value} has precision year: it must be January 1")
        return value, precision


def _leagues(directory: Path) -> tuple[LeagueRow, ...]:
    rows, out, seen = _Rows(directory / "leagues.csv", LEAGUE_FIELDS), [], set()
    for line, r in rows:
        code = rows.required(line, r, "code")
        if not DIVISION_CODE_RE.match(code):
            raise rows.error(line, f"code {code!r} is not a 6-digit GB/T 2260 code")
        if code in seen:
            raise rows.error(line, f"duplicate code {code}")
        if r["kind"] not in LEAGUE_KINDS:
            raise rows.error(line, f"kind {r['kind']!r} is not one of {', '.join(LEAGUE_KINDS)}")
        seen.add(code)
        out.append(
            LeagueRow(code, rows.required(line, r, "name_zh"), rows.required(line, r, "name_en"), r["kind"])
        )
    return tuple(out)


def _counties(directory: Path, leagues: set[str]) -> tuple[CountyRow, ...]:
    rows, out, seen = _Rows(directory / "counties.csv", COUNTY_FIELDS), [], set()
    for line, r in rows:
        code = rows.required(line, r, "code")
        if not DIVISION_CODE_RE.match(code):
            raise rows.error(line, f"code {code!r} is not a 6-digit GB/T 2260 code")
        if code in seen:
            raise rows.error(line, f"duplicate code {code}")
        if r["league_code"] not in leagues:
            raise rows.error(line, f"league_code {r['league_code']!r} is not in leagues.csv")
        seen.add(code)
        out.append(CountyRow(code, rows.required(line, r, "name_zh"), r["league_code"]))
    return tuple(out)


def _zones(directory: Path, leagues: set[str], counties: dict[str, CountyRow]) -> tuple[ZoneRow, ...]:
    rows, out, seen = _Rows(directory / "zones.csv", ZONE_FIELDS), [], set()
    for line, r in rows:
        code = rows.required(line, r, "code")
        if not ZONE_CODE_RE.match(code):
            raise rows.error(line, f"code {code!r} is neither a catalogue code (G/S + 6 digits) nor NM-<n>")
        if code in seen:
            raise rows.error(line, f"duplicate zone code {code}")
        seen.add(code)
        if r["league_code"] not in leagues:
            raise rows.error(line, f"league_code {r['league_code']!r} is not in leagues.csv")
        county = r["county_code"] or None
        if county is not None:
            if county not in counties:
                raise rows.error(line, f"county_code {county!r} is not in counties.csv")
            if counties[county].league_code != r["league_code"]:
                raise rows.error(
                    line, f"county_code {county} belongs to league {counties[county].league_code}"
                )
        area = None
        if r["area_ha"]:
            try:
                area = Decimal(r["area_ha"])
            except InvalidOperation:
                raise rows.error(line, f"area_ha {r['area_ha']!r} is not a decimal") from None
            if not area.is_finite() or area <= 0:
                raise rows.error(line, f"area_ha {r['area_ha']!r} must be a positive number")
        industries = tuple(i.strip() for i in r["leading_industries"].split(";") if i.strip())
        if "在建" in industries:
            raise rows.error(line, "leading_industries: 在建 (under construction) is not an industry")
        date, precision = rows.dated(line, r, "approval_date", "approval_date_precision", required=False)
        if r["confidence"] not in CONFIDENCES:
            raise rows.error(line, f"confidence {r['confidence']!r} is not one of {', '.join(CONFIDENCES)}")
        out.append(
            ZoneRow(
                code=code,
                league_code=r["league_code"],
                county_code=county,
                area_ha=area,
                leading_industries=industries,
                approval_doc=r["approval_doc"] or None,
                approval_date=date,
                approval_date_precision=precision,
                management_committee=r["management_committee"] or None,
                source=rows.required(line, r, "source"),
                confidence=r["confidence"],
            )
        )
    return tuple(out)


def _events(directory: Path, zones: set[str]) -> tuple[EventRow, ...]:
    rows, out = _Rows(directory / "events.csv", EVENT_FIELDS), []
    ids: set[uuid.UUID] = set()
    last: dict[str, dt.date] = {}
    for line, r in rows:
        raw_id = rows.required(line, r, "event_id")
        try:
            event_id = uuid.UUID(raw_id)
        except ValueError:
            raise rows.error(line, f"event_id {raw_id!r} is not a UUID") from None
        if event_id in ids:
            raise rows.error(line, f"duplicate event_id {event_id}")
        ids.add(event_id)
        zone = rows.required(line, r, "zone_code")
        if zone not in zones:
            raise rows.error(line, f"zone_code {zone!r} is not in zones.csv")
        date, precision = rows.dated(line, r, "effective_date", "effective_precision", required=True)
        assert date is not None and precision is not None
        if zone not in last:
            missing = [f for f in ESTABLISHING_FIELDS if not r[f]]
            if missing:
                raise rows.error(line, f"the first event of zone {zone} must set {', '.join(missing)}")
        elif date <= last[zone]:
            raise rows.error(
                line,
                f"events of zone {zone} must be in strictly increasing effective_date "
                f"order ({date} after {last[zone]})",
            )
        last[zone] = date
        change = {f: r[f] for f in STATE_FIELDS if r[f]}
        if not change:
            raise rows.error(
                line, "the event changes nothing (kind, level, status, name_zh, name_en all blank)"
            )
        basis: dict[str, str] = {}
        if r["legal_basis_document"]:
            basis["document"] = r["legal_basis_document"]
        if r["legal_basis_article"]:
            basis["article"] = r["legal_basis_article"]
        if r["legal_basis_date"]:
            basis["date"] = rows.iso_date(line, "legal_basis_date", r["legal_basis_date"]).isoformat()
        out.append(
            EventRow(
                event_id=event_id,
                zone_code=zone,
                effective_date=date,
                effective_precision=precision,
                kind=rows.enum(line, r, "kind", ZoneKind),
                level=rows.enum(line, r, "level", ZoneLevel),
                status=rows.enum(line, r, "status", ZoneStatus),
                name_zh=r["name_zh"] or None,
                name_en=r["name_en"] or None,
                legal_basis=basis or None,
                actor=rows.required(line, r, "actor"),
                source=rows.required(line, r, "source"),
                note=r["note"] or None,
            )
        )
    without = sorted(zones - set(last))
    if without:
        raise ValueError(f"events.csv: zones without any event: {', '.join(without)}")
    return tuple(out)


def load_reference(directory: Path | None = None) -> ReferenceData:
    """Read and validate the four CSV files (utf-8) of `directory` (default: beside this module).

    Raises ValueError naming the file, the line and the reason on the first problem."""
    directory = Path(directory) if directory is not None else DATA_DIR
    leagues = _leagues(directory)
    league_codes = {lg.code for lg in leagues}
    counties = _counties(directory, league_codes)
    zones = _zones(directory, league_codes, {c.code: c for c in counties})
    events = _events(directory, {z.code for z in zones})
    return ReferenceData(leagues, counties, zones, events)


@functools.lru_cache(maxsize=1)
def _shipped() -> ReferenceData:
    return load_reference()


def current_state(zone_code: str, data: ReferenceData | None = None) -> dict[str, str | None]:
    """The zone's kind, level, status, name_zh and name_en after its last event (shipped data by
    default). Raises KeyError for an unknown zone code."""
    return (data or _shipped()).current_state(zone_code)
