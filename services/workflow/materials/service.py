"""Uploading and serving materials (002 art. 5): a new upload of an item is a new version, never an
overwrite; the file is checked against its SHA-256 whenever it is served."""

from __future__ import annotations

import hashlib

from fastapi import Request
from sqlalchemy.ext.asyncio import AsyncSession

from services.workflow.applications import repository as repo
from services.workflow.applications.service import readable, settings_of
from services.workflow.applications.store import TransitionStore
from services.workflow.audit import service as audit
from services.workflow.materials.rules import type_refusal
from services.workflow.materials.schemas import ChecklistEntry, Materials, MaterialVersion
from services.workflow.materials.storage import MaterialStore
from services.workflow.models import Application, Material
from services.workflow.process import ProcessDefinition, definition
from shared.auth import Principal
from shared.db import utcnow
from shared.problems import Problem, field_error


def store_of(request: Request) -> MaterialStore:
    return request.app.state.material_store  # type: ignore[no-any-return]


def check_item(p: ProcessDefinition, item: str) -> None:
    if item not in p.items:
        raise Problem(404, "unknown-material-item", f"{item!r} is not an item of the checklist (002 art. 5); items: "
                      f"{', '.join(p.items)}.",
                      errors=[field_error("item", "not a checklist item", "unknown-item", location="path")])


def version_out(m: Material) -> MaterialVersion:
    return MaterialVersion(item=m.item, version=m.version, round=m.round, filename=m.filename,
                           content_type=m.content_type, size=m.size, sha256=m.sha256, uploaded_by=m.uploaded_by,
                           uploaded_at=m.uploaded_at,
                           href=f"/applications/{m.application_id}/materials/{m.item}/versions/{m.version}")


async def listing(session: AsyncSession, request: Request, app: Application) -> Materials:
    settings = settings_of(request)
    p = definition(app.process_version)
    rows = await repo.materials(session, app.id)
    present = {m.item for m in rows}
    return Materials(
        application_id=app.id, state=app.state, version=app.version,
        upload_states=list(p.materials.upload_states), max_bytes=settings.max_material_bytes,
        content_types=list(settings.material_content_types),
        missing_required=[i for i in p.required_items if i not in present],
        checklist=[ChecklistEntry(item=c.item, label_zh=c.label_zh, article=c.article, required=c.required,
                                  revised_in_revision=c.revised_in_revision,
                                  versions=[version_out(m) for m in rows if m.item == c.item])
                   for c in p.materials.checklist])


async def upload(session: AsyncSession, request: Request, principal: Principal, application_id: int, item: str,
                 filename: str, content_type: str, data: bytes) -> Material:
    """Store a new version of `item`: checked (size, type, state, item) before anything is written."""
    settings = settings_of(request)
    if len(data) > settings.max_material_bytes:
        raise Problem(413, "material-too-large", f"The file has {len(data)} bytes; the limit is "
                      f"{settings.max_material_bytes}.",
                      errors=[field_error("file", f"larger than {settings.max_material_bytes} bytes", "too-large")])
    if not data:
        raise Problem(422, "validation-failed", "The file is empty.",
                      errors=[field_error("file", "empty", "empty")])
    refusal = type_refusal(content_type, settings.material_content_types, data[:16])
    if refusal is not None:
        raise Problem(415, "unsupported-material-type", f"The file was refused: {refusal}.",
                      errors=[field_error("file", refusal, "content-type")])
    store = await TransitionStore.of(session)  # on the driver, as a transition (applications/store.py)
    app, _ = await store.readable(principal, application_id)
    p = definition(app.process_version)
    check_item(p, item)
    if app.state not in p.materials.upload_states:
        raise Problem(409, "materials-closed", f"Materials are uploaded while the application is "
                      f"{', '.join(p.materials.upload_states)}; it is {app.state}.", state=app.state)
    sha256 = hashlib.sha256(data).hexdigest()
    version = await store.next_material_version(app.id, item)
    now = utcnow()
    material = Material(application_id=app.id, item=item, version=version, round=app.round, filename=filename,
                        content_type=content_type, size=len(data), sha256=sha256, uploaded_by=principal.sub,
                        uploaded_at=now)
    store.add(material)
    app.version += 1
    app.updated_at = now
    await audit.append(store, app, principal, "upload_material", data={"item": item, "filename": filename},
                       documents=[{"item": item, "version": version, "sha256": sha256, "size": len(data)}],
                       flush=False)
    await store.flush(app)  # the application's version and audit head, the material, the entry
    await store_of(request).write(app.id, sha256, data)  # last: every check above has passed
    return material


async def download(session: AsyncSession, request: Request, principal: Principal, application_id: int, item: str,
                   version: int) -> tuple[Material, bytes]:
    """The stored file of one version, after checking its SHA-256 (410 when gone, 409 when altered)."""
    app, _ = await readable(session, principal, application_id)
    check_item(definition(app.process_version), item)
    material = next((m for m in await repo.materials(session, app.id) if m.item == item and m.version == version),
                    None)
    if material is None:
        raise Problem(404, "material-not-found", f"No version {version} of {item} in application {app.id}.")
    data = await store_of(request).read(app.id, material.sha256)
    if data is None:
        raise Problem(410, "material-missing", f"The stored file of {item} version {version} is gone from the "
                      "material store.", sha256=material.sha256)
    actual = hashlib.sha256(data).hexdigest()
    if actual != material.sha256:
        raise Problem(409, "material-corrupted", f"The stored file of {item} version {version} does not match "
                      f"its recorded SHA-256: it was altered after upload; it is not served.",
                      sha256=material.sha256, actual_sha256=actual)
    return material, data
