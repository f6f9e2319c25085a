"""Materials routes (002 art. 5): the checklist with its versions, multipart upload, download."""

from __future__ import annotations

from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, Depends, File, Path, Request, Response, UploadFile

from services.workflow.applications.service import readable, settings_of
from services.workflow.materials import service
from services.workflow.materials.rules import media_type, safe_filename
from services.workflow.materials.schemas import Materials, MaterialVersion
from shared.auth import Principal, Role, current_principal, require_roles
from shared.db import SessionDep
from shared.problems import Problem, field_error, problem_responses

router = APIRouter(tags=["materials"], responses=problem_responses(401, 403, 404))
Applicant = Annotated[Principal, Depends(require_roles(Role.league_government))]
Caller = Annotated[Principal, Depends(current_principal)]
ApplicationId = Annotated[int, Path(ge=1, le=2**31 - 1)]
Item = Annotated[str, Path(pattern=r"^[a-z][a-z_]{1,39}$", description="a checklist item (GET …/materials)")]
CHUNK = 256 * 1024


@router.get("/applications/{application_id}/materials", response_model=Materials,
            summary="The checklist of 002 art. 5 with every uploaded version")
async def list_materials(application_id: ApplicationId, request: Request, session: SessionDep,
                         principal: Caller) -> Materials:
    app, _ = await readable(session, principal, application_id)
    return await service.listing(session, request, app)


@router.post("/applications/{application_id}/materials/{item}", response_model=MaterialVersion, status_code=201,
             responses=problem_responses(409, 413, 415, 422),
             summary="Upload a new version of a checklist item (multipart `file`; the applicant league)")
async def upload_material(application_id: ApplicationId, item: Item, request: Request, session: SessionDep,
                          principal: Applicant, file: Annotated[UploadFile, File(description="the document")],
                          response: Response) -> MaterialVersion:
    limit = settings_of(request).max_material_bytes
    chunks, size = [], 0
    while chunk := await file.read(CHUNK):
        size += len(chunk)
        if size > limit:
            raise Problem(413, "material-too-large", f"The file exceeds the limit of {limit} bytes.",
                          errors=[field_error("file", f"larger than {limit} bytes", "too-large")])
        chunks.append(chunk)
    material = await service.upload(session, request, principal, application_id, item,
                                     safe_filename(file.filename), media_type(file.content_type), b"".join(chunks))
    out = service.version_out(material)
    response.headers["Location"] = out.href
    return out


@router.get("/applications/{application_id}/materials/{item}/versions/{version}", response_class=Response,
            responses={200: {"description": "the file, its SHA-256 checked", "content": {"*/*": {}}},
                       **problem_responses(409, 410)},
            summary="Download one version (its SHA-256 is checked: 409 when altered, 410 when gone)")
async def download_material(application_id: ApplicationId, item: Item,
                            version: Annotated[int, Path(ge=1, le=2**31 - 1)], request: Request,
                            session: SessionDep, principal: Caller) -> Response:
    material, data = await service.download(session, request, principal, application_id, item, version)
    return Response(data, media_type=material.content_type, headers={
        "ETag": f'"{material.sha256}"',
        "Content-Disposition": f"attachment; filename*=UTF-8''{quote(material.filename)}",
        "X-Content-SHA256": material.sha256,
    })
