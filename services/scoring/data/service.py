"""Annual data intake: one unit-year or a whole year at once, all-or-nothing, every mistake reported,
never overwritten (a correction is a new revision), and who/when/why kept with each revision."""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Literal

from sqlalchemy.ext.asyncio import AsyncSession

from services.contracts import ZONE_CODE_RE
from services.scoring.clients.registry import RegistryClient
from services.scoring.data import repository as repo
from services.scoring.data.validation import Finding, check_values, values_hash
from services.scoring.frameworks.definition import FrameworkDocument
from services.scoring.models import FrameworkVersion
from shared.auth import Principal
from shared.decimals import canonical_decimal
from shared.problems import Problem, field_error
from shared.tabular import RowError, rejected

REGION_CODE = "150000"  # 内蒙古自治区, GB/T 2260: the unit of region-wide reference figures
UnitKind = Literal["unit", "league", "region"]
SHANGHAI = dt.timezone(dt.timedelta(hours=8))


@dataclass(slots=True)
class Incoming:
    """One unit-year as received: where it came from (row number / JSON pointer), its unit and raw values."""

    row: int | None
    pointer: str | None
    unit: str
    values: dict[str, Any]
    reason: str | None = None
    problems: list[RowError] = field(default_factory=list)


@dataclass(slots=True)
class Outcome:
    unit: str
    revision: int
    revision_id: int | None
    status: Literal["created", "unchanged", "would-create"]
    warnings: list[dict[str, Any]]
    synthetic: bool = False


def check_year(year: int, earliest: int) -> None:
    """A year of figures: not before `earliest`, not in the future (Asia/Shanghai)."""
    this_year = dt.datetime.now(SHANGHAI).year
    if not earliest <= year <= this_year:
        raise Problem(422, "validation-failed", f"year {year} is outside {earliest}..{this_year}.",
                      errors=[field_error("year", f"between {earliest} and {this_year}", "out-of-range",
                                          location="path")])


async def unit_problems(doc: FrameworkDocument, kind: UnitKind, units: list[str],
                        registry: RegistryClient) -> dict[str, tuple[str, str]]:
    """unit → (code, reason) for every unit the framework does not take (one batched registry call)."""
    out: dict[str, tuple[str, str]] = {}
    if kind == "region":
        return {u: ("unknown-unit", f"region-wide figures are posted for {REGION_CODE}") for u in units
                if u != REGION_CODE}
    if kind == "league":
        leagues = await registry.leagues()
        return {u: ("unknown-league", "not a league/city code of the register") for u in units if u not in leagues}
    if doc.scope.units is not None:
        own = {u.code for u in doc.scope.units}
        return {u: ("unknown-unit", f"not a unit of {doc.id}") for u in units if u not in own}
    well_formed = [u for u in units if ZONE_CODE_RE.match(u)]
    zones = await registry.zones(well_formed) if well_formed else {}
    for unit in units:
        zone = zones.get(unit)
        if zone is None:
            out[unit] = ("unknown-zone", "no zone of the register has this code")
        elif not doc.scope.admits(zone):
            out[unit] = ("out-of-scope", f"{zone.get('kind')}/{zone.get('level')}/{zone.get('status')} is not in "
                         f"the scope of {doc.id}")
    return out


def _error(item: Incoming, finding: Finding) -> RowError:
    pointer = f"{item.pointer}/values/{finding.variable}" if item.pointer is not None else None
    return RowError(item.row, finding.variable, finding.code, finding.reason, pointer)


def _warning(finding: Finding) -> dict[str, Any]:
    return {"variable": finding.variable, "code": finding.code, "reason": finding.reason}


async def post(session: AsyncSession, registry: RegistryClient, *, framework: FrameworkVersion,
               doc: FrameworkDocument, kind: UnitKind, year: int, items: list[Incoming], principal: Principal,
               channel: str, dry_run: bool, yoy_factor: Decimal, synthetic: bool = False,
               default_reason: str | None = None) -> list[Outcome]:
    """Validate every unit-year; on any error reject all (422, every problem listed); else store a new
    revision for each unit-year whose figures differ from its latest (equal figures: nothing new)."""
    errors: list[RowError] = [p for item in items for p in item.problems]
    seen: dict[str, Incoming] = {}
    for item in items:
        if item.unit in seen:
            first = seen[item.unit]
            errors.append(RowError(item.row, "unit", "duplicate-unit", f"{item.unit} appears already "
                                   f"(row {first.row})" if first.row else f"{item.unit} appears twice",
                                   f"{item.pointer}/unit" if item.pointer else None))
        else:
            seen[item.unit] = item
    units = list(seen)
    for unit, (code, reason) in (await unit_problems(doc, kind, units, registry)).items():
        item = seen[unit]
        errors.append(RowError(item.row, "unit", code, f"{unit}: {reason}",
                               f"{item.pointer}/unit" if item.pointer else None))
    latest = await repo.latest_revisions(session, framework.framework_id, year, units if len(units) < 500 else None)
    previous = await repo.snapshots(session, framework.framework_id, year - 1, units if len(units) < 500 else None)
    checked = {}
    for unit, item in seen.items():
        before = previous.get(unit)
        result = check_values(doc, kind, item.values, before.values if before else None, yoy_factor)
        errors += [_error(item, f) for f in result.errors]
        checked[unit] = result
    if errors:
        errors.sort(key=lambda e: (e.row or 0, e.pointer or "", e.field))
        raise rejected(errors, f"{len({e.row for e in errors})} of {len(items)} row(s) have problems; nothing was "
                       "stored.", len(items))

    outcomes: list[Outcome] = []
    new_revisions: list[dict[str, Any]] = []
    new_values: list[tuple[str, dict[str, Decimal | str]]] = []
    batch_id = str(uuid.uuid4())
    now = dt.datetime.now(dt.UTC)
    for unit, item in seen.items():
        result = checked[unit]
        digest = values_hash(result.values)
        current = latest.get(unit)
        warnings = [_warning(f) for f in result.warnings]
        if current is not None and current.values_hash == digest and current.synthetic == synthetic:
            outcomes.append(Outcome(unit, current.revision, current.id, "unchanged", current.warnings or [],
                                    current.synthetic))
            continue
        number = (current.revision + 1) if current else 1
        outcomes.append(Outcome(unit, number, None, "would-create" if dry_run else "created", warnings, synthetic))
        new_revisions.append({
            "framework_id": framework.framework_id, "framework_version": framework.version, "unit_code": unit,
            "unit_kind": kind, "year": year, "revision": number, "synthetic": synthetic, "values_hash": digest,
            "warnings": warnings, "reason": item.reason or default_reason, "channel": channel,
            "batch_id": batch_id, "recorded_by": principal.sub, "recorded_role": principal.role.value,
            "recorded_at": now,
        })
        new_values.append((unit, result.values))
    if dry_run or not new_revisions:
        return outcomes
    ids = await repo.insert_revisions(session, new_revisions)
    by_unit = dict(zip((u for u, _ in new_values), ids, strict=True))
    for outcome in outcomes:
        if outcome.status == "created":
            outcome.revision_id = by_unit[outcome.unit]
    await repo.insert_values(session, [
        (rid, name, value if isinstance(value, Decimal) else None, value if isinstance(value, str) else None)
        for rid, (_, values) in zip(ids, new_values, strict=True) for name, value in values.items()])
    return outcomes


def snapshot_out(snap: repo.Snapshot, doc: FrameworkDocument | None = None) -> dict[str, Any]:
    """A revision with its values as the API shows it (decimals as canonical strings)."""
    r = snap.revision
    return {
        "framework": r.framework_id, "framework_version": r.framework_version, "unit": r.unit_code,
        "unit_kind": r.unit_kind, "year": r.year, "revision": r.revision, "revision_id": r.id,
        "synthetic": r.synthetic, "channel": r.channel, "reason": r.reason, "recorded_by": r.recorded_by,
        "recorded_role": r.recorded_role, "recorded_at": r.recorded_at.isoformat(), "warnings": r.warnings or [],
        "values": {k: canonical_decimal(v) if isinstance(v, Decimal) else v for k, v in sorted(snap.values.items())},
    }
