"""The registry events an application announces (contracts: registry events, status transitions), pure:
the body of POST /zones/{code}/events for the intent, the approval and a rejection or withdrawal.
The event id is the outbox message id."""

from __future__ import annotations

import datetime as dt
from typing import Any

MEASURES = {"document": "内政办发〔2022〕17号", "article": "6", "date": "2022-02-24"}


def source(application_id: int) -> str:
    return f"workflow:applications/{application_id}"


def intent(*, event_id: str, application_id: int, day: dt.date, actor: str) -> dict[str, Any]:
    """candidate → applying when the league submits its construction intent (002 art. 6(一))."""
    return {"event_id": event_id, "change": [{"field": "status", "value": "applying"}],
            "effective_date": day.isoformat(), "effective_precision": "day",
            "legal_basis": {**MEASURES, "article": "6(一)"}, "actor": actor, "source": source(application_id),
            "note": "construction intent submitted to the S&T Department"}


def approval(*, event_id: str, application_id: int, document: str, day: dt.date, approved_name: str,
             approved_name_en: str | None, actor: str) -> dict[str, Any]:
    """applying → accredited with kind hitech, the approved name and level regional (002 art. 6(三));
    the legal basis is the regional government's approval."""
    change = [{"field": "status", "value": "accredited"}, {"field": "kind", "value": "hitech"},
              {"field": "level", "value": "regional"}, {"field": "name_zh", "value": approved_name}]
    if approved_name_en:
        change.append({"field": "name_en", "value": approved_name_en})
    return {"event_id": event_id, "change": change, "effective_date": day.isoformat(), "effective_precision": "day",
            "legal_basis": {"document": document, "date": day.isoformat()}, "actor": actor,
            "source": source(application_id), "note": "approved as a regional high-tech zone"}


def restore(*, event_id: str, application_id: int, status: str, outcome: str, document: str | None,
            day: dt.date, actor: str, comment: str | None) -> dict[str, Any]:
    """applying → the status recorded at intent, after a rejection or withdrawal (SPEC 8.8)."""
    basis: dict[str, Any] = {"document": document or f"{outcome} of application {application_id} (workflow)",
                             "date": day.isoformat()}
    note = f"application {outcome}" + (f": {comment}" if comment else "")
    return {"event_id": event_id, "change": [{"field": "status", "value": status}], "effective_date": day.isoformat(),
            "effective_precision": "day", "legal_basis": basis, "actor": actor, "source": source(application_id),
            "note": note[:2000]}
