"""Audit routes: an application's chain as JSON or CSV, and its verification."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Path, Query, Response
from fastapi.encoders import jsonable_encoder
from fastapi.responses import JSONResponse

from services.workflow.applications.service import readable
from services.workflow.audit import service
from shared.auth import Principal, current_principal
from shared.db import SessionDep
from shared.problems import problem_responses

router = APIRouter(tags=["audit"], responses=problem_responses(401, 403, 404))
Caller = Annotated[Principal, Depends(current_principal)]
ApplicationId = Annotated[int, Path(ge=1, le=2**31 - 1)]
AUDIT_RESPONSES: dict[int | str, dict[str, Any]] = {200: {"content": {
    "application/json": {"schema": {"type": "object"}}, "text/csv": {"schema": {"type": "string"}}},
    "description": "the entries in order (format=csv: UTF-8 CSV with BOM)"}}


@router.get("/applications/{application_id}/audit", response_class=Response, responses=AUDIT_RESPONSES,
            summary="Every action on the application: who, role, when, transition, round, comment, document hashes")
async def get_audit(application_id: ApplicationId, session: SessionDep, principal: Caller,
                    format: Annotated[Literal["json", "csv"], Query()] = "json") -> Response:
    app, _ = await readable(session, principal, application_id)
    rows = await service.entries(session, app.id)
    if format == "csv":
        return Response("\ufeff" + service.to_csv(rows), media_type="text/csv; charset=utf-8", headers={
            "Content-Disposition": f'attachment; filename="application-{app.id}-audit.csv"'})
    return JSONResponse(jsonable_encoder({"application_id": app.id,
                                          "entries": [service.as_dict(r) for r in rows]}))


@router.get("/applications/{application_id}/audit/verify",
            summary="Check the chain: each entry's hash, its link to the previous one, and its end against the head "
                    "the application recorded; names the first broken and any missing entries")
async def verify_audit(application_id: ApplicationId, session: SessionDep, principal: Caller) -> dict[str, Any]:
    app, _ = await readable(session, principal, application_id)
    return {"application_id": app.id, **service.verify(app, await service.entries(session, app.id))}
