"""League and county routes (reference data, public)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from pydantic import BaseModel
from sqlalchemy import func, select

from services.registry.models import County, League, Zone
from shared.db import SessionDep
from shared.problems import Problem, problem_responses

router = APIRouter(tags=["leagues"])


class CountyOut(BaseModel):
    code: str
    name_zh: str
    league_code: str


class LeagueOut(BaseModel):
    code: str
    name_zh: str
    name_en: str
    kind: str
    zone_count: int


class LeagueDetail(LeagueOut):
    counties: list[CountyOut]


async def _leagues(session: SessionDep, code: str | None = None) -> list[LeagueOut]:
    counts = select(Zone.league_code, func.count().label("n")).group_by(Zone.league_code).subquery()
    stmt = (select(League, func.coalesce(counts.c.n, 0))
            .outerjoin(counts, counts.c.league_code == League.code).order_by(League.code))
    if code is not None:
        stmt = stmt.where(League.code == code)
    rows = await session.execute(stmt)
    return [LeagueOut(code=lg.code, name_zh=lg.name_zh, name_en=lg.name_en, kind=lg.kind, zone_count=n)
            for lg, n in rows.tuples()]


@router.get("/leagues", response_model=list[LeagueOut], summary="The 12 leagues/cities (GB/T 2260)")
async def list_leagues(session: SessionDep) -> list[LeagueOut]:
    return await _leagues(session)


@router.get("/leagues/{code}", response_model=LeagueDetail, responses=problem_responses(404),
            summary="A league with its banners, counties and districts")
async def get_league(code: str, session: SessionDep) -> LeagueDetail:
    found = await _leagues(session, code)
    if not found:
        raise Problem(404, "league-not-found", f"No league/city has the code {code}.")
    counties = await _counties(session, code)
    return LeagueDetail(**found[0].model_dump(), counties=counties)


async def _counties(session: SessionDep, league: str | None) -> list[CountyOut]:
    stmt = select(County).order_by(County.code)
    if league is not None:
        stmt = stmt.where(County.league_code == league)
    return [CountyOut(code=c.code, name_zh=c.name_zh, league_code=c.league_code)
            for c in (await session.execute(stmt)).scalars()]


@router.get("/counties", response_model=list[CountyOut], summary="County-level divisions (GB/T 2260)")
async def list_counties(session: SessionDep,
                        league: Annotated[str | None, Query(pattern=r"^\d{6}$")] = None) -> list[CountyOut]:
    return await _counties(session, league)
