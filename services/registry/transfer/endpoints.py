"""Bulk import of zones (CSV, XLSX, JSON) and export of the register (CSV, XLSX).

Declared before the zones router in app.py, so that /zones/export.csv is not taken for a zone code."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request, Response
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from services.registry.transfer import formats, service
from services.registry.transfer.formats import COLUMNS, CSV_MEDIA_TYPE, JSON_MEDIA_TYPE, MAX_ROWS, XLSX_MEDIA_TYPE
from services.registry.zones.endpoints import StDepartment, ZoneQuery
from shared.db import SessionDep
from shared.problems import problem_responses
from shared.tabular import parse_content_type

router = APIRouter(tags=["transfer"])


class ImportResult(BaseModel):
    created: int = Field(description="zones registered (0 on a dry run)")
    codes: list[str] = Field(description="the zones' codes in file order (on a dry run: the codes they would get)")
    dry_run: bool
    rows: int = Field(description="data rows read")


_IMPORT_DOC = (
    f"All or nothing: every row is checked against the rules of POST /zones, the league and county references, "
    f"and duplicate codes and (league, name_zh) pairs within the file and in the register; any problem → 422 "
    f"whose `errors` lists each one as {{row, field, pointer, code, reason}}. `row` is the spreadsheet row for "
    f"CSV/XLSX (header = row 1, first data row = 2) and the 1-based array position for JSON, where `pointer` is "
    f"`#/zones/<0-based index>/<field>`. Columns: {', '.join(COLUMNS)} (leading_industries separated by `;`, "
    f"boundary as GeoJSON text). CSV in UTF-8 (with or without BOM) or GB18030; XLSX: the first sheet. "
    f"At most {MAX_ROWS} rows (413 beyond). Rows without a code get NM-<n>. Idempotency-Key is honoured.")


@router.post(
    "/zones/import", response_model=ImportResult, status_code=201, summary="Import zones in bulk (st_department)",
    description=_IMPORT_DOC, responses={200: {"description": "dry run: every row is valid, nothing stored",
                                              "model": ImportResult},
                                        **problem_responses(401, 403, 409, 413, 415, 422)},
    openapi_extra={"requestBody": {"required": True, "content": {
        CSV_MEDIA_TYPE: {"schema": {"type": "string"}},
        XLSX_MEDIA_TYPE: {"schema": {"type": "string", "format": "binary"}},
        JSON_MEDIA_TYPE: {"schema": {"type": "object", "properties": {"zones": {"type": "array", "items": {
            "$ref": "#/components/schemas/ZoneCreate"}}}}}}}},
)
async def import_zones(
    request: Request, session: SessionDep, principal: StDepartment, response: Response,
    dry_run: Annotated[bool, Query(description="check every row and answer 200; store nothing")] = False,
) -> ImportResult:
    media_type, charset = parse_content_type(request.headers.get("content-type"))
    body = await request.body()
    rows, tabular = await run_in_threadpool(formats.read, body, media_type, charset)
    outcome = await service.import_zones(session, principal, rows, tabular=tabular, dry_run=dry_run)
    if dry_run:
        response.status_code = 200
    return ImportResult(created=outcome.created, codes=outcome.codes, dry_run=dry_run, rows=outcome.rows)


def _file(content: bytes, media_type: str, name: str) -> Response:
    return Response(content, media_type=media_type, headers={"Content-Disposition": f'attachment; filename="{name}"'})


def _export_doc(kind: str) -> dict[str, Any]:
    return {"description": f"The register as {kind}, filtered like GET /zones (as_of / known_at included), sorted "
            "by code; its header row is the import's column names, so an export can be edited and re-imported."}


@router.get("/zones/export.csv", response_class=Response, summary="Export the register as CSV (UTF-8 with BOM)",
            responses={200: {"content": {"text/csv": {"schema": {"type": "string"}}}, "description": "CSV"}},
            **_export_doc("CSV"))
async def export_csv(session: SessionDep, query: Annotated[ZoneQuery, Depends()]) -> Response:
    rows = await service.export_rows(session, query.filters, query.as_of, query.known_at)
    return _file(formats.write_csv(rows), "text/csv; charset=utf-8", "zones.csv")


@router.get("/zones/export.xlsx", response_class=Response, summary="Export the register as an XLSX workbook",
            responses={200: {"content": {XLSX_MEDIA_TYPE: {"schema": {"type": "string", "format": "binary"}}},
                             "description": "XLSX"}},
            **_export_doc("XLSX"))
async def export_xlsx(session: SessionDep, query: Annotated[ZoneQuery, Depends()]) -> Response:
    rows = await service.export_rows(session, query.filters, query.as_of, query.known_at)
    return _file(await run_in_threadpool(formats.write_xlsx, rows), XLSX_MEDIA_TYPE, "zones.xlsx")
