"""Annual data routes: one unit-year (PUT), a whole year in bulk (POST JSON/CSV/XLSX, dry run), the
XLSX template, the latest figures and their revision history; zones, a framework's own units, and
the league/region reference figures all go through the same intake."""

from __future__ import annotations

from typing import Annotated, Any

import anyio.to_thread
import orjson
from fastapi import APIRouter, Body, Depends, Path, Query, Request, Response

from services.scoring.clients.registry import RegistryClient
from services.scoring.data import access, service, template
from services.scoring.data import repository as repo
from services.scoring.data.formats import loads_exact, read_bulk
from services.scoring.data.service import REGION_CODE, Incoming, UnitKind, check_year, snapshot_out
from services.scoring.frameworks import service as frameworks
from services.scoring.frameworks.definition import FRAMEWORK_ID
from services.scoring.frameworks.service import DEFAULT_FRAMEWORK
from services.scoring.settings import Settings
from shared.auth import Principal, Role, require_roles
from shared.db import SessionDep
from shared.problems import Problem, field_error, problem_responses
from shared.tabular import CSV_MEDIA_TYPE, JSON_MEDIA_TYPE, XLSX_MEDIA_TYPE, media_type_of

router = APIRouter(tags=["annual data"], responses=problem_responses(404, 503))
Bureau = Annotated[Principal, Depends(require_roles(Role.statistics_bureau))]
# raw annual data: roles with business with it (contracts: reads); league_government only its own league
# (services/scoring/data/access.py, checked per unit by each route)
Reader = Annotated[Principal, Depends(require_roles(
    Role.statistics_bureau, Role.st_department, Role.observer, Role.league_government, Role.expert,
    Role.regional_government, Role.service))]
FrameworkParam = Annotated[str, Query(alias="framework", pattern=FRAMEWORK_ID, description="framework id")]
Year = Annotated[int, Path(ge=1900, le=2200, description="the calendar year the figures describe")]
UnitCode = Annotated[str, Path(min_length=1, max_length=32, pattern=r"^[A-Za-z0-9][A-Za-z0-9_\-]*$")]
DryRun = Annotated[bool, Query(description="validate only: nothing is stored")]
BULK_BODY = {"requestBody": {"required": True, "content": {
    JSON_MEDIA_TYPE: {"schema": {"type": "object", "properties": {
        "reason": {"type": "string"},
        "records": {"type": "array", "items": {"type": "object", "properties": {
            "unit": {"type": "string"}, "reason": {"type": "string"},
            "values": {"type": "object", "additionalProperties": {"type": ["string", "number", "null"]}}},
            "required": ["unit", "values"]}}}, "required": ["records"]}},
    CSV_MEDIA_TYPE: {"schema": {"type": "string"}},
    XLSX_MEDIA_TYPE: {"schema": {"type": "string", "format": "binary"}}}}}


# 200: the figures equal the latest revision (nothing new), or a dry run; 201: a new revision
UNCHANGED: dict[int | str, dict[str, Any]] = {
    200: {"description": "nothing new: the figures equal the latest revision, or a dry run"}}


def _registry(request: Request) -> RegistryClient:
    return request.app.state.registry  # type: ignore[no-any-return]


def _settings(request: Request) -> Settings:
    return request.app.state.settings  # type: ignore[no-any-return]


def _etag(snap_revision: int, unit: str, year: int) -> str:
    return f'"{unit}.{year}.r{snap_revision}"'


def _single_body(body: Any) -> tuple[dict[str, Any], str | None]:
    if not isinstance(body, dict) or not isinstance(body.get("values"), dict):
        raise Problem(422, "validation-failed", 'The body is {"values": {variable: value, …}, "reason": "…"}.',
                      errors=[field_error("values", "an object of variable → value", "required")])
    extra = sorted(set(body) - {"values", "reason"})
    if extra:
        raise Problem(422, "validation-failed", f"Unknown member(s): {', '.join(extra)}.",
                      errors=[field_error(name, "not a member of the body", "unknown-field") for name in extra])
    reason = body.get("reason")
    if reason is not None and (not isinstance(reason, str) or len(reason) > 2000):
        raise Problem(422, "validation-failed", "reason is a text of at most 2,000 characters.",
                      errors=[field_error("reason", "text, at most 2,000 characters", "type")])
    return body["values"], reason


async def _put(request: Request, response: Response, session: SessionDep, principal: Principal, framework_id: str,
               kind: UnitKind, unit: str, year: int, body: Any) -> dict[str, Any]:
    settings = _settings(request)
    check_year(year, settings.earliest_year)
    if isinstance(body, dict):  # FastAPI read JSON numbers as floats: read the same body again, exactly
        body = loads_exact(await request.body())
    values, reason = _single_body(body)
    row, doc = await frameworks.current(session, framework_id)
    current = await repo.snapshot(session, framework_id, unit, year)
    if_match = request.headers.get("if-match")
    if if_match is not None:
        expected = _etag(current.revision.revision, unit, year) if current else '"none"'
        if if_match.strip() not in (expected, "*" if current else expected):
            raise Problem(412, "precondition-failed", f"If-Match {if_match} does not match the latest revision "
                          f"{expected}; read it again.", headers={"ETag": expected})
    try:
        outcomes = await service.post(
            session, _registry(request), framework=row, doc=doc, kind=kind, year=year,
            items=[Incoming(None, "#", unit, values, reason)], principal=principal, channel="single",
            dry_run=False, yoy_factor=settings.plausibility_yoy_factor)
    except Problem as problem:
        for error in problem.errors or []:  # a single body has no rows: point into it
            error.pop("row", None)
        raise
    outcome = outcomes[0]
    response.status_code = 201 if outcome.status == "created" else 200
    snap = await repo.snapshot(session, framework_id, unit, year)
    assert snap is not None
    response.headers["ETag"] = _etag(snap.revision.revision, unit, year)
    return {**snapshot_out(snap), "status": outcome.status}


async def _get(request: Request, session: SessionDep, principal: Principal, framework_id: str, unit: str, year: int,
               revision: int | None, response: Response) -> dict[str, Any]:
    await access.check_unit(principal, _registry(request), unit)
    await frameworks.current(session, framework_id)
    snap = await repo.snapshot(session, framework_id, unit, year, revision)
    if snap is None:
        which = f"revision {revision}" if revision else "data"
        raise Problem(404, "data-not-found", f"No {which} of {unit} for {year} under {framework_id}.")
    response.headers["ETag"] = _etag(snap.revision.revision, unit, year)
    return snapshot_out(snap)


async def _history(request: Request, session: SessionDep, principal: Principal, framework_id: str, unit: str,
                   year: int) -> dict[str, Any]:
    await access.check_unit(principal, _registry(request), unit)
    await frameworks.current(session, framework_id)
    items = await repo.history(session, framework_id, unit, year)
    if not items:
        raise Problem(404, "data-not-found", f"No data of {unit} for {year} under {framework_id}.")
    return {"framework": framework_id, "unit": unit, "year": year, "items": [snapshot_out(s) for s in items]}


async def _bulk(request: Request, response: Response, session: SessionDep, principal: Principal, framework_id: str,
                year: int, dry_run: bool) -> dict[str, Any]:
    settings = _settings(request)
    check_year(year, settings.earliest_year)
    row, doc = await frameworks.current(session, framework_id)
    media_type, charset = media_type_of(request)
    body = await request.body()
    if media_type == JSON_MEDIA_TYPE:
        items, reason = read_bulk(body, media_type, charset, doc, settings.max_rows_per_post)
    else:  # a national year (2,600 zones × 54 figures) parses in ~0.5 s as XLSX, ~0.07 s as CSV: in a worker
        # thread, so the event loop serves other requests meanwhile
        items, reason = await anyio.to_thread.run_sync(read_bulk, body, media_type, charset, doc,
                                                       settings.max_rows_per_post)
    outcomes = await service.post(
        session, _registry(request), framework=row, doc=doc, kind="unit", year=year, items=items,
        principal=principal, channel="bulk", dry_run=dry_run, yoy_factor=settings.plausibility_yoy_factor,
        default_reason=reason)
    created = sum(o.status in ("created", "would-create") for o in outcomes)
    response.status_code = 201 if created and not dry_run else 200
    return {
        "framework": row.framework_id, "framework_version": row.version, "year": year, "dry_run": dry_run,
        "rows_total": len(items), "created": 0 if dry_run else created, "would_create": created if dry_run else 0,
        "unchanged": sum(o.status == "unchanged" for o in outcomes),
        "warnings": sum(len(o.warnings) for o in outcomes),
        "records": [{"unit": o.unit, "revision": o.revision, "revision_id": o.revision_id, "status": o.status,
                     "warnings": o.warnings} for o in outcomes],
    }


# ------------------------------------------------------------------------------------------- zones

PUT_BODY = Body(openapi_examples={"figures": {"value": {"values": {"operating_revenue": "12345.6789",
                                                                   "employees": 5230}, "reason": "annual report"}}})


@router.put("/zones/{zone_id}/years/{year}/data", status_code=201,
            responses=UNCHANGED | problem_responses(404, 409, 412),
            summary="Post a zone's figures for a year (statistics_bureau); a correction is a new revision")
async def put_zone_year(zone_id: UnitCode, year: Year, request: Request, response: Response, session: SessionDep,
                        principal: Bureau, body: Annotated[Any, PUT_BODY],
                        framework_id: FrameworkParam = DEFAULT_FRAMEWORK) -> dict[str, Any]:
    return await _put(request, response, session, principal, framework_id, "unit", zone_id, year, body)


@router.get("/zones/{zone_id}/years/{year}/data", responses=problem_responses(404),
            summary="A zone's figures for a year (the latest revision, or ?revision=n)")
async def get_zone_year(zone_id: UnitCode, year: Year, request: Request, session: SessionDep, response: Response,
                        principal: Reader, framework_id: FrameworkParam = DEFAULT_FRAMEWORK,
                        revision: Annotated[int | None, Query(ge=1, le=1_000_000)] = None) -> dict[str, Any]:
    return await _get(request, session, principal, framework_id, zone_id, year, revision, response)


@router.get("/zones/{zone_id}/years/{year}/data/revisions", responses=problem_responses(404),
            summary="Every revision of a zone's figures for a year: who, when, why")
async def zone_year_history(zone_id: UnitCode, year: Year, request: Request, session: SessionDep, principal: Reader,
                            framework_id: FrameworkParam = DEFAULT_FRAMEWORK) -> dict[str, Any]:
    return await _history(request, session, principal, framework_id, zone_id, year)


@router.post("/years/{year}/data", status_code=201, openapi_extra=BULK_BODY,
             responses=UNCHANGED | problem_responses(409, 415),
             summary="Post a whole year in bulk (JSON, CSV UTF-8/GB18030, XLSX): all or nothing, ?dry_run")
async def post_year(year: Year, request: Request, response: Response, session: SessionDep, principal: Bureau,
                    framework_id: FrameworkParam = DEFAULT_FRAMEWORK, dry_run: DryRun = False) -> dict[str, Any]:
    return await _bulk(request, response, session, principal, framework_id, year, dry_run)


@router.get("/years/{year}/template.xlsx", response_class=Response,
            responses={200: {"content": {XLSX_MEDIA_TYPE: {}}}, **problem_responses(404)},
            summary="The XLSX template of a year: one row per zone in scope, zh/en headers, units, validation")
async def year_template(year: Year, request: Request, session: SessionDep, principal: Reader,
                        framework_id: FrameworkParam = DEFAULT_FRAMEWORK) -> Response:
    check_year(year, _settings(request).earliest_year)
    row, doc = await frameworks.current(session, framework_id)
    units = await template.units_in_scope(doc, _registry(request))
    body = template.workbook(doc, row.version, year, units)
    return Response(body, media_type=XLSX_MEDIA_TYPE, headers={
        "Content-Disposition": f'attachment; filename="{framework_id}-{year}-template.xlsx"'})


# ---------------------------------------------------------------------- a framework's own units


@router.put("/frameworks/{framework_id}/units/{unit}/years/{year}/data", status_code=201,
            responses=UNCHANGED | problem_responses(404, 409, 412),
            summary="Post one unit's figures under any framework")
async def put_unit_year(framework_id: Annotated[str, Path(pattern=FRAMEWORK_ID)], unit: UnitCode, year: Year,
                        request: Request, response: Response, session: SessionDep, principal: Bureau,
                        body: Annotated[Any, PUT_BODY]) -> dict[str, Any]:
    return await _put(request, response, session, principal, framework_id, "unit", unit, year, body)


@router.get("/frameworks/{framework_id}/units/{unit}/years/{year}/data", responses=problem_responses(404),
            summary="One unit's figures under any framework")
async def get_unit_year(framework_id: Annotated[str, Path(pattern=FRAMEWORK_ID)], unit: UnitCode, year: Year,
                        request: Request, session: SessionDep, response: Response, principal: Reader,
                        revision: Annotated[int | None, Query(ge=1, le=1_000_000)] = None) -> dict[str, Any]:
    return await _get(request, session, principal, framework_id, unit, year, revision, response)


@router.post("/frameworks/{framework_id}/years/{year}/data", status_code=201, openapi_extra=BULK_BODY,
             responses=UNCHANGED | problem_responses(404, 409, 415),
             summary="Post a year in bulk under any framework")
async def post_framework_year(framework_id: Annotated[str, Path(pattern=FRAMEWORK_ID)], year: Year, request: Request,
                              response: Response, session: SessionDep, principal: Bureau,
                              dry_run: DryRun = False) -> dict[str, Any]:
    return await _bulk(request, response, session, principal, framework_id, year, dry_run)


@router.get("/frameworks/{framework_id}/years/{year}/data", responses=problem_responses(404),
            summary="Every unit's latest figures of a year under a framework (league_government: its own league's)")
async def get_framework_year(framework_id: Annotated[str, Path(pattern=FRAMEWORK_ID)], year: Year, request: Request,
                             session: SessionDep, principal: Reader) -> Response:
    await frameworks.current(session, framework_id)
    snaps = await repo.snapshots(session, framework_id, year)
    shown = await access.readable(principal, _registry(request), snaps)
    items = [snapshot_out(s) for unit, s in sorted(snaps.items()) if unit in shown]
    return Response(orjson.dumps({"framework": framework_id, "year": year, "items": items}),
                    media_type="application/json")


# ---------------------------------------------------------------- reference figures (league/region)


def _area_kind(area: str) -> UnitKind:
    if area == REGION_CODE:
        return "region"
    if len(area) == 6 and area.isdigit():
        return "league"
    raise Problem(422, "validation-failed", f"{area!r} is neither {REGION_CODE} (the region) nor a league code.",
                  errors=[field_error("area", f"{REGION_CODE} or a 6-digit league code", "pattern", location="path")])


@router.put("/references/{area}/years/{year}/data", status_code=201,
            responses=UNCHANGED | problem_responses(404, 409, 412),
            summary="Post a league's (its code) or the region's (150000) reference figures for a year")
async def put_reference(area: UnitCode, year: Year, request: Request, response: Response, session: SessionDep,
                        principal: Bureau, body: Annotated[Any, PUT_BODY],
                        framework_id: FrameworkParam = DEFAULT_FRAMEWORK) -> dict[str, Any]:
    return await _put(request, response, session, principal, framework_id, _area_kind(area), area, year, body)


@router.get("/references/{area}/years/{year}/data", responses=problem_responses(404),
            summary="A league's or the region's reference figures for a year")
async def get_reference(area: UnitCode, year: Year, request: Request, session: SessionDep, response: Response,
                        principal: Reader, framework_id: FrameworkParam = DEFAULT_FRAMEWORK,
                        revision: Annotated[int | None, Query(ge=1, le=1_000_000)] = None) -> dict[str, Any]:
    _area_kind(area)
    return await _get(request, session, principal, framework_id, area, year, revision, response)
