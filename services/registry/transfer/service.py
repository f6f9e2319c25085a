"""Bulk import (every row checked first, then all created in the request's transaction, or none) and
export of the register."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError
from sqlalchemy import select, tuple_
from sqlalchemy.ext.asyncio import AsyncSession

from services.registry.events.service import timeline_of
from services.registry.history.rules import state_at
from services.registry.models import County, League, Zone
from services.registry.transfer.formats import RowError, SourceRow, prepare, rejected
from services.registry.zones import repository as repo
from services.registry.zones import service as zones_service
from services.registry.zones.repository import ZoneFilters
from services.registry.zones.schemas import ZoneCreate
from shared.auth import Principal
from shared.decimals import parse_decimal

EXPORT_LIMIT = 1_000_000
_CHUNK = 500
# pydantic error type → the import's stable code (value errors are told apart by field, below)
_TYPE_CODES = {
    "enum": "invalid_enum", "missing": "missing", "extra_forbidden": "unknown-field",
    "string_pattern_mismatch": "invalid_pattern", "string_too_long": "too_long", "string_too_short": "too_short",
    "string_type": "not_text", "list_type": "not_a_list", "too_long": "too_many_items",
}
_VALUE_CODES = {
    "level": "level-not-allowed-for-kind", "status": "status-not-initial", "boundary": "invalid_geojson",
    "approval_date_precision": "precision-mismatch", "approval_date": "invalid_date",
}


@dataclass(slots=True)
class Checked:
    """A row after the schema: its ZoneCreate when valid, and the key fields usable for cross-row checks."""

    row: SourceRow
    body: ZoneCreate | None
    code: str | None
    league_code: str | None
    name_zh: str | None
    county_code: str | None


@dataclass(frozen=True, slots=True)
class ImportOutcome:
    rows: int
    codes: list[str]
    created: int


def _pointer(row: SourceRow, loc: Sequence[Any]) -> str | None:
    if row.pointer is None:
        return None
    return "/".join([row.pointer, *(str(p).replace("~", "~0").replace("/", "~1") for p in loc)])


def _code_of(err: Any, field: str) -> str:
    kind = str(err.get("type", "invalid"))
    if field == "area_ha":
        if kind != "value_error":
            return "invalid_decimal"
        try:
            parse_decimal(err.get("input"))
        except ValueError:
            return "invalid_decimal"
        return "not_positive"  # it parses, so the positivity rule refused it
    if field == "boundary" and kind in ("value_error", "dict_type"):
        return "invalid_geojson"
    if kind.startswith("date_"):
        return "invalid_date"
    if kind == "value_error":
        return _VALUE_CODES.get(field, "invalid")
    return _TYPE_CODES.get(kind, kind)


def _reason(err: Any) -> str:
    msg = str(err.get("msg", "invalid"))
    return msg.removeprefix("Value error, ")


def _schema(row: SourceRow, tabular: bool, errors: list[RowError]) -> Checked:
    """ZoneCreate's rules on one row; the problems go to `errors`."""
    values, problems = prepare(row, tabular)
    bad = set()
    for field, code, reason in problems:
        bad.add(field)
        errors.append(RowError(row.number, field, code, reason, _pointer(row, [field] if field else [])))
    body = None
    if not any(code == "not-an-object" for _, code, _ in problems):
        try:
            body = ZoneCreate.model_validate(values)
        except ValidationError as exc:
            for err in exc.errors():
                loc = err.get("loc", ())
                field = str(loc[0]) if loc else ""
                bad.add(field)
                errors.append(RowError(row.number, field, _code_of(err, field), _reason(err), _pointer(row, loc)))
    if problems:
        body = None

    def key(name: str) -> str | None:
        if body is not None:
            return getattr(body, name)  # type: ignore[no-any-return]
        value = values.get(name)
        return value.strip() if isinstance(value, str) and name not in bad else None

    return Checked(row, body, key("code"), key("league_code"), key("name_zh"), key("county_code"))


async def _existing(session: AsyncSession, checked: list[Checked]) -> tuple[dict[str, str], dict[tuple[str, str], str]]:
    """Codes and (league, name) pairs of the file already in the register (→ the holder's code)."""
    codes = sorted({c.code for c in checked if c.code})
    names = sorted({(c.league_code, c.name_zh) for c in checked if c.league_code and c.name_zh})
    by_code: dict[str, str] = {}
    by_name: dict[tuple[str, str], str] = {}
    for i in range(0, len(codes), _CHUNK):
        rows = await session.execute(select(Zone.code).where(Zone.code.in_(codes[i:i + _CHUNK])))
        by_code.update({c: c for c in rows.scalars()})
    for i in range(0, len(names), _CHUNK):
        stmt = select(Zone.league_code, Zone.name_zh, Zone.code).where(
            tuple_(Zone.league_code, Zone.name_zh).in_(names[i:i + _CHUNK]))
        by_name.update({(lc, nz): code for lc, nz, code in (await session.execute(stmt)).tuples()})
    return by_code, by_name


async def _cross_checks(session: AsyncSession, checked: list[Checked], errors: list[RowError]) -> None:
    """References (league, county), duplicates within the file and against the register."""
    leagues = set((await session.execute(select(League.code))).scalars())
    counties = {c: lc for c, lc in (await session.execute(select(County.code, County.league_code))).tuples()}
    by_code, by_name = await _existing(session, checked)
    first_code: dict[str, int] = {}
    first_name: dict[tuple[str, str], int] = {}
    for c in checked:
        def problem(field: str, code: str, reason: str, c: Checked = c) -> None:
            errors.append(RowError(c.row.number, field, code, reason, _pointer(c.row, [field])))

        if c.league_code and c.league_code not in leagues:
            problem("league_code", "unknown-league", f"{c.league_code} is not one of the 12 leagues/cities")
        county = c.county_code
        if county is not None and c.league_code in leagues:
            if county not in counties:
                problem("county_code", "unknown-county", f"{county} is not a county of Inner Mongolia")
            elif counties[county] != c.league_code:
                problem("county_code", "county-outside-league",
                        f"county {county} belongs to league {counties[county]}, not {c.league_code}")
        if c.code:
            if c.code in by_code:
                problem("code", "duplicate-code", f"a zone with code {c.code} is registered already")
            elif c.code in first_code:
                problem("code", "duplicate-code", f"code {c.code} is also in row {first_code[c.code]}")
            first_code.setdefault(c.code, c.row.number)
        if c.league_code and c.name_zh:
            pair = (c.league_code, c.name_zh)
            if pair in by_name:
                problem("name_zh", "duplicate-name",
                        f"league {c.league_code} already has a zone named {c.name_zh} ({by_name[pair]})")
            elif pair in first_name:
                problem("name_zh", "duplicate-name",
                        f"league {c.league_code} and name {c.name_zh} are also in row {first_name[pair]}")
            first_name.setdefault(pair, c.row.number)


async def _assign_codes(session: AsyncSession, bodies: list[ZoneCreate]) -> list[ZoneCreate]:
    """Rows without a code get NM-<n> after the highest NM number in the register and in the file."""
    top = max([await repo.max_nm_number(session),
               *(int(b.code[3:]) for b in bodies if b.code and b.code.startswith("NM-"))])
    out = []
    for body in bodies:
        if body.code is None:
            top += 1
            body = body.model_copy(update={"code": f"NM-{top}"})
        out.append(body)
    return out


async def import_zones(session: AsyncSession, principal: Principal, rows: list[SourceRow], *, tabular: bool,
                       dry_run: bool) -> ImportOutcome:
    """Check every row; any problem → one 422 listing them all. Otherwise create them (not on a dry run)."""
    errors: list[RowError] = []
    checked = [_schema(row, tabular, errors) for row in rows]
    await _cross_checks(session, checked, errors)
    if errors:
        errors.sort(key=lambda e: e.row or 0)  # stable: within a row, the order found
        bad = len({e.row for e in errors})
        raise rejected(errors, f"{bad} of {len(rows)} rows have problems ({len(errors)} in all); nothing was "
                       "imported.", len(rows))
    bodies = await _assign_codes(session, [c.body for c in checked if c.body is not None])
    if not dry_run:  # every row passed the checks above: one batch (a concurrent registration of the same
        # code or name since then makes the database refuse it: 409, nothing imported)
        await zones_service.create_checked_zones(session, principal, bodies)
    return ImportOutcome(rows=len(rows), codes=[b.code or "" for b in bodies], created=0 if dry_run else len(bodies))


# ----------------------------------------------------------------------------------------------- export


def _export_row(zone: Zone, state: dict[str, Any] | None = None) -> dict[str, Any]:
    row = {name: getattr(zone, name) for name in (
        "code", "kind", "level", "status", "name_zh", "name_en", "league_code", "county_code", "area_ha",
        "leading_industries", "management_committee", "approval_doc", "approval_date", "approval_date_precision",
        "source", "confidence", "boundary")}
    if state is not None:  # kind, level, status and names as folded from the events
        row.update({k: state.get(k) for k in ("kind", "level", "status", "name_zh", "name_en")})
    return row


def _matches(row: dict[str, Any], f: ZoneFilters) -> bool:
    if (f.kinds and row["kind"] not in f.kinds) or (f.levels and row["level"] not in f.levels):
        return False
    if f.statuses and row["status"] not in f.statuses:
        return False
    if f.q:
        q = f.q.lower()
        return q in (row["name_zh"] or "").lower() or q in (row["name_en"] or "").lower()
    return True


async def export_rows(session: AsyncSession, filters: ZoneFilters, as_of: dt.date | None,
                      known_at: dt.datetime | None) -> list[dict[str, Any]]:
    """The register (filtered like GET /zones, by code), now or as of / as known at the given times."""
    if as_of is None and known_at is None:
        return [_export_row(z) for z, _ in await repo.list_current(session, filters, None, EXPORT_LIMIT)]
    candidates = await repo.list_for_fold(session, filters, known_at)
    events = await repo.events_of(session, [z.id for z, _ in candidates])
    out = []
    for zone, _ in candidates:
        state = state_at(timeline_of(events.get(zone.id, [])), as_of, known_at)
        if state is not None and _matches(row := _export_row(zone, state.values), filters):
            out.append(row)
    return out
