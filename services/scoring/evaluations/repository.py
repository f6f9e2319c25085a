"""Every query of the evaluations."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from services.scoring.models import DataRevision, Evaluation, EvaluationPublication


async def revisions_by_id(session: AsyncSession, ids: Iterable[int]) -> Sequence[DataRevision]:
    wanted = list(ids)
    out: list[DataRevision] = []
    for start in range(0, len(wanted), 5000):
        stmt = select(DataRevision).where(DataRevision.id.in_(wanted[start:start + 5000]))
        out += (await session.execute(stmt)).scalars().all()
    return out


async def get(session: AsyncSession, evaluation_id: int) -> Evaluation | None:
    return await session.get(Evaluation, evaluation_id)


async def publication(session: AsyncSession, evaluation_id: int) -> EvaluationPublication | None:
    return await session.get(EvaluationPublication, evaluation_id)


async def listing(session: AsyncSession, *, year: int | None, framework_id: str | None,
                  published_only: bool) -> Sequence[tuple[Evaluation, EvaluationPublication | None]]:
    stmt = (select(Evaluation, EvaluationPublication)
            .outerjoin(EvaluationPublication, EvaluationPublication.evaluation_id == Evaluation.id)
            .order_by(Evaluation.year.desc(), Evaluation.id.desc()))
    if year is not None:
        stmt = stmt.where(Evaluation.year == year)
    if framework_id is not None:
        stmt = stmt.where(Evaluation.framework_id == framework_id)
    if published_only:
        stmt = stmt.where(EvaluationPublication.evaluation_id.is_not(None))
    return [(e, p) for e, p in (await session.execute(stmt)).all()]


async def latest_published(session: AsyncSession, framework_id: str, year: int) -> Evaluation | None:
    """The newest published evaluation of (framework, year): corrections supersede earlier ones."""
    stmt = (select(Evaluation).join(EvaluationPublication, EvaluationPublication.evaluation_id == Evaluation.id)
            .where(Evaluation.framework_id == framework_id, Evaluation.year == year)
            .order_by(EvaluationPublication.published_at.desc(), Evaluation.id.desc()).limit(1))
    return (await session.execute(stmt)).scalar_one_or_none()


async def superseded_by(session: AsyncSession, evaluation_id: int) -> Sequence[int]:
    stmt = select(Evaluation.id).where(Evaluation.supersedes_id == evaluation_id).order_by(Evaluation.id)
    return (await session.execute(stmt)).scalars().all()


async def published_superseders(session: AsyncSession, evaluation_ids: Iterable[int]) -> dict[int, int]:
    """Each of the evaluations that a published correction supersedes → that correction (the first)."""
    wanted = list(set(evaluation_ids))
    out: dict[int, int] = {}
    for start in range(0, len(wanted), 5000):
        stmt = (select(Evaluation.supersedes_id, Evaluation.id)
                .join(EvaluationPublication, EvaluationPublication.evaluation_id == Evaluation.id)
                .where(Evaluation.supersedes_id.in_(wanted[start:start + 5000])).order_by(Evaluation.id))
        for old, new in (await session.execute(stmt)).all():
            out.setdefault(old, new)
    return out


async def published_superseder(session: AsyncSession, evaluation_id: int) -> int | None:
    """The published correction that supersedes the evaluation, if any."""
    return (await published_superseders(session, [evaluation_id])).get(evaluation_id)
