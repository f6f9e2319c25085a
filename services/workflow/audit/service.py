"""Appending to, reading and verifying an application's audit chain (the caller holds the application's
row lock, so entries of one application are appended one at a time)."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Sequence
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from services.workflow.audit import chain
from services.workflow.models import Application, AuditEntry
from shared.auth import Principal
from shared.db import utcnow
from shared.rows import Adds

CSV_COLUMNS = ("seq", "at", "actor_sub", "actor_role", "action", "from_state", "to_state", "round", "comment",
               "data", "documents", "prev_hash", "entry_hash")


async def append(session: AsyncSession | Adds, app: Application, principal: Principal, action: str, *,
                 from_state: str | None = None, to_state: str | None = None, comment: str | None = None,
                 data: dict[str, Any] | None = None, documents: list[dict[str, Any]] | None = None,
                 flush: bool = True) -> AuditEntry:
    """Add the next entry of the application's chain (flushed unless `flush` is False: then it is written
    with the rest of the transaction at commit; the sessions do not autoflush). Not committed.

    The chain's head (seq, entry_hash) is kept on the application's row, which the caller has locked: the
    next entry links to it without reading the log, and /verify finds a chain that no longer ends there."""
    fields: dict[str, Any] = {
        "application_id": app.id, "seq": (app.audit_head_seq or 0) + 1, "at": utcnow(),
        "actor_sub": principal.sub, "actor_role": principal.role.value, "action": action,
        "from_state": from_state, "to_state": to_state, "round": app.round, "comment": comment,
        "data": data or {}, "documents": documents or [], "prev_hash": app.audit_head_hash,
    }
    entry = AuditEntry(**fields, entry_hash=chain.entry_hash(fields))
    session.add(entry)
    app.audit_head_seq, app.audit_head_hash = entry.seq, entry.entry_hash
    if flush:
        assert isinstance(session, AsyncSession), "a collector of rows is flushed by its owner"
        await session.flush()
    return entry


async def entries(session: AsyncSession, application_id: int) -> Sequence[AuditEntry]:
    return (await session.execute(select(AuditEntry).where(AuditEntry.application_id == application_id)
                                  .order_by(AuditEntry.seq))).scalars().all()


def as_dict(entry: AuditEntry) -> dict[str, Any]:
    return {"id": entry.id, **{name: getattr(entry, name) for name in chain.CONTENT_FIELDS},
            "entry_hash": entry.entry_hash}


def verify(app: Application, rows: Sequence[AuditEntry]) -> dict[str, Any]:
    """The answer of /audit/verify: the chain checked link by link, and its end against the head the
    application recorded when it appended its newest entry."""
    head = chain.Head(app.audit_head_seq or 0, app.audit_head_hash)
    broken = chain.verify([as_dict(r) for r in rows], head)
    body: dict[str, Any] = {"valid": broken is None, "entries": len(rows),
                            "algorithm": "SHA-256 over RFC 8785 canonical JSON, chained by prev_hash",
                            "recorded_head": {"seq": head.seq, "entry_hash": head.entry_hash}}
    if broken is not None:
        body["first_broken"] = {"seq": broken.seq, "id": broken.entry_id, "code": broken.code,
                                "reason": broken.reason}
        if broken.missing:
            body["first_broken"]["missing"] = list(broken.missing)
    elif rows:
        body["head_hash"] = rows[-1].entry_hash
    return body


def to_csv(rows: Sequence[AuditEntry]) -> str:
    """UTF-8 CSV (the caller adds the BOM), JSON members as JSON text."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for r in rows:
        d = as_dict(r)
        writer.writerow([chain.timestamp(d["at"]) if name == "at" else
                         json.dumps(d[name], ensure_ascii=False, sort_keys=True) if name in ("data", "documents")
                         else "" if d[name] is None else d[name] for name in CSV_COLUMNS])
    return out.getvalue()
