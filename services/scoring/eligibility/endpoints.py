"""GET /zones/{zone_id}/eligibility: may the park apply for accreditation (002 art. 4)?"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request

from services.scoring.data import access
from services.scoring.data.endpoints import Reader  # raw annual figures: league_government its league only
from services.scoring.eligibility import service
from shared.db import SessionDep
from shared.problems import problem_responses

router = APIRouter(tags=["eligibility"])

ZoneId = Annotated[str, Path(pattern=r"^[A-Za-z0-9][A-Za-z0-9_\-]{0,31}$", description="the zone's code")]
Year = Annotated[int, Query(ge=service.EARLIEST_YEAR, description="the application year Y: the conditions read "
                            "Y−3..Y−1 (growth also Y−4); from SCORING_EARLIEST_YEAR (2000) to next year")]


@router.get("/zones/{zone_id}/eligibility", responses=problem_responses(401, 403, 404, 422, 503),
            summary="Eligibility to apply (002 art. 4): conditions C1–C7 over the years before the application "
                    "year, each pass / fail / unknown with its figures; the attested conditions listed")
async def get_eligibility(request: Request, zone_id: ZoneId, year: Year, session: SessionDep,
                          principal: Reader) -> dict[str, Any]:
    service.check_year(year, request.app.state.settings.earliest_year)
    zone = await service.zone_of(request, zone_id)
    access.check_zone(principal, zone)
    return await service.eligibility(session, zone, year, service.settings_of(request))
