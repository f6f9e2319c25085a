"""Every query of zones and parks."""

from __future__ import annotations

import datetime as dt
import json
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from sqlalchemy import Select, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from services.registry.history.rules import TimelineEvent
from services.registry.models import County, League, Park, Zone, ZoneEvent


@dataclass(frozen=True, slots=True)
class ZoneFilters:
    leagues: Sequence[str] = ()
    kinds: Sequence[str] = ()
    levels: Sequence[str] = ()
    statuses: Sequence[str] = ()
    q: str | None = None


def _like(q: str) -> str:
    escaped = q.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped.lower()}%"


def _filtered(filters: ZoneFilters, *, current_state: bool) -> Select[tuple[Zone, str]]:
    stmt = select(Zone, League.name_zh).join(League, League.code == Zone.league_code)
    if filters.leagues:
        stmt = stmt.where(Zone.league_code.in_(filters.leagues))
    if current_state:  # bitemporal reads filter these after folding the events
        if filters.kinds:
            stmt = stmt.where(Zone.kind.in_(filters.kinds))
        if filters.levels:
            stmt = stmt.where(Zone.level.in_(filters.levels))
        if filters.statuses:
            stmt = stmt.where(Zone.status.in_(filters.statuses))
        if filters.q:
            pattern = _like(filters.q)
            stmt = stmt.where(or_(func.lower(Zone.name_zh).like(pattern, escape="\\"),
                                  func.lower(func.coalesce(Zone.name_en, "")).like(pattern, escape="\\")))
    return stmt.order_by(Zone.code)


async def list_current(session: AsyncSession, filters: ZoneFilters, after_code: str | None,
                       limit: int) -> list[tuple[Zone, str]]:
    stmt = _filtered(filters, current_state=True)
    if after_code is not None:
        stmt = stmt.where(Zone.code > after_code)
    rows = await session.execute(stmt.limit(limit))
    return [(z, name) for z, name in rows.tuples()]


async def list_for_fold(session: AsyncSession, filters: ZoneFilters,
                        known_at: dt.datetime | None) -> list[tuple[Zone, str]]:
    stmt = _filtered(filters, current_state=False)
    if known_at is not None:
        stmt = stmt.where(Zone.created_at <= known_at)
    rows = await session.execute(stmt)
    return [(z, name) for z, name in rows.tuples()]


async def get_by_code(session: AsyncSession, code: str, *, for_update: bool = False) -> Zone | None:
    stmt = select(Zone).where(Zone.code == code)
    if for_update:
        stmt = stmt.with_for_update()
    return (await session.execute(stmt)).scalar_one_or_none()


async def league_name(session: AsyncSession, code: str) -> str | None:
    return (await session.execute(select(League.name_zh).where(League.code == code))).scalar_one_or_none()


async def county_league(session: AsyncSession, code: str) -> str | None:
    return (await session.execute(select(County.league_code).where(County.code == code))).scalar_one_or_none()


async def name_taken(session: AsyncSession, league_code: str, name_zh: str, except_id: int | None = None) -> bool:
    stmt = select(Zone.id).where(Zone.league_code == league_code, Zone.name_zh == name_zh)
    if except_id is not None:
        stmt = stmt.where(Zone.id != except_id)
    return (await session.execute(stmt.limit(1))).first() is not None


async def parks_of(session: AsyncSession, zone_id: int) -> list[Park]:
    return list((await session.execute(select(Park).where(Park.zone_id == zone_id).order_by(Park.id))).scalars())


async def get_park(session: AsyncSession, zone_id: int, park_id: int) -> Park | None:
    stmt = select(Park).where(Park.zone_id == zone_id, Park.id == park_id)
    return (await session.execute(stmt)).scalar_one_or_none()


async def events_of(session: AsyncSession, zone_ids: Sequence[int]) -> dict[int, list[ZoneEvent]]:
    """Events of the given zones, each list in recording order."""
    out: dict[int, list[ZoneEvent]] = defaultdict(list)
    if not zone_ids:
        return out
    for chunk_start in range(0, len(zone_ids), 500):
        chunk = list(zone_ids[chunk_start:chunk_start + 500])
        rows = await session.execute(select(ZoneEvent).where(ZoneEvent.zone_id.in_(chunk)).order_by(ZoneEvent.seq))
        for e in rows.scalars():
            out[e.zone_id].append(e)
    return out


async def max_nm_number(session: AsyncSession) -> int:
    codes = (await session.execute(select(Zone.code).where(Zone.code.like("NM-%")))).scalars()
    return max((int(c[3:]) for c in codes), default=0)


# ------------------------------------------------------------------------ current state on the driver
# The current-state reads (GET /zones/{code}, GET /zones and POST /zones/lookup without as_of/known_at)
# are the registry's hot path: portals and peers call them far more than anything else. Each is ONE
# statement on the driver connection (shared.db.Database.driver_connection): no ORM objects, no
# BEGIN/COMMIT round trips, no SQLAlchemy compilation, and one statement sees one snapshot. The SQL
# is written for both dialects here; `_Decoder` turns each dialect's stored forms into the values the
# ORM types would give. Bitemporal reads and every write stay on the ORM session above.

SUMMARY_COLUMNS = ("code", "kind", "level", "status", "name_zh", "name_en", "league_code", "league_name_zh",
                   "county_code", "area_ha", "leading_industries", "approval_doc", "approval_date",
                   "approval_date_precision")
DETAIL_COLUMNS = ("boundary", "management_committee", "source", "confidence", "version", "created_at",
                  "updated_at")
PARK_COLUMNS = ("id", "name_zh", "name_en", "area_ha", "boundary", "version")
EVENT_COLUMNS = ("event_id", "seq", "effective_date", "change", "recorded_at", "recorded_role", "recorded_by",
                 "supersedes")

_SUMMARY_SQL = ", ".join(f"z.{c}" if c != "league_name_zh" else "l.name_zh" for c in SUMMARY_COLUMNS)
_DETAIL_SQL = ", ".join(f"z.{c}" for c in DETAIL_COLUMNS)
_PARK_SQL = ", ".join(f"p.{c}" for c in PARK_COLUMNS)
_EVENT_SQL = ", ".join(f"e.{c}" for c in EVENT_COLUMNS)
_FROM = "FROM zones z JOIN leagues l ON l.code = z.league_code"


class _Decoder:
    """The stored forms of one dialect → Python values (asyncpg decodes most types itself; SQLite keeps
    decimals, dates, timestamps and JSON as text, in the forms SQLAlchemy's types write)."""

    def __init__(self, dialect: str) -> None:
        self.sqlite = dialect == "sqlite"

    def decimal(self, v: Any) -> Decimal | None:  # value-equal to ExactDecimal's; rendered canonical later
        return v if v is None or isinstance(v, Decimal) else Decimal(v)

    def json(self, v: Any) -> Any:
        return json.loads(v) if self.sqlite and v is not None else v

    def date(self, v: Any) -> dt.date | None:
        return dt.date.fromisoformat(v) if self.sqlite and v is not None else v

    def timestamp(self, v: Any) -> dt.datetime | None:
        if v is None:
            return None
        if self.sqlite:
            return dt.datetime.fromisoformat(v).replace(tzinfo=dt.UTC)  # naive UTC text (UTCDateTime)
        return v.astimezone(dt.UTC)  # type: ignore[no-any-return]

    def summary(self, r: Sequence[Any]) -> dict[str, Any]:
        """The first len(SUMMARY_COLUMNS) values of a row, by column name."""
        return {"code": r[0], "kind": r[1], "level": r[2], "status": r[3], "name_zh": r[4], "name_en": r[5],
                "league_code": r[6], "league_name_zh": r[7], "county_code": r[8], "area_ha": self.decimal(r[9]),
                "leading_industries": self.json(r[10]) or [], "approval_doc": r[11],
                "approval_date": self.date(r[12]), "approval_date_precision": r[13]}

    def detail(self, r: Sequence[Any], at: int) -> dict[str, Any]:
        return {"boundary": self.json(r[at]), "management_committee": r[at + 1], "source": r[at + 2],
                "confidence": r[at + 3], "version": r[at + 4], "created_at": self.timestamp(r[at + 5]),
                "updated_at": self.timestamp(r[at + 6])}

    def park(self, r: Sequence[Any], at: int) -> dict[str, Any]:
        return {"id": r[at], "name_zh": r[at + 1], "name_en": r[at + 2], "area_ha": self.decimal(r[at + 3]),
                "boundary": self.json(r[at + 4]), "version": r[at + 5]}

    def event(self, r: Sequence[Any], at: int) -> TimelineEvent:
        return TimelineEvent(event_id=r[at], seq=r[at + 1], effective_date=self.date(r[at + 2]),  # type: ignore[arg-type]
                             change=self.json(r[at + 3]), recorded_at=self.timestamp(r[at + 4]),  # type: ignore[arg-type]
                             recorded_role=r[at + 5], recorded_by=r[at + 6], supersedes=r[at + 7])


class _Sql:
    """Builds one statement with the dialect's placeholders ($n for asyncpg, ? for SQLite)."""

    def __init__(self, dialect: str) -> None:
        self.sqlite = dialect == "sqlite"
        self.params: list[Any] = []

    def param(self, value: Any) -> str:
        self.params.append(value)
        return "?" if self.sqlite else f"${len(self.params)}"

    def any_of(self, column: str, values: Sequence[str]) -> str:
        """column IN values: one placeholder per value for a few (the planners do best with those; PostgreSQL
        spends ~3× the CPU on `= ANY(array)`), one array / JSON parameter for many (a lookup's codes)."""
        if len(values) <= 32:
            return f"{column} IN ({', '.join(self.param(v) for v in values)})"
        if self.sqlite:
            return f"{column} IN (SELECT value FROM json_each({self.param(json.dumps(list(values)))}))"
        return f"{column} = ANY({self.param(list(values))}::text[])"


async def _fetch(driver: Any, sql: _Sql, text: str) -> list[Sequence[Any]]:
    if sql.sqlite:
        return list(await driver.execute_fetchall(text, sql.params))
    return list(await driver.fetch(text, *sql.params))


async def current_zones(driver: Any, dialect: str, codes: Sequence[str]
                        ) -> dict[str, tuple[dict[str, Any], list[dict[str, Any]]]]:
    """Zones as they are now (summary and detail columns) with their parks in id order, by code; unknown
    codes absent. One statement for any number of codes (the hot lane's coalesced reads)."""
    sql = _Sql(dialect)
    text = (f"SELECT {_SUMMARY_SQL}, {_DETAIL_SQL}, {_PARK_SQL} {_FROM} LEFT JOIN parks p ON p.zone_id = z.id "
            f"WHERE {sql.any_of('z.code', codes)} ORDER BY z.code, p.id")
    d = _Decoder(dialect)
    at_detail, at_park = len(SUMMARY_COLUMNS), len(SUMMARY_COLUMNS) + len(DETAIL_COLUMNS)
    out: dict[str, tuple[dict[str, Any], list[dict[str, Any]]]] = {}
    for r in await _fetch(driver, sql, text):
        found = out.get(r[0])
        if found is None:
            found = out[r[0]] = ({**d.summary(r), **d.detail(r, at_detail)}, [])
        if r[at_park] is not None:
            found[1].append(d.park(r, at_park))
    return out


def _page_select(sql: _Sql, filters: ZoneFilters, after_code: str | None, limit: int, columns: str) -> str:
    where = []
    for column, values in (("z.league_code", filters.leagues), ("z.kind", filters.kinds),
                           ("z.level", filters.levels), ("z.status", filters.statuses)):
        if values:
            where.append(sql.any_of(column, values))
    if filters.q:
        pattern = _like(filters.q)
        where.append(f"(lower(z.name_zh) LIKE {sql.param(pattern)} ESCAPE '\\' "
                     f"OR lower(coalesce(z.name_en, '')) LIKE {sql.param(pattern)} ESCAPE '\\')")
    if after_code is not None:
        where.append(f"z.code > {sql.param(after_code)}")
    return (f"SELECT {columns} {_FROM}{' WHERE ' + ' AND '.join(where) if where else ''} "
            f"ORDER BY z.code LIMIT {sql.param(limit)}")


async def current_page(driver: Any, dialect: str, filters: ZoneFilters, after_code: str | None,
                       limit: int) -> list[dict[str, Any]]:
    """Zone summaries matching the filters, by code after `after_code`; the same rows as list_current."""
    sql = _Sql(dialect)
    d = _Decoder(dialect)
    return [d.summary(r) for r in await _fetch(driver, sql, _page_select(sql, filters, after_code, limit,
                                                                         _SUMMARY_SQL))]


async def current_pages(driver: Any, dialect: str, pages: Sequence[tuple[ZoneFilters, str | None, int]]
                        ) -> list[list[dict[str, Any]]]:
    """current_page of each (filters, after_code, limit), in one statement: each page a subquery with its
    own order and limit, tagged with its index and its rows numbered, the pages joined by UNION ALL."""
    if len(pages) == 1:
        return [await current_page(driver, dialect, *pages[0])]
    sql = _Sql(dialect)
    parts = []
    for i, (filters, after_code, limit) in enumerate(pages):
        columns = f"{i} AS page, row_number() OVER (ORDER BY z.code) AS n, {_SUMMARY_SQL}"
        parts.append(f"SELECT * FROM ({_page_select(sql, filters, after_code, limit, columns)}) AS p{i}")
    d = _Decoder(dialect)
    out: list[list[dict[str, Any]]] = [[] for _ in pages]
    for r in await _fetch(driver, sql, " UNION ALL ".join(parts) + " ORDER BY page, n"):
        out[r[0]].append(d.summary(r[2:]))
    return out


async def zones_by_code(driver: Any, dialect: str, codes: Sequence[str], *,
                        with_events: bool) -> dict[str, tuple[dict[str, Any], list[TimelineEvent]]]:
    """Zone summaries of the given codes (unknown ones absent), with their events in recording order
    when asked (for a fold): one statement whatever the number of codes."""
    sql = _Sql(dialect)
    if with_events:
        text = (f"SELECT {_SUMMARY_SQL}, {_EVENT_SQL} {_FROM} LEFT JOIN zone_events e ON e.zone_id = z.id "
                f"WHERE {sql.any_of('z.code', codes)} ORDER BY z.code, e.seq")
    else:
        text = f"SELECT {_SUMMARY_SQL} {_FROM} WHERE {sql.any_of('z.code', codes)}"
    d = _Decoder(dialect)
    out: dict[str, tuple[dict[str, Any], list[TimelineEvent]]] = {}
    at_event = len(SUMMARY_COLUMNS)
    for r in await _fetch(driver, sql, text):
        found = out.get(r[0])
        if found is None:
            found = out[r[0]] = (d.summary(r), [])
        if with_events and r[at_event] is not None:
            found[1].append(d.event(r, at_event))
    return out
