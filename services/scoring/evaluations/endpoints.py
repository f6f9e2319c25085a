"""Evaluation routes (issue #5 §3): run, list, read, reproduce, publish; the ranking (JSON, CSV, XLSX,
SVG) and the explanation of every point of a zone (JSON, SVG radar)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Path, Query, Request, Response

from services.scoring.evaluations import explain, ranking, service
from services.scoring.evaluations import repository as repo
from services.scoring.evaluations.schemas import EvaluationCreate, Publish
from services.scoring.frameworks import service as frameworks
from services.scoring.frameworks.definition import FRAMEWORK_ID
from services.scoring.proposals import service as proposals
from services.scoring.rounds.schemas import ZONE_CODE
from shared.auth import Principal, Role, current_principal, require_roles
from shared.db import SessionDep
from shared.problems import Problem, problem_responses
from shared.tabular import CSV_MEDIA_TYPE, XLSX_MEDIA_TYPE

router = APIRouter(tags=["evaluations"], responses=problem_responses(401, 403, 404))
StDepartment = Annotated[Principal, Depends(require_roles(Role.st_department))]
Anyone = Annotated[Principal, Depends(current_principal)]
EvaluationId = Annotated[int, Path(ge=1, le=2**31 - 1)]
ZoneCode = Annotated[str, Path(pattern=ZONE_CODE)]
Lang = Annotated[Literal["zh", "en"], Query(description="labels")]
# roles with business with draft evaluations and raw figures (contracts: reads)
DRAFT_READERS = {Role.st_department, Role.observer, Role.regional_government, Role.statistics_bureau}


def sees_drafts(principal: Principal) -> bool:
    return principal.role in DRAFT_READERS


async def _readable(session: Any, evaluation_id: int, principal: Principal) -> Any:
    row = await repo.get(session, evaluation_id)
    if row is None or (not sees_drafts(principal) and await repo.publication(session, evaluation_id) is None):
        raise Problem(404, "evaluation-not-found", f"No evaluation {evaluation_id}"
                      + ("" if sees_drafts(principal) else " published") + ".")
    return row


@router.post("/evaluations", status_code=201, responses=problem_responses(409, 422, 503),
             summary="Run the evaluation of a year (st_department): the cohort from the registry, every input "
                     "recorded and hashed, an immutable draft")
async def create_evaluation(body: EvaluationCreate, request: Request, response: Response, session: SessionDep,
                            principal: StDepartment) -> dict[str, Any]:
    row = await service.create(session, request.app.state.registry, body, principal)
    response.headers["Location"] = f"/evaluations/{row.id}"
    return await service.summary(session, row)


@router.get("/evaluations", summary="Evaluations, newest first (public: published ones)")
async def list_evaluations(session: SessionDep, principal: Anyone,
                           year: Annotated[int | None, Query(ge=1900, le=2200)] = None,
                           framework: Annotated[str | None, Query(pattern=FRAMEWORK_ID)] = None) -> dict[str, Any]:
    rows = await repo.listing(session, year=year, framework_id=framework, published_only=not sees_drafts(principal))
    return {"items": [await service.summary(session, e) for e, _ in rows]}


@router.get("/evaluations/{evaluation_id}", summary="One evaluation: versions, state, cohort, hashes")
async def get_evaluation(evaluation_id: EvaluationId, session: SessionDep, principal: Anyone) -> dict[str, Any]:
    row = await _readable(session, evaluation_id, principal)
    out = await service.summary(session, row)
    out["cohort"] = row.cohort
    if sees_drafts(principal):
        out["inputs"] = {k: v for k, v in row.inputs.items() if k not in ("cohort",)}
        out["treat_details"] = row.result.get("treat_details")
    return out


@router.post("/evaluations/{evaluation_id}/reproduce", responses=problem_responses(422),
             summary="Recompute from the recorded inputs and compare the hashes (nothing is stored)")
async def reproduce(evaluation_id: EvaluationId, session: SessionDep,
                    principal: Annotated[Principal, Depends(require_roles(*DRAFT_READERS))]) -> dict[str, Any]:
    return await service.reproduce(session, await _readable(session, evaluation_id, principal))


@router.post("/evaluations/{evaluation_id}/publish", responses=problem_responses(409, 503),
             summary="Publish (st_department): once, forever; draws the art. 15 proposals")
async def publish(evaluation_id: EvaluationId, request: Request, session: SessionDep, principal: StDepartment,
                  body: Publish | None = None) -> dict[str, Any]:
    row = await _readable(session, evaluation_id, principal)
    await service.publish(session, request.app.state.registry, row, principal, body.note if body else None,
                          request.app.state.settings)
    out = await service.summary(session, row)
    out["proposals"] = [proposals.out(p, d, None, s) for p, d, s in await proposals.listing(session, row.id)]
    return out


def _previous_leagues(row: Any) -> dict[str, str | None]:
    """The previous year's cohort as the evaluation recorded it: each zone → its league that year."""
    return {z["code"]: z.get("league_code") for z in (row.inputs.get("previous_cohort") or {}).get("zones", [])}


@router.get("/evaluations/{evaluation_id}/ranking.svg", response_class=Response,
            responses={200: {"content": {"image/svg+xml": {}}}},
            summary="The ranking as an SVG bar chart by group")
async def ranking_svg(evaluation_id: EvaluationId, session: SessionDep, principal: Anyone,
                      lang: Lang = "zh") -> Response:
    from services.scoring import charts

    row = await _readable(session, evaluation_id, principal)
    _, doc = await frameworks.current(session, row.framework_id, row.framework_version)
    nodes = doc.nodes_by_code
    groups = [(g, nodes[g].name.text(lang)) for g in row.result["groups"]]
    title = f"{doc.name.text(lang)} {row.year}"
    svg = charts.ranking_bars(ranking.rows(row.result, _previous_leagues(row)), groups, title, lang)
    return Response(svg, media_type="image/svg+xml")


@router.get("/evaluations/{evaluation_id}/ranking",
            responses={200: {"content": {"application/json": {}, CSV_MEDIA_TYPE: {}, XLSX_MEDIA_TYPE: {}}}},
            summary="The ranking: total, groups, rank (ties share the lower number), changes against the "
                    "previous year re-scored with the same method, position in the league; JSON, CSV or XLSX")
async def get_ranking(evaluation_id: EvaluationId, request: Request, session: SessionDep, principal: Anyone,
                      format: Annotated[Literal["json", "csv", "xlsx"] | None, Query()] = None) -> Any:
    row = await _readable(session, evaluation_id, principal)
    lines = ranking.rows(row.result, _previous_leagues(row))
    groups = row.result["groups"]
    accept = request.headers.get("accept", "")
    chosen = format or ("csv" if CSV_MEDIA_TYPE in accept else "xlsx" if XLSX_MEDIA_TYPE in accept else "json")
    name = f"ranking-{row.framework_id}-{row.year}-e{row.id}"
    if chosen == "csv":
        return Response(ranking.to_csv(lines, groups), media_type=f"{CSV_MEDIA_TYPE}; charset=utf-8",
                        headers={"Content-Disposition": f'attachment; filename="{name}.csv"'})
    if chosen == "xlsx":
        title = f"{row.framework_id} {row.year} (evaluation {row.id})"
        return Response(ranking.to_xlsx(lines, groups, title), media_type=XLSX_MEDIA_TYPE,
                        headers={"Content-Disposition": f'attachment; filename="{name}.xlsx"'})
    return {"evaluation": await service.summary(session, row), "groups": groups, "items": lines}


def _zone(row: Any, zone_id: str) -> dict[str, Any]:
    zone = next((z for z in row.result["zones"] if z["code"] == zone_id), None)
    if zone is None:
        raise Problem(404, "zone-not-evaluated", f"{zone_id} is not in the cohort of evaluation {row.id}.")
    return zone


@router.get("/evaluations/{evaluation_id}/zones/{zone_id}.svg", response_class=Response,
            responses={200: {"content": {"image/svg+xml": {}}}},
            summary="A zone's groups against the cohort median, as an SVG radar")
async def zone_svg(evaluation_id: EvaluationId, zone_id: ZoneCode, session: SessionDep, principal: Anyone,
                   lang: Lang = "zh") -> Response:
    import statistics

    from services.scoring import charts

    row = await _readable(session, evaluation_id, principal)
    zone = _zone(row, zone_id)
    _, doc = await frameworks.current(session, row.framework_id, row.framework_version)
    nodes = doc.nodes_by_code
    codes = row.result["groups"]
    ranked = [z for z in row.result["zones"] if z.get("total") is not None]
    maxima = [float(points) if (points := nodes[g].points) is not None else
              max([float(z["groups"][g]) for z in ranked] or [1.0]) for g in codes]
    median = [statistics.median([float(z["groups"][g]) for z in ranked]) if ranked else 0.0 for g in codes]
    mine = [float(zone["groups"][g]) if zone.get("groups") else 0.0 for g in codes]
    name = (zone.get("name") or {}).get(lang) or (zone.get("name") or {}).get("zh") or zone_id
    svg = charts.zone_radar(name, [nodes[g].name.text(lang) for g in codes], mine, median, maxima, lang)
    return Response(svg, media_type="image/svg+xml")


@router.get("/evaluations/{evaluation_id}/zones/{zone_id}",
            summary="The explanation of every point of a zone: inputs, raw value and formula, each operation "
                    "of the method, points, article; strongest and weakest indicators")
async def explain_zone(evaluation_id: EvaluationId, zone_id: ZoneCode, session: SessionDep, principal: Anyone,
                       lang: Lang = "zh") -> dict[str, Any]:
    row = await _readable(session, evaluation_id, principal)
    zone = _zone(row, zone_id)
    _, doc = await frameworks.current(session, row.framework_id, row.framework_version)
    out = explain.explanation(zone, row.result, doc, lang, await service.summary(session, row))
    own_league = principal.role is Role.league_government and principal.league_code == zone.get("league_code")
    if not (sees_drafts(principal) or own_league):  # raw annual data is not public (contracts: reads)
        for indicator in out["indicators"]:
            for part in indicator["parts"]:
                part["inputs"] = part["previous_inputs"] = None
    return out
