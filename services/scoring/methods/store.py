"""Stored scoring methods: every version immutable (SPEC 8.1: named, versioned; a change is a new
version), the bundled ones loaded at startup, posted ones checked in full."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from services.scoring.frameworks.definition import FrameworkDocument
from services.scoring.frameworks.service import document_hash
from services.scoring.methods.definition import MethodDocument, MethodInvalid, MethodProblem, bundled, parse, validate
from services.scoring.models import Evaluation, MethodVersion
from shared.db import Database
from shared.problems import Problem, field_error

_PARSED: dict[tuple[str, int, str], MethodDocument] = {}


def parsed(row: MethodVersion) -> MethodDocument:
    key = (row.method_id, row.version, row.document_hash)
    if key not in _PARSED:
        _PARSED[key] = MethodDocument.model_validate(row.document)
    return _PARSED[key]


def problems_out(problems: list[MethodProblem]) -> list[dict[str, Any]]:
    return [field_error(list(p.path) or ["body"], p.reason, p.code) for p in problems]


def invalid(problems: list[MethodProblem], what: str = "The method document is not valid",
            code: str = "invalid-method") -> Problem:
    return Problem(422, code, f"{what} ({len(problems)} problem(s)).", errors=problems_out(problems))


def check(raw: Any, frameworks: Sequence[FrameworkDocument]) -> MethodDocument:
    """Parse a posted document and check it against every framework it declares (422 naming each problem)."""
    try:
        method = parse(raw)
    except MethodInvalid as exc:
        raise invalid(exc.problems) from None
    problems = [p for fw in frameworks if method.frameworks == "any" or fw.id in method.frameworks
                for p in validate(method, fw)]
    if method.frameworks != "any":
        known = {fw.id for fw in frameworks}
        problems += [MethodProblem(("frameworks", i), f"no framework {f}", "unknown-framework")
                     for i, f in enumerate(method.frameworks) if f not in known]
    if problems:
        raise invalid(problems)
    return method


def ensure_suits(method: MethodDocument, framework: FrameworkDocument) -> None:
    problems = validate(method, framework)
    if problems:
        raise Problem(422, "method-unsuited", f"Method {method.id} cannot score {framework.id}: "
                      + "; ".join(f"{p.pointer}: {p.reason}" for p in problems),
                      errors=[field_error("method", "; ".join(p.reason for p in problems), "method-unsuited")])


async def store(session: AsyncSession, method: MethodDocument, *, created_by: str,
                origin: str) -> tuple[MethodVersion, bool]:
    """Store (id, version); the same document again is that row; another document under a stored
    version is 409 (a change is a new version)."""
    raw = method.model_dump(mode="json", exclude_none=True)
    digest = document_hash(raw)
    existing = await get_row(session, method.id, method.version)
    if existing is not None:
        if existing.document_hash == digest:
            return existing, False
        raise Problem(409, "method-version-exists", f"{method.id} version {method.version} exists with other "
                      "content; a change is a new version.",
                      errors=[field_error("version", "taken by another document", "version-exists")])
    row = MethodVersion(method_id=method.id, version=method.version, document=raw, document_hash=digest,
                        created_by=created_by, origin=origin)
    session.add(row)
    try:
        await session.flush()
    except IntegrityError:  # the same (id, version) stored by a concurrent request: ask again
        raise Problem(409, "method-version-exists", f"{method.id} version {method.version} was stored meanwhile; "
                      "read it and post a new version if it differs.",
                      errors=[field_error("version", "stored meanwhile", "version-exists")]) from None
    return row, True


async def load_bundled(db: Database) -> list[tuple[str, int, bool]]:
    out = []
    async with db.transaction(write=True) as session:
        for method in bundled().values():
            row, created = await store(session, method, created_by="bundled", origin="bundled")
            out.append((row.method_id, row.version, created))
    return out


async def get_row(session: AsyncSession, method_id: str, version: int | None = None) -> MethodVersion | None:
    stmt = select(MethodVersion).where(MethodVersion.method_id == method_id)
    stmt = stmt.where(MethodVersion.version == version) if version is not None else stmt.order_by(
        MethodVersion.version.desc()).limit(1)
    return (await session.execute(stmt)).scalar_one_or_none()


async def unknown(session: AsyncSession, method_id: str, version: int | None = None, *,
                  field: str = "method") -> dict[str, Any] | None:
    """The `errors` entry naming a method (or a version of it) that a request body names and that does
    not exist (422), or None."""
    if await get_row(session, method_id, version) is not None:
        return None
    if version is not None and await get_row(session, method_id) is not None:
        return field_error(f"{field}_version", f"{method_id} has no version {version}", "unknown-version")
    return field_error(field, f"no method {method_id}", "unknown-method")


async def current(session: AsyncSession, method_id: str,
                  version: int | None = None) -> tuple[MethodVersion, MethodDocument]:
    row = await get_row(session, method_id, version)
    if row is None:
        which = f"{method_id} version {version}" if version is not None else method_id
        raise Problem(404, "method-not-found", f"No method {which}.")
    return row, parsed(row)


async def latest_versions(session: AsyncSession) -> Sequence[MethodVersion]:
    newest = select(MethodVersion.method_id, func.max(MethodVersion.version).label("v")).group_by(
        MethodVersion.method_id).subquery()
    stmt = (select(MethodVersion).join(newest, (MethodVersion.method_id == newest.c.method_id)
                                       & (MethodVersion.version == newest.c.v)).order_by(MethodVersion.method_id))
    return (await session.execute(stmt)).scalars().all()


async def versions(session: AsyncSession, method_id: str) -> Sequence[MethodVersion]:
    stmt = select(MethodVersion).where(MethodVersion.method_id == method_id).order_by(MethodVersion.version)
    return (await session.execute(stmt)).scalars().all()


async def in_use(session: AsyncSession, method_id: str, version: int) -> bool:
    stmt = select(Evaluation.id).where(Evaluation.method_id == method_id, Evaluation.method_version == version)
    return (await session.execute(stmt.limit(1))).scalar_one_or_none() is not None
