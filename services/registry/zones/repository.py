"""Every query of zones and parks."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import Select, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

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
