"""GET /zones/{zone_id}/targets: the policy targets of SPEC 6 that concern a zone, against its data."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request

from services.scoring.data import access
from services.scoring.eligibility import service as eligibility
from services.scoring.eligibility.endpoints import Reader, ZoneId
from services.scoring.targets import service
from shared.db import SessionDep
from shared.problems import problem_responses

router = APIRouter(tags=["targets"])
Year = Annotated[int, Query(ge=eligibility.EARLIEST_YEAR, description="the year whose data is measured (growth "
                            "and increase targets also read the years back to the plan's base year)")]


@router.get("/zones/{zone_id}/targets", responses=problem_responses(401, 403, 404, 422, 503),
            summary="Policy targets (000 §2, 001 §3, 003 §2, 004 §2) that concern the zone: value, threshold, "
                    "gap, deadline, source; met / not met / unknown / not computable")
async def get_targets(request: Request, zone_id: ZoneId, year: Year, session: SessionDep,
                      principal: Reader) -> dict[str, Any]:
    eligibility.check_year(year, request.app.state.settings.earliest_year)
    zone = await eligibility.zone_of(request, zone_id)
    access.check_zone(principal, zone)
    return await service.zone_targets(session, zone, year)
