"""Frameworks: the bundled ones loaded at start-up, posted ones validated, every version immutable."""

from __future__ import annotations

import csv
import hashlib
import json
from pathlib import Path
from typing import Any

from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncSession

from services.scoring.frameworks import coinr
from services.scoring.frameworks import repository as repo
from services.scoring.frameworks.definition import FrameworkDocument
from services.scoring.models import FrameworkVersion
from shared.db import Database
from shared.problems import Problem, field_error

DEFINITIONS = Path(__file__).resolve().parent / "definitions"
DEFAULT_FRAMEWORK = "nmg-hitech-2022"
ASEM_FRAMEWORK = "asem-coinr"


def document_hash(doc: dict[str, Any]) -> str:
    text = json.dumps(doc, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


_PARSED: dict[tuple[str, int, str], FrameworkDocument] = {}


def parsed(row: FrameworkVersion) -> FrameworkDocument:
    """The validated document of a stored version, parsed once per process (versions never change)."""
    key = (row.framework_id, row.version, row.document_hash)
    doc = _PARSED.get(key)
    if doc is None:
        doc = _PARSED[key] = FrameworkDocument.model_validate(row.document)
    return doc


def validate_document(raw: Any) -> FrameworkDocument:
    """A posted document checked in full; every problem named (422)."""
    try:
        return FrameworkDocument.model_validate(raw)
    except ValidationError as exc:
        errors = []
        for err in exc.errors(include_url=False):
            loc = [p for p in err["loc"] if p != "__root__"]
            reasons = str(err["msg"]).removeprefix("Value error, ").split("; ")
            errors += [field_error(loc or ["body"], reason, str(err["type"])) for reason in reasons]
        raise Problem(422, "invalid-framework", f"The framework document is not valid ({len(errors)} problem(s)).",
                      errors=errors) from None


def bundled_documents() -> list[dict[str, Any]]:
    """The frameworks shipped with the service: 002's, and COINr's ASEM example."""
    nmg = json.loads((DEFINITIONS / f"{DEFAULT_FRAMEWORK}.json").read_text(encoding="utf-8"))
    asem_dir = DEFINITIONS / "asem"
    with (asem_dir / "ASEM_iData.csv").open(encoding="utf-8", newline="") as f:
        units = [{"code": r["uCode"], "name": {"en": r["uName"]}} for r in csv.DictReader(f)]
    meta = coinr.read_table((asem_dir / "ASEM_iMeta.csv").read_text(encoding="utf-8"))
    asem = coinr.to_document(
        meta, framework_id=ASEM_FRAMEWORK, units=units,
        name={"en": "ASEM Sustainable Connectivity (COINr example)", "zh": "亚欧会议可持续互联互通指数（COINr 示例）"},
        description={"en": "COINr's example: 49 indicators, 8 pillars, 2 sub-indices, an index; 51 countries."},
    )
    return [nmg, asem]


async def store(session: AsyncSession, doc: FrameworkDocument, *, created_by: str,
                origin: str) -> tuple[FrameworkVersion, bool]:
    """Store a document as the framework's next version, unless it equals the latest (then that one)."""
    raw = doc.model_dump(mode="json", exclude_none=True)
    digest = document_hash(raw)
    latest = await repo.get(session, doc.id)
    if latest is not None and latest.document_hash == digest:
        return latest, False
    row = FrameworkVersion(framework_id=doc.id, version=(latest.version + 1) if latest else 1, document=raw,
                           document_hash=digest, created_by=created_by, origin=origin)
    session.add(row)
    await session.flush()
    return row, True


async def load_bundled(db: Database) -> list[tuple[str, int, bool]]:
    """Idempotent: a bundled framework is stored once; an edited file becomes a new version."""
    out = []
    async with db.transaction(write=True) as session:
        for raw in bundled_documents():
            row, created = await store(session, FrameworkDocument.model_validate(raw), created_by="bundled",
                                       origin="bundled")
            out.append((row.framework_id, row.version, created))
    return out


async def unknown(session: AsyncSession, framework_id: str, version: int | None = None, *,
                  field: str = "framework") -> dict[str, Any] | None:
    """The `errors` entry naming a framework (or a version of it) that a request body names and that does
    not exist (a 422, not a 404: the path exists, the body is wrong), or None."""
    if await repo.get(session, framework_id, version) is not None:
        return None
    if version is not None and await repo.get(session, framework_id) is not None:
        return field_error(f"{field}_version", f"{framework_id} has no version {version}", "unknown-version")
    return field_error(field, f"no framework {framework_id}", "unknown-framework")


async def current(session: AsyncSession, framework_id: str, version: int | None = None) -> tuple[FrameworkVersion,
                                                                                                  FrameworkDocument]:
    row = await repo.get(session, framework_id, version)
    if row is None:
        which = f"{framework_id} version {version}" if version is not None else framework_id
        raise Problem(404, "framework-not-found", f"No framework {which}.")
    return row, parsed(row)
