"""Framework routes: list, read (zh and en labels), versions, and registering a framework."""

from __future__ import annotations

import json
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request, Response
from pydantic import BaseModel, ConfigDict, Field

from services.scoring.frameworks import coinr, service
from services.scoring.frameworks import repository as repo
from services.scoring.frameworks.definition import FRAMEWORK_ID, FrameworkDocument, Label, ScopeUnit
from services.scoring.models import FrameworkVersion
from shared.auth import Principal, Role, require_roles
from shared.db import SessionDep
from shared.openapi import json_body
from shared.problems import Problem, field_error, problem_responses
from shared.tabular import decode_csv, media_type_of

router = APIRouter(tags=["frameworks"])
StDepartment = Annotated[Principal, Depends(require_roles(Role.st_department))]


def summary(row: FrameworkVersion, doc: FrameworkDocument) -> dict[str, Any]:
    return {
        "id": row.framework_id, "version": row.version, "name": doc.name.model_dump(), "source": doc.source,
        "points_total": str(doc.points_total) if doc.points_total is not None else None,
        "indicators": len(doc.indicators), "levels": doc.levels[doc.root.code],
        "variables": len(doc.variables), "scope": "registry" if doc.scope.registry is not None else "units",
        "units": len(doc.scope.units or []), "origin": row.origin, "created_at": row.created_at.isoformat(),
        "href": f"/frameworks/{row.framework_id}?version={row.version}",
    }


def full(row: FrameworkVersion, doc: FrameworkDocument, in_use: bool) -> dict[str, Any]:
    out = summary(row, doc)
    out.update({"created_by": row.created_by, "in_use": in_use, "document_hash": row.document_hash,
                "node_levels": doc.levels, "document": row.document})
    return out


@router.get("/frameworks", summary="The frameworks (latest version of each), labels in zh and en")
async def list_frameworks(session: SessionDep) -> dict[str, Any]:
    rows = await repo.latest_versions(session)
    return {"items": [summary(r, service.parsed(r)) for r in rows]}


@router.get("/frameworks/{framework_id}", responses=problem_responses(404),
            summary="One framework: variables, derived quantities, checks, scope and the tree (zh and en)")
async def get_framework(framework_id: str, session: SessionDep,
                        version: Annotated[int | None, Query(ge=1, le=1_000_000)] = None) -> dict[str, Any]:
    row, doc = await service.current(session, framework_id, version)
    return full(row, doc, await repo.in_use(session, row.framework_id, row.version))


@router.get("/frameworks/{framework_id}/versions", responses=problem_responses(404),
            summary="Every version of a framework (each immutable)")
async def list_versions(framework_id: str, session: SessionDep) -> dict[str, Any]:
    rows = await repo.versions(session, framework_id)
    if not rows:
        raise Problem(404, "framework-not-found", f"No framework {framework_id}.")
    return {"items": [summary(r, service.parsed(r)) for r in rows]}


class CoinrRow(BaseModel):
    """One row of COINr's metadata table (`iMeta`), as JSON."""
    model_config = ConfigDict(extra="allow")
    iCode: str
    iName: str
    Type: str = Field(description="Indicator, Aggregate, Denominator, Group or Unit")
    Parent: str | None = None
    Level: int | None = None
    Weight: float | None = None
    Direction: int | None = Field(None, description="1 higher is better, -1 lower is better")
    Denominator: str | None = None
    Unit: str | None = None
    Target: float | None = None


class CoinrUnits(BaseModel):
    units: list[ScopeUnit] | None = None


class CoinrMetadataBody(BaseModel):
    """A framework as COINr's metadata table in JSON rows (converted, then validated as a document)."""
    id: str = Field(pattern=FRAMEWORK_ID)
    name: Label | str | None = None
    coinr_meta: list[CoinrRow]
    scope: CoinrUnits | None = None
    unit_column: str = "uCode"


_TINY_ROWS = [
    {"iCode": "Index", "iName": "Index", "Type": "Aggregate", "Parent": None, "Weight": 1},
    {"iCode": "P1", "iName": "Pillar", "Type": "Aggregate", "Parent": "Index", "Weight": 1},
    {"iCode": "Pop", "iName": "Population", "Type": "Denominator"},
    {"iCode": "Gdp", "iName": "GDP", "Type": "Indicator", "Parent": "P1", "Weight": 2, "Direction": 1,
     "Denominator": "Pop"},
]
FRAMEWORK_BODY = json_body(
    FrameworkDocument | CoinrMetadataBody,
    examples={"coinr_meta": {"id": "tiny-coinr", "name": {"en": "Tiny"}, "coinr_meta": _TINY_ROWS,
                             "scope": {"units": [{"code": "X", "name": {"en": "X"}}]}}},
    extra_content={"text/csv": {"schema": {"type": "string"}, "example": (
        "Level,iCode,iName,Direction,Weight,Unit,Target,Denominator,Parent,Type\n"
        ",Pop,Population,,,,,,,Denominator\n1,Gdp,GDP,1,2,,,Pop,P1,Indicator\n"
        "2,P1,Pillar,,1,,,,Index,Aggregate\n3,Index,Index,,1,,,,,Aggregate\n,X,Unit X,,,,,,,Unit\n")}})


def _coinr_body(body: dict[str, Any]) -> dict[str, Any]:
    """`{"id", "name", "coinr_meta": [rows], "scope"?}`: COINr's metadata table as JSON rows."""
    rows = body.get("coinr_meta")
    if not isinstance(rows, list) or not all(isinstance(r, dict) for r in rows):
        raise Problem(422, "invalid-framework", "coinr_meta is a list of metadata rows (objects).",
                      errors=[field_error("coinr_meta", "a list of objects", "type")])
    given = body.get("name")
    name: dict[str, str] = ({str(k): str(v) for k, v in given.items()} if isinstance(given, dict)
                            else {"en": str(given or body.get("id"))})
    scope = body.get("scope") if isinstance(body.get("scope"), dict) else None
    units = scope.get("units") if scope else None
    return coinr.to_document(rows, framework_id=str(body.get("id") or ""), name=name, units=units,
                             unit_column=str(body.get("unit_column") or "uCode"))


@router.post("/frameworks", status_code=201, openapi_extra=FRAMEWORK_BODY,
             responses={200: {"description": "the latest version's document again: that version"},
                        **problem_responses(409, 415)},
             summary="Register a framework or a new version (st_department): JSON document, or COINr's "
                     "metadata table as CSV (query id, name_en, name_zh) or JSON rows (`coinr_meta`)")
async def post_framework(
    request: Request, response: Response, session: SessionDep, principal: StDepartment,
    framework_id: Annotated[str | None, Query(alias="id", pattern=FRAMEWORK_ID)] = None,
    name_en: Annotated[str | None, Query(max_length=300)] = None,
    name_zh: Annotated[str | None, Query(max_length=300)] = None,
) -> dict[str, Any]:
    media_type, charset = media_type_of(request)
    data = await request.body()
    if media_type in ("text/csv", "application/csv"):
        if framework_id is None:
            raise Problem(422, "validation-failed", "A metadata table needs the framework id (?id=…).",
                          errors=[field_error("id", "required with a CSV metadata table", "required",
                                              location="query")])
        raw = coinr.to_document(coinr.read_table(decode_csv(data, charset)), framework_id=framework_id,
                                name={"en": name_en or framework_id, **({"zh": name_zh} if name_zh else {})})
    elif media_type == "application/json":
        try:
            body = json.loads(data)
        except ValueError as exc:
            raise Problem(400, "malformed-json", f"The request body is not valid JSON: {exc}.") from None
        if not isinstance(body, dict):
            raise Problem(422, "invalid-framework", "A framework is a JSON object.",
                          errors=[field_error("body", "an object", "type")])
        raw = _coinr_body(body) if "coinr_meta" in body else body
    else:
        raise Problem(415, "unsupported-media-type", "Send a framework as application/json, or COINr's metadata "
                      "table as text/csv.")
    doc = service.validate_document(raw)
    row, created = await service.store(session, doc, created_by=principal.sub, origin="posted")
    response.status_code = 201 if created else 200
    response.headers["Location"] = f"/frameworks/{row.framework_id}?version={row.version}"
    return full(row, doc, in_use=False if created else await repo.in_use(session, row.framework_id, row.version))
