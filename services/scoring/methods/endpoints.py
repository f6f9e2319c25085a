"""Scoring method routes: list, read, versions, register (st_department). Methods are public: whoever
reads a published score may read how it was made (SPEC 8.1)."""

from __future__ import annotations

import json
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Request, Response

from services.scoring.frameworks import repository as frameworks_repo
from services.scoring.frameworks import service as frameworks
from services.scoring.methods import store
from services.scoring.methods.definition import METHOD_ID, MethodDocument, bundled
from services.scoring.models import MethodVersion
from shared.auth import Principal, Role, require_roles
from shared.db import SessionDep
from shared.openapi import json_body
from shared.problems import Problem, field_error, problem_responses

router = APIRouter(tags=["methods"], responses=problem_responses(404))
StDepartment = Annotated[Principal, Depends(require_roles(Role.st_department))]
MethodId = Annotated[str, Path(pattern=METHOD_ID)]


def _method_body() -> dict[str, Any]:
    """The posted document as documented, with a bundled method as the example."""
    return json_body(MethodDocument, example=bundled()["nmg-default"].model_dump(mode="json", exclude_none=True))


def summary(row: MethodVersion) -> dict[str, Any]:
    method = store.parsed(row)
    return {"id": row.method_id, "version": row.version, "name": method.name.model_dump(exclude_none=True),
            "frameworks": method.frameworks, "operations": [o.op for o in method.operations],
            "origin": row.origin, "created_at": row.created_at.isoformat(),
            "href": f"/methods/{row.method_id}?version={row.version}"}


@router.get("/methods", summary="The scoring methods (latest version of each)")
async def list_methods(session: SessionDep) -> dict[str, Any]:
    return {"items": [summary(r) for r in await store.latest_versions(session)]}


@router.get("/methods/{method_id}", summary="One method document (a version: immutable)")
async def get_method(method_id: MethodId, session: SessionDep,
                     version: Annotated[int | None, Query(ge=1, le=1_000_000)] = None) -> dict[str, Any]:
    row, _ = await store.current(session, method_id, version)
    return {**summary(row), "document_hash": row.document_hash, "created_by": row.created_by,
            "in_use": await store.in_use(session, row.method_id, row.version), "document": row.document}


@router.get("/methods/{method_id}/versions", summary="Every version of a method")
async def list_versions(method_id: MethodId, session: SessionDep) -> dict[str, Any]:
    rows = await store.versions(session, method_id)
    if not rows:
        raise Problem(404, "method-not-found", f"No method {method_id}.")
    return {"items": [summary(r) for r in rows]}


@router.post("/methods", status_code=201, openapi_extra=_method_body(),
             responses={200: {"description": "the document of a stored version again: that version"},
                        **problem_responses(400, 409, 415, 422)},
             summary="Register a method version (st_department); checked against every framework it names")
async def post_method(request: Request, response: Response, session: SessionDep,
                      principal: StDepartment) -> dict[str, Any]:
    if request.headers.get("content-type", "").split(";")[0].strip() != "application/json":
        raise Problem(415, "unsupported-media-type", "Send a method as application/json.")
    try:
        raw = json.loads(await request.body())
    except ValueError as exc:
        raise Problem(400, "malformed-json", f"The request body is not valid JSON: {exc}.") from None
    if not isinstance(raw, dict):
        raise Problem(422, "invalid-method", "A method is a JSON object.",
                      errors=[field_error("body", "an object", "type")])
    docs = [frameworks.parsed(r) for r in await frameworks_repo.latest_versions(session)]
    method = store.check(raw, docs)
    row, created = await store.store(session, method, created_by=principal.sub, origin="posted")
    response.status_code = 201 if created else 200
    response.headers["Location"] = f"/methods/{row.method_id}?version={row.version}"
    return summary(row)
