"""Evaluations (issue #5 §3): run one over a cohort and record everything it read, reproduce it, publish
it (once: 002 art. 11) and draw the art. 15 proposals from it."""

from __future__ import annotations

import hashlib
from decimal import Decimal
from typing import Any

from sqlalchemy import text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from services.scoring.clients.registry import RegistryClient
from services.scoring.evaluations import compute, inputs
from services.scoring.evaluations import repository as repo
from services.scoring.evaluations.schemas import EvaluationCreate
from services.scoring.frameworks import service as frameworks
from services.scoring.methods import store as methods
from services.scoring.models import Evaluation, EvaluationPublication
from services.scoring.proposals import rules
from services.scoring.proposals import service as proposals
from services.scoring.rounds import repository as rounds_repo
from services.scoring.settings import Settings
from shared.auth import Principal
from shared.db import utcnow
from shared.problems import Problem, field_error


async def get(session: AsyncSession, evaluation_id: int, principal: Principal | None = None) -> Evaluation:
    """The evaluation; `public` (and any caller passed as public) sees published ones only."""
    row = await repo.get(session, evaluation_id)
    if row is None or (principal is not None and principal.is_public
                       and await repo.publication(session, evaluation_id) is None):
        raise Problem(404, "evaluation-not-found", f"No evaluation {evaluation_id}.")
    return row


async def create(session: AsyncSession, registry: RegistryClient, body: EvaluationCreate,
                 principal: Principal) -> Evaluation:
    errors = [e for e in (await frameworks.unknown(session, body.framework, body.framework_version),
                          await methods.unknown(session, body.method, body.method_version)) if e is not None]
    if errors:
        raise Problem(422, "validation-failed", "The request names " + " and ".join(
            e["reason"] for e in errors) + ".", errors=errors)
    framework_row, doc = await frameworks.current(session, body.framework, body.framework_version)
    method_row, method = await methods.current(session, body.method, body.method_version)
    methods.ensure_suits(method, doc)
    if body.supersedes is not None:
        await _check_supersedes(session, body)
    round_row = await rounds_repo.find(session, doc.id, body.year)
    known_at = utcnow()  # to the microsecond: a register change committed a moment before the run is known
    zones = await inputs.cohort(doc, registry, body.year, known_at)
    previous_zones = await inputs.cohort(doc, registry, body.year - 1, known_at)
    gathered = await inputs.gather(
        session, framework=_ref(framework_row.framework_id, framework_row.version, framework_row.document_hash),
        method=_ref(method_row.method_id, method_row.version, method_row.document_hash), doc=doc, year=body.year,
        zones=zones, previous_zones=previous_zones, known_at=known_at,
        round_id=round_row.id if round_row else None)
    if not gathered.current:
        raise Problem(422, "no-data", f"No zone of the {doc.id} cohort has data for {body.year}.",
                      errors=[field_error("year", f"no data for {body.year} in the cohort "
                                          f"({len(zones)} zones)", "no-data")])
    result = compute.evaluate(doc, method, gathered)
    row = Evaluation(
        year=body.year, framework_id=framework_row.framework_id, framework_version=framework_row.version,
        method_id=method_row.method_id, method_version=method_row.version,
        round_id=round_row.id if round_row else None, supersedes_id=body.supersedes, known_at=known_at,
        cohort=gathered.record["cohort"], inputs=gathered.record, inputs_hash=gathered.inputs_hash,
        result=result, result_hash=inputs.canonical_hash(result), created_by=principal.sub, note=body.note)
    session.add(row)
    await session.flush()
    return row


def _ref(identifier: str, version: int, document_hash: str) -> dict[str, Any]:
    return {"id": identifier, "version": version, "document_hash": document_hash}


async def _check_supersedes(session: AsyncSession, body: EvaluationCreate) -> None:
    old = await repo.get(session, body.supersedes or 0)
    if old is None:
        raise Problem(422, "validation-failed", f"No evaluation {body.supersedes} to supersede.",
                      errors=[field_error("supersedes", "no such evaluation", "not-found")])
    if old.year != body.year or old.framework_id != body.framework:
        raise Problem(422, "validation-failed", f"Evaluation {old.id} is of {old.framework_id} {old.year}: a "
                      "correction evaluates the same framework and year.",
                      errors=[field_error("supersedes", "another framework or year", "mismatch")])
    if await repo.publication(session, old.id) is None:
        raise Problem(422, "validation-failed", f"Evaluation {old.id} is a draft: run a new one, nothing "
                      "to supersede.", errors=[field_error("supersedes", "not published", "not-published")])


async def reproduce(session: AsyncSession, row: Evaluation) -> dict[str, Any]:
    """Recompute from the recorded inputs (same cohort, same revisions, same scores, same versions)."""
    _, doc = await frameworks.current(session, row.framework_id, row.framework_version)
    _, method = await methods.current(session, row.method_id, row.method_version)
    gathered = await inputs.regather(session, row, doc)
    result = compute.evaluate(doc, method, gathered)
    result_hash = inputs.canonical_hash(result)
    return {"evaluation_id": row.id, "inputs_hash": gathered.inputs_hash, "result_hash": result_hash,
            "stored_inputs_hash": row.inputs_hash, "stored_result_hash": row.result_hash,
            "identical": gathered.inputs_hash == row.inputs_hash and result_hash == row.result_hash}


def ranked_lines(row: Evaluation, current_status: dict[str, str | None] | None = None) -> list[rules.Ranked]:
    """The ranked zones of the evaluation with their missing-data flags, and their registry status now."""
    now = current_status or {}
    return [rules.Ranked(z["code"], z["rank"], Decimal(z["total"]), {g: Decimal(v) for g, v in z["groups"].items()},
                         z.get("status"), tuple(z.get("flags") or ()), now.get(z["code"]))
            for z in row.result["zones"] if z.get("total") is not None]


def management_settings(settings: Settings) -> rules.ManagementSettings:
    return rules.ManagementSettings(
        upgrade_top_ranks=settings.management_upgrade_top_ranks,
        upgrade_min_innovation_share=settings.management_upgrade_min_innovation_share,
        rectification_bottom_ranks=settings.management_rectification_bottom_ranks,
        low_score=settings.management_low_score, revocation_rule=settings.management_revocation_rule)


async def _serialise_publications(session: AsyncSession, framework_id: str, year: int) -> None:
    """Publications of one framework-year one at a time, so that the checks below and the publication are
    one step: two different evaluations of a year published at the same moment would both find no live one
    (on PostgreSQL a transaction-scoped advisory lock; SQLite's writers hold the database one at a time)."""
    if session.get_bind().dialect.name != "postgresql":
        return
    digest = hashlib.sha256(f"hitech-zones:publish:{framework_id}:{year}".encode()).digest()
    await session.execute(text("SELECT pg_advisory_xact_lock(:key)"),
                          {"key": int.from_bytes(digest[:8], "big", signed=True)})


async def publish(session: AsyncSession, registry: RegistryClient, row: Evaluation, principal: Principal,
                  note: str | None, settings: Settings) -> EvaluationPublication:
    """Publish once; draw the art. 15 proposals against the previous year's published evaluation, from
    each zone's registry status now; a correction's drafts skip what the corrected one had confirmed."""
    await _serialise_publications(session, row.framework_id, row.year)
    if await repo.publication(session, row.id) is not None:
        raise Problem(409, "evaluation-published", f"Evaluation {row.id} is published already; a correction is "
                      "a new evaluation that supersedes it.")
    if row.supersedes_id is not None and (
            other := await repo.published_superseder(session, row.supersedes_id)) is not None:
        raise Problem(409, "evaluation-superseded", f"Evaluation {row.supersedes_id} has been corrected by the "
                      f"published evaluation {other} already: a further correction supersedes {other}.",
                      superseded_by=other)
    # a year has one published result at a time (002 art. 11); another is a correction of it, else two live
    # sets of proposals and an ambiguous "previous year" for the next one
    live = await repo.latest_published(session, row.framework_id, row.year)
    if live is not None and live.id != row.supersedes_id:
        raise Problem(409, "year-published", f"Evaluation {live.id} of {row.framework_id} {row.year} is published: "
                      f"a new result for the year is a correction, an evaluation that supersedes {live.id}.",
                      published=live.id)
    _, doc = await frameworks.current(session, row.framework_id, row.framework_version)
    manages = doc.points_total is not None  # art. 15 speaks of the 002 evaluation; frameworks without points: none
    statuses: dict[str, str | None] = {}
    if manages and doc.scope.units is None:  # contracts: status transitions, from the status now
        zones = await registry.zones([z["code"] for z in row.result["zones"] if z.get("total") is not None],
                                     fresh=True)
        statuses = {code: zone.get("status") if zone else None for code, zone in zones.items()}
    publication = EvaluationPublication(evaluation_id=row.id, published_by=principal.sub, note=note)
    session.add(publication)
    try:
        await session.flush()
    except IntegrityError:
        raise Problem(409, "evaluation-published", f"Evaluation {row.id} was published meanwhile.") from None
    previous = await repo.latest_published(session, row.framework_id, row.year - 1)
    if manages:
        groups = {n.code: n.points for n in doc.children.get(doc.root.code, []) if n.points is not None}
        drafts = rules.propose(ranked_lines(row, statuses), ranked_lines(previous) if previous else None,
                               management_settings(settings), groups, evaluation_id=row.id,
                               previous_evaluation_id=previous.id if previous else None)
        drafts = rules.carry_over(drafts, await proposals.earlier(session, row.supersedes_id))
        proposals.store(session, row.id, drafts)
        await session.flush()
    return publication


async def summary(session: AsyncSession, row: Evaluation) -> dict[str, Any]:
    publication = await repo.publication(session, row.id)
    return {
        "id": row.id, "year": row.year, "framework": {"id": row.framework_id, "version": row.framework_version},
        "method": {"id": row.method_id, "version": row.method_version},
        "state": "published" if publication else "draft",
        "published_at": publication.published_at.isoformat() if publication else None,
        "published_by": publication.published_by if publication else None,
        "supersedes": row.supersedes_id, "superseded_by": list(await repo.superseded_by(session, row.id)),
        "known_at": row.known_at.isoformat(), "cohort_size": len(row.cohort["zones"]),
        "ranked": sum(1 for z in row.result["zones"] if z.get("total") is not None),
        "round_id": row.round_id, "inputs_hash": row.inputs_hash, "result_hash": row.result_hash,
        "created_by": row.created_by, "created_at": row.created_at.isoformat(), "note": row.note,
        "href": f"/evaluations/{row.id}",
    }
