"""Every query of the subscriptions and their delivery log beyond shared/webhooks' own."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Select, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from services.workflow.models import WebhookDelivery, WebhookSubscription

S, D = WebhookSubscription, WebhookDelivery


def _visible(query: Select[Any], league_code: str | None) -> Select[Any]:
    """Not deleted, and of the league when one is given (None: every subscription)."""
    query = query.where(S.deleted_at.is_(None))
    return query if league_code is None else query.where(S.league_code == league_code)


async def get(session: AsyncSession, subscription_id: str, *, for_update: bool = False) -> WebhookSubscription | None:
    query = select(S).where(S.id == subscription_id, S.deleted_at.is_(None))
    if for_update:
        query = query.with_for_update()
    return (await session.execute(query)).scalar_one_or_none()


async def listing(session: AsyncSession, league_code: str | None) -> Sequence[WebhookSubscription]:
    return (await session.execute(_visible(select(S), league_code).order_by(S.created_at, S.id))).scalars().all()


async def receivers(session: AsyncSession, league_code: str) -> Sequence[tuple[str, list[str]]]:
    """(id, event filters) of the active subscriptions told of an application of this league: the
    department's (no league) and that league's."""
    rows = await session.execute(
        select(S.id, S.events)
        .where(S.active.is_(True), S.deleted_at.is_(None), or_(S.league_code.is_(None), S.league_code == league_code))
        .order_by(S.created_at, S.id))
    return [(r[0], list(r[1] or [])) for r in rows]


async def dead(session: AsyncSession, league_code: str | None, *, after_seq: int | None, limit: int
               ) -> Sequence[WebhookDelivery]:
    """Dead deliveries of the visible subscriptions, oldest first."""
    query = select(D).join(S, S.id == D.subscription_id).where(D.state == "dead")
    query = _visible(query, league_code)
    if after_seq is not None:
        query = query.where(D.seq > after_seq)
    return (await session.execute(query.order_by(D.seq).limit(limit))).scalars().all()
