"""How robust is a ranking (issue #5 §4): `POST /evaluations/{id}/uncertainty` runs a seeded Monte Carlo
over the method's choices on the evaluation's recorded inputs and stores it; the same request (seed
included) answers the stored run. A request without a seed gets one, returned and stored."""

from __future__ import annotations

import asyncio
import json
import secrets
import time
from decimal import Decimal
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Request, Response
from sqlalchemy import select

from services.scoring.evaluations import compute, inputs
from services.scoring.evaluations.service import get as get_evaluation
from services.scoring.frameworks import service as frameworks
from services.scoring.methods import store as methods
from services.scoring.models import UncertaintyRun
from services.scoring.uncertainty import analysis
from services.scoring.uncertainty import spec as uspec
from shared.auth import Principal, Role, require_roles
from shared.db import SessionDep
from shared.problems import Problem, field_error, problem_responses

router = APIRouter(tags=["evaluations"], responses=problem_responses(401, 403, 404))
Analyst = Annotated[Principal, Depends(require_roles(Role.st_department, Role.observer,
                                                     Role.regional_government))]
EvaluationId = Annotated[int, Path(ge=1, le=2**31 - 1)]
# weights perturbed at the indicators (level 1) and the groups (level 2): the index alone (level 3 for the
# 002 framework) would scale every total by one factor and leave every rank as it is
REQUEST_EXAMPLE = {"replications": 1000, "seed": 7,
                   "normalise": [{"method": "minmax", "lo": 0, "hi": 1}, {"method": "prank"}],
                   "treat": {"on_probability": 0.5},
                   "weights_noise": [{"level": 1, "noise": 0.25}, {"level": 2, "noise": 0.25}]}
BODY = {"requestBody": {"required": True, "content": {"application/json": {
    "schema": {"type": "object", "description": "an uncertainty specification, or {\"preset\": \"asem-coinr-sa\"} "
               "with optional overrides", "additionalProperties": True}, "example": REQUEST_EXAMPLE}}}}


def run_out(row: UncertaintyRun) -> dict[str, Any]:
    return {"id": row.id, "evaluation_id": row.evaluation_id, "request": row.request, **row.result,
            "created_by": row.created_by, "created_at": row.created_at.isoformat(),
            "href": f"/evaluations/{row.evaluation_id}/uncertainty/{row.id}"}


async def _body(request: Request) -> dict[str, Any]:
    try:
        raw = json.loads(await request.body() or b"null")
    except ValueError as exc:
        raise Problem(400, "malformed-json", f"The request body is not valid JSON: {exc}.") from None
    if not isinstance(raw, dict):
        raise Problem(422, "invalid-uncertainty-request", "The request is a JSON object.",
                      errors=[field_error("body", "an object", "type")])
    preset = raw.pop("preset", None)
    if preset is not None:
        presets = uspec.bundled()
        if preset not in presets:
            raise Problem(422, "invalid-uncertainty-request", f"No preset {preset!r}.",
                          errors=[field_error("preset", "one of " + ", ".join(presets), "unknown-preset")])
        raw = {**presets[preset].model_dump(mode="json", exclude_none=True), **raw}
    if raw.get("seed") is None:
        raw["seed"] = secrets.randbits(53)
    return raw


@router.post("/evaluations/{evaluation_id}/uncertainty", status_code=201, openapi_extra=BODY,
             responses={200: {"description": "the stored answer to the same request"}, **problem_responses(422)},
             summary="Monte Carlo over the method's choices: each zone's median rank, 5–95 % rank interval "
                     "and how often it is last (seeded, stored)")
async def post_uncertainty(evaluation_id: EvaluationId, request: Request, response: Response, session: SessionDep,
                           principal: Analyst) -> dict[str, Any]:
    row = await get_evaluation(session, evaluation_id)
    raw = await _body(request)
    _, doc = await frameworks.current(session, row.framework_id, row.framework_version)
    _, method = await methods.current(session, row.method_id, row.method_version)
    units = [z["code"] for z in row.inputs["cohort"]["zones"]]
    try:
        spec = uspec.check(raw, doc, method, len(units))
    except uspec.SpecInvalid as exc:
        raise methods.invalid(exc.problems, "The uncertainty request is not valid",
                              "invalid-uncertainty-request") from None
    most = request.app.state.settings.uncertainty_max_replications
    if spec.replications > most:
        raise Problem(422, "invalid-uncertainty-request", f"At most {most:,} replications a request here.",
                      errors=[field_error("replications", f"at most {most} (SCORING_UNCERTAINTY_MAX_REPLICATIONS)",
                                          "too-many-replications")])
    request_hash = inputs.canonical_hash(spec.model_dump(mode="json", exclude_none=True))
    stmt = select(UncertaintyRun).where(UncertaintyRun.evaluation_id == row.id,
                                        UncertaintyRun.request_hash == request_hash)
    if (stored := (await session.execute(stmt)).scalar_one_or_none()) is not None:
        response.status_code = 200
        return run_out(stored)
    gathered = await inputs.regather(session, row, doc)
    cohort, _ = compute.cohort_input(doc, method, row.year, units, gathered.current, gathered.previous,
                                     gathered.scores)
    started = time.perf_counter()
    result = await asyncio.to_thread(analysis.run, doc, method, cohort, spec)
    seconds = time.perf_counter() - started
    zones = [{"code": z.pop("unit"), **z} for z in result.zones()]
    stored = UncertaintyRun(evaluation_id=row.id, request=spec.model_dump(mode="json", exclude_none=True),
                            request_hash=request_hash, result={**result.summary(), "zones": zones},
                            seconds=Decimal(f"{seconds:.6f}"), created_by=principal.sub)
    session.add(stored)
    await session.flush()
    response.headers["Location"] = f"/evaluations/{row.id}/uncertainty/{stored.id}"
    return run_out(stored)


@router.get("/evaluations/{evaluation_id}/uncertainty", summary="The uncertainty analyses of an evaluation")
async def list_uncertainty(evaluation_id: EvaluationId, session: SessionDep, principal: Analyst) -> dict[str, Any]:
    row = await get_evaluation(session, evaluation_id)
    stmt = select(UncertaintyRun).where(UncertaintyRun.evaluation_id == row.id).order_by(UncertaintyRun.id)
    return {"items": [run_out(r) for r in (await session.execute(stmt)).scalars()]}


@router.get("/evaluations/{evaluation_id}/uncertainty/{run_id}", summary="One uncertainty analysis")
async def get_uncertainty(evaluation_id: EvaluationId, run_id: Annotated[int, Path(ge=1, le=2**31 - 1)],
                          session: SessionDep, principal: Analyst) -> dict[str, Any]:
    stored = await session.get(UncertaintyRun, run_id)
    if stored is None or stored.evaluation_id != evaluation_id:
        raise Problem(404, "uncertainty-run-not-found", f"No uncertainty analysis {run_id} of evaluation "
                      f"{evaluation_id}.")
    return run_out(stored)
