"""Indicator routes: the raw values of a unit-year, with formulas, inputs and the data revisions used."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request

from services.scoring.data import access
from services.scoring.data import repository as repo
from services.scoring.data.endpoints import FrameworkParam, Reader, UnitCode, Year
from services.scoring.frameworks import service as frameworks
from services.scoring.frameworks.definition import FRAMEWORK_ID
from services.scoring.frameworks.formulas import PRECISION, REASONS
from services.scoring.frameworks.service import DEFAULT_FRAMEWORK
from services.scoring.indicators.compute import indicator_out, raw_values
from shared.auth import Principal
from shared.db import SessionDep
from shared.problems import Problem, problem_responses

router = APIRouter(tags=["indicators"], responses=problem_responses(404))


def _revision(snap: repo.Snapshot | None) -> dict[str, Any] | None:
    if snap is None:
        return None
    r = snap.revision
    return {"year": r.year, "revision": r.revision, "revision_id": r.id, "synthetic": r.synthetic,
            "recorded_at": r.recorded_at.isoformat()}


async def _indicators(request: Request, session: SessionDep, principal: Principal, framework_id: str, unit: str,
                      year: int, revision: int | None) -> dict[str, Any]:
    await access.check_unit(principal, request.app.state.registry, unit)
    row, doc = await frameworks.current(session, framework_id)
    current, previous = await repo.snapshot_and_previous(session, framework_id, unit, year, revision)
    if current is None:
        raise Problem(404, "data-not-found", f"No data of {unit} for {year} under {framework_id}: post it first "
                      f"(PUT /zones/{unit}/years/{year}/data).")
    values = raw_values(doc, year, current.values, previous.values if previous else None)
    by_code: dict[str, list[Any]] = {}
    for v in values:
        by_code.setdefault(v.code, []).append(v)
    synthetic = current.revision.synthetic or bool(previous and previous.revision.synthetic)
    return {
        "framework": row.framework_id, "framework_version": row.version, "unit": unit, "year": year,
        "synthetic": synthetic, "precision": f"decimal, {PRECISION} significant digits",
        "data_revision": _revision(current), "previous_year_revision": _revision(previous),
        "undefined_reasons": REASONS,
        "indicators": [indicator_out(node, by_code[node.code], doc) for node in doc.indicators],
    }


@router.get("/zones/{zone_id}/years/{year}/indicators", responses=problem_responses(404),
            summary="The raw value of every indicator for a zone-year, exactly, with formulas and inputs")
async def zone_indicators(zone_id: UnitCode, year: Year, request: Request, session: SessionDep, principal: Reader,
                          framework_id: FrameworkParam = DEFAULT_FRAMEWORK,
                          revision: Annotated[int | None, Query(ge=1, le=1_000_000)] = None) -> dict[str, Any]:
    return await _indicators(request, session, principal, framework_id, zone_id, year, revision)


@router.get("/frameworks/{framework_id}/units/{unit}/years/{year}/indicators", responses=problem_responses(404),
            summary="The raw indicator values of one unit-year under any framework")
async def unit_indicators(framework_id: Annotated[str, Path(pattern=FRAMEWORK_ID)], unit: UnitCode, year: Year,
                          request: Request, session: SessionDep, principal: Reader,
                          revision: Annotated[int | None, Query(ge=1, le=1_000_000)] = None) -> dict[str, Any]:
    return await _indicators(request, session, principal, framework_id, unit, year, revision)
