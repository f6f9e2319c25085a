"""Every query of applications, their panel, opinions and materials."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence

from sqlalchemy import Select, and_, exists, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from services.workflow.guards import MaterialFact
from services.workflow.models import Application, ExpertAssignment, Material, Opinion


async def get(session: AsyncSession, application_id: int, *, for_update: bool = False) -> Application | None:
    """One application; `for_update` locks its row (PostgreSQL; SQLite writers are serialised anyway):
    every command takes this lock, so the audit chain and the outbox order of one application are
    written one command at a time."""
    query = select(Application).where(Application.id == application_id)
    if for_update:
        query = query.with_for_update()
    return (await session.execute(query)).scalar_one_or_none()


async def get_with_panel(session: AsyncSession, application_id: int, *, for_update: bool = False
                         ) -> tuple[Application, list[str]] | None:
    """One application and its panel (experts not removed, in order of assignment) in one round trip;
    `for_update` locks the application's row only (as `get`)."""
    query = (select(Application, ExpertAssignment.expert_sub)
             .outerjoin(ExpertAssignment, and_(ExpertAssignment.application_id == Application.id,
                                               ExpertAssignment.removed_at.is_(None)))
             .where(Application.id == application_id)
             .order_by(ExpertAssignment.assigned_at, ExpertAssignment.id))
    if for_update:
        query = query.with_for_update(of=Application)
    rows = (await session.execute(query)).tuples().all()
    if not rows:
        return None
    return rows[0][0], [sub for _, sub in rows if sub is not None]


async def open_for_zone(session: AsyncSession, zone_code: str) -> Application | None:
    return (await session.execute(select(Application).where(
        Application.zone_code == zone_code, Application.closed_at.is_(None)))).scalar_one_or_none()


async def experts_of(session: AsyncSession, ids: Iterable[int]) -> dict[int, list[str]]:
    """Each application's panel: the assigned experts not removed, in order of assignment."""
    wanted = list(ids)
    out: dict[int, list[str]] = {i: [] for i in wanted}
    if not wanted:
        return out
    rows = await session.execute(select(ExpertAssignment.application_id, ExpertAssignment.expert_sub)
                                 .where(ExpertAssignment.application_id.in_(wanted),
                                        ExpertAssignment.removed_at.is_(None))
                                 .order_by(ExpertAssignment.assigned_at, ExpertAssignment.id))
    for application_id, sub in rows.tuples():
        out[application_id].append(sub)
    return out


async def assignment(session: AsyncSession, application_id: int, expert_sub: str) -> ExpertAssignment | None:
    return (await session.execute(select(ExpertAssignment).where(
        ExpertAssignment.application_id == application_id, ExpertAssignment.expert_sub == expert_sub))
    ).scalar_one_or_none()


async def opinions(session: AsyncSession, application_id: int, round_: int | None = None) -> Sequence[Opinion]:
    query = select(Opinion).where(Opinion.application_id == application_id)
    if round_ is not None:
        query = query.where(Opinion.round == round_)
    return (await session.execute(query.order_by(Opinion.round, Opinion.created_at, Opinion.id))).scalars().all()


async def materials(session: AsyncSession, application_id: int) -> Sequence[Material]:
    return (await session.execute(select(Material).where(Material.application_id == application_id)
                                  .order_by(Material.item, Material.version))).scalars().all()


def facts(rows: Iterable[Material]) -> tuple[MaterialFact, ...]:
    return tuple(MaterialFact(m.item, m.version, m.round) for m in rows)


def latest(rows: Iterable[Material]) -> list[Material]:
    """The latest version of each item."""
    by_item: dict[str, Material] = {}
    for m in rows:
        if m.item not in by_item or m.version > by_item[m.item].version:
            by_item[m.item] = m
    return [by_item[k] for k in sorted(by_item)]


def listing(*, league: str | None, state: str | None, overdue: bool | None, expert: str | None,
            after_id: int | None, limit: int, now: dt.datetime) -> Select[tuple[Application]]:
    """Applications by league, state, overdue (due_at passed in an open state), expert; id order."""
    query = select(Application)
    if league is not None:
        query = query.where(Application.league_code == league)
    if state is not None:
        query = query.where(Application.state == state)
    if overdue is True:
        query = query.where(Application.closed_at.is_(None), Application.due_at < now)
    elif overdue is False:
        query = query.where(or_(Application.closed_at.is_not(None), Application.due_at.is_(None),
                                Application.due_at >= now))
    if expert is not None:
        query = query.where(exists().where(and_(ExpertAssignment.application_id == Application.id,
                                                ExpertAssignment.expert_sub == expert,
                                                ExpertAssignment.removed_at.is_(None))))
    if after_id is not None:
        query = query.where(Application.id > after_id)
    return query.order_by(Application.id).limit(limit)


async def run_listing(session: AsyncSession, query: Select[tuple[Application]]) -> Sequence[Application]:
    return (await session.execute(query)).scalars().all()


async def waiting(session: AsyncSession, states: Sequence[str], *, league: str | None = None,
                  expert: str | None = None, after: tuple[dt.datetime | None, int] | None = None,
                  limit: int = 1000) -> Sequence[Application]:
    """Open applications in `states` (of the league / with the expert on the panel), overdue first: at most
    `limit`, those after the application (due_at, id) `after` in that order (a keyset page)."""
    if not states:
        return []
    query = select(Application).where(Application.state.in_(states), Application.closed_at.is_(None))
    if after is not None:
        due, last_id = after
        query = query.where(
            or_(Application.due_at.is_(None), Application.due_at > due,
                and_(Application.due_at == due, Application.id > last_id)) if due is not None
            else and_(Application.due_at.is_(None), Application.id > last_id))
    if league is not None:
        query = query.where(Application.league_code == league)
    if expert is not None:
        query = query.where(exists().where(and_(ExpertAssignment.application_id == Application.id,
                                                ExpertAssignment.expert_sub == expert,
                                                ExpertAssignment.removed_at.is_(None))))
        # without an opinion of this expert in the current round
        query = query.where(~exists().where(and_(Opinion.application_id == Application.id,
                                                 Opinion.round == Application.round,
                                                 Opinion.expert_sub == expert)))
    # earliest deadline first (overdue ones are the earliest), no deadline last
    order = (Application.due_at.is_(None), Application.due_at, Application.id)
    return (await session.execute(query.order_by(*order).limit(limit))).scalars().all()


async def material_facts_of(session: AsyncSession, ids: Iterable[int]) -> dict[int, tuple[MaterialFact, ...]]:
    """Every material version of each application, as the guards read them (one query for a page)."""
    wanted = list(ids)
    out: dict[int, list[MaterialFact]] = {i: [] for i in wanted}
    if wanted:
        rows = await session.execute(select(Material.application_id, Material.item, Material.version, Material.round)
                                     .where(Material.application_id.in_(wanted))
                                     .order_by(Material.application_id, Material.item, Material.version))
        for application_id, item, version, round_ in rows.tuples():
            out[application_id].append(MaterialFact(item, version, round_))
    return {i: tuple(facts) for i, facts in out.items()}


async def opinion_subs_of(session: AsyncSession, ids: Iterable[int]) -> dict[int, frozenset[str]]:
    """The experts who gave an opinion in each application's current round (one query for a page)."""
    wanted = list(ids)
    out: dict[int, set[str]] = {i: set() for i in wanted}
    if wanted:
        rows = await session.execute(select(Opinion.application_id, Opinion.expert_sub)
                                     .join(Application, and_(Application.id == Opinion.application_id,
                                                             Application.round == Opinion.round))
                                     .where(Opinion.application_id.in_(wanted)))
        for application_id, sub in rows.tuples():
            out[application_id].add(sub)
    return {i: frozenset(subs) for i, subs in out.items()}


async def next_material_version(session: AsyncSession, application_id: int, item: str) -> int:
    current = (await session.execute(select(func.max(Material.version)).where(
        Material.application_id == application_id, Material.item == item))).scalar_one()
    return (current or 0) + 1
