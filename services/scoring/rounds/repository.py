"""Every query of the expert-score rounds."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from services.scoring.models import Evaluation, EvaluationPublication, EvaluationRound, ExpertScore, RoundExpert


async def get(session: AsyncSession, round_id: int) -> EvaluationRound | None:
    return await session.get(EvaluationRound, round_id)


async def find(session: AsyncSession, framework_id: str, year: int) -> EvaluationRound | None:
    stmt = select(EvaluationRound).where(EvaluationRound.framework_id == framework_id, EvaluationRound.year == year)
    return (await session.execute(stmt)).scalar_one_or_none()


async def listing(session: AsyncSession, framework_id: str | None, year: int | None) -> Sequence[EvaluationRound]:
    stmt = select(EvaluationRound).order_by(EvaluationRound.year.desc(), EvaluationRound.id)
    if framework_id:
        stmt = stmt.where(EvaluationRound.framework_id == framework_id)
    if year:
        stmt = stmt.where(EvaluationRound.year == year)
    return (await session.execute(stmt)).scalars().all()


async def frozen_by(session: AsyncSession, round_id: int) -> int | None:
    """The published evaluation that froze the round, if any."""
    stmt = (select(Evaluation.id).join(EvaluationPublication, EvaluationPublication.evaluation_id == Evaluation.id)
            .where(Evaluation.round_id == round_id).order_by(Evaluation.id).limit(1))
    return (await session.execute(stmt)).scalar_one_or_none()


async def assignments(session: AsyncSession, round_id: int, expert: str | None = None) -> Sequence[RoundExpert]:
    stmt = select(RoundExpert).where(RoundExpert.round_id == round_id).order_by(RoundExpert.id)
    if expert is not None:
        stmt = stmt.where(RoundExpert.expert_sub == expert)
    return (await session.execute(stmt)).scalars().all()


async def latest_scores(session: AsyncSession, round_id: int, expert: str | None = None) -> list[ExpertScore]:
    """The latest revision of every (expert, zone, indicator) score of the round (withdrawn ones included)."""
    latest = (select(ExpertScore.expert_sub, ExpertScore.zone_code, ExpertScore.indicator,
                     func.max(ExpertScore.revision).label("revision"))
              .where(ExpertScore.round_id == round_id)
              .group_by(ExpertScore.expert_sub, ExpertScore.zone_code, ExpertScore.indicator))
    if expert is not None:
        latest = latest.where(ExpertScore.expert_sub == expert)
    sub = latest.subquery()
    stmt = (select(ExpertScore).join(sub, (ExpertScore.expert_sub == sub.c.expert_sub)
                                     & (ExpertScore.zone_code == sub.c.zone_code)
                                     & (ExpertScore.indicator == sub.c.indicator)
                                     & (ExpertScore.revision == sub.c.revision))
            .where(ExpertScore.round_id == round_id)
            .order_by(ExpertScore.zone_code, ExpertScore.indicator, ExpertScore.expert_sub))
    return list((await session.execute(stmt)).scalars().all())


async def latest_score(session: AsyncSession, round_id: int, expert: str, zone: str,
                       indicator: str) -> ExpertScore | None:
    stmt = (select(ExpertScore).where(ExpertScore.round_id == round_id, ExpertScore.expert_sub == expert,
                                      ExpertScore.zone_code == zone, ExpertScore.indicator == indicator)
            .order_by(ExpertScore.revision.desc()).limit(1))
    return (await session.execute(stmt)).scalar_one_or_none()


async def score_history(session: AsyncSession, round_id: int, expert: str, zone: str,
                        indicator: str) -> Sequence[ExpertScore]:
    stmt = (select(ExpertScore).where(ExpertScore.round_id == round_id, ExpertScore.expert_sub == expert,
                                      ExpertScore.zone_code == zone, ExpertScore.indicator == indicator)
            .order_by(ExpertScore.revision))
    return (await session.execute(stmt)).scalars().all()
