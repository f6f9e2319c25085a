"""Everything an evaluation reads, gathered once and recorded (issue #5 §3): the cohort from the registry
(the framework's scope with status accredited / rectification / revocation_proposed, `as_of` the year's
last day, `known_at` the run time), each zone's data revision for the year and the year before, the
expert scores of the year's round, the framework and method versions. The record is canonical JSON
(RFC 8785) and its SHA-256 is the evaluation's `inputs_hash`; a re-run reads the same revisions by id, so
it gives the same hash and the same numbers."""

from __future__ import annotations

import datetime as dt
import hashlib
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from services.scoring.clients.registry import RegistryClient
from services.scoring.data import repository as data_repo
from services.scoring.evaluations import repository as repo
from services.scoring.frameworks.definition import FrameworkDocument
from services.scoring.rounds import repository as rounds_repo
from services.scoring.rounds.service import snapshot as scores_snapshot
from shared.canonical import canonical_json

COHORT_STATUSES = ("accredited", "rectification", "revocation_proposed")  # issue #5 §3


def canonical_hash(document: Any) -> str:
    return hashlib.sha256(canonical_json(document)).hexdigest()


def zone_entry(zone: dict[str, Any]) -> dict[str, Any]:
    name = {k: v for k, v in (("zh", zone.get("name_zh")), ("en", zone.get("name_en"))) if v}
    return {"code": zone["code"], "name": name,
            "league_code": zone.get("league_code"), "kind": zone.get("kind"), "level": zone.get("level"),
            "status": zone.get("status")}


async def cohort(doc: FrameworkDocument, registry: RegistryClient, year: int,
                 known_at: dt.datetime) -> list[dict[str, Any]]:
    """The units an evaluation of `year` ranks: the first registry filter of the scope (002 art. 7: the
    regional high-tech zones) in a cohort status at the year's end, as known at `known_at`; or the
    framework's own units."""
    if doc.scope.units is not None:
        return [{"code": u.code, "name": u.name.model_dump(exclude_none=True), "league_code": None,
                 "kind": None, "level": None, "status": None} for u in doc.scope.units]
    first = (doc.scope.registry or [])[0]
    zones = await registry.list_zones(kind=",".join(first.kind), level=",".join(first.level),
                                      status=",".join(COHORT_STATUSES), as_of=f"{year}-12-31",
                                      known_at=known_at.strftime("%Y-%m-%dT%H:%M:%S.%fZ"))
    return sorted((zone_entry(z) for z in zones), key=lambda z: z["code"])


@dataclass(slots=True)
class Gathered:
    record: dict[str, Any]  # the canonical inputs document (what is hashed)
    current: dict[str, dict[str, Decimal | str]]  # unit → the year's values
    previous: dict[str, dict[str, Decimal | str]]  # unit → the year before's values
    before_previous: dict[str, dict[str, Decimal | str]]  # for the previous year's growth indicators
    scores: list[dict[str, Any]]
    previous_scores: list[dict[str, Any]]

    @property
    def inputs_hash(self) -> str:
        return canonical_hash(self.record)


def _revisions_entry(revisions: dict[str, Any]) -> dict[str, Any]:
    return {unit: {"id": r.id, "revision": r.revision, "values_hash": r.values_hash, "synthetic": r.synthetic}
            for unit, r in sorted(revisions.items())}


async def gather(session: AsyncSession, *, framework: dict[str, Any], method: dict[str, Any],
                 doc: FrameworkDocument, year: int, zones: list[dict[str, Any]],
                 previous_zones: list[dict[str, Any]], known_at: dt.datetime, round_id: int | None,
                 pinned: dict[str, Any] | None = None) -> Gathered:
    """Read the data of the cohort for year, year−1 and year−2 (the previous year's re-scoring needs its own
    prev()). `pinned` (a stored record) re-reads exactly the revisions and scores recorded there."""
    units = sorted({z["code"] for z in zones} | {z["code"] for z in previous_zones})
    years = {"current": year, "previous": year - 1, "before_previous": year - 2}
    revisions: dict[str, dict[str, Any]] = {}
    for key, y in years.items():
        if pinned is not None:
            ids = [e["id"] for e in pinned["data"][key].values()]
            revisions[key] = {r.unit_code: r for r in await repo.revisions_by_id(session, ids)}
        else:
            revisions[key] = await data_repo.latest_revisions(session, doc.id, y, units)
    values = await data_repo.values_of(session, [r.id for rs in revisions.values() for r in rs.values()])
    if pinned is not None:
        scores, previous_scores = pinned["expert_scores"], pinned["previous_expert_scores"]
    else:
        scores = await _scores(session, round_id, {z["code"] for z in zones})
        previous_round = await rounds_repo.find(session, doc.id, year - 1)
        previous_scores = await _scores(session, previous_round.id if previous_round else None,
                                        {z["code"] for z in previous_zones})
    record = {
        "year": year, "framework": framework, "method": method, "round_id": round_id,
        "cohort": {"as_of": f"{year}-12-31", "known_at": known_at.isoformat(), "zones": zones},
        # the previous year re-scored with the same method (002 art. 8: growth compares like with like)
        "previous_cohort": {"as_of": f"{year - 1}-12-31", "known_at": known_at.isoformat(),
                            "zones": previous_zones},
        "data": {key: _revisions_entry(rs) for key, rs in revisions.items()},
        "expert_scores": scores, "previous_expert_scores": previous_scores,
    }
    by_unit = {key: {u: values[r.id] for u, r in rs.items()} for key, rs in revisions.items()}
    return Gathered(record, by_unit["current"], by_unit["previous"], by_unit["before_previous"], scores,
                    previous_scores)


async def regather(session: AsyncSession, evaluation: Any, doc: FrameworkDocument) -> Gathered:
    """A stored evaluation's inputs read again: its recorded cohort, revisions and scores."""
    record = evaluation.inputs
    return await gather(session, framework=record["framework"], method=record["method"], doc=doc,
                        year=evaluation.year, zones=record["cohort"]["zones"],
                        previous_zones=record["previous_cohort"]["zones"],
                        known_at=dt.datetime.fromisoformat(record["cohort"]["known_at"]),
                        round_id=evaluation.round_id, pinned=record)


async def _scores(session: AsyncSession, round_id: int | None, codes: set[str]) -> list[dict[str, Any]]:
    if round_id is None:
        return []
    return [s for s in scores_snapshot(await rounds_repo.latest_scores(session, round_id)) if s["zone"] in codes]
