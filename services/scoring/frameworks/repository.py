"""Every query of the frameworks domain."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from services.scoring.models import DataRevision, FrameworkVersion


async def get(session: AsyncSession, framework_id: str, version: int | None = None) -> FrameworkVersion | None:
    stmt = select(FrameworkVersion).where(FrameworkVersion.framework_id == framework_id)
    if version is not None:
        stmt = stmt.where(FrameworkVersion.version == version)
    stmt = stmt.order_by(FrameworkVersion.version.desc()).limit(1)
    return (await session.execute(stmt)).scalar_one_or_none()


async def latest_versions(session: AsyncSession) -> list[FrameworkVersion]:
    newest = (select(FrameworkVersion.framework_id, func.max(FrameworkVersion.version).label("version"))
              .group_by(FrameworkVersion.framework_id).subquery())
    stmt = (select(FrameworkVersion)
            .join(newest, (FrameworkVersion.framework_id == newest.c.framework_id)
                  & (FrameworkVersion.version == newest.c.version))
            .order_by(FrameworkVersion.framework_id))
    return list((await session.execute(stmt)).scalars())


async def versions(session: AsyncSession, framework_id: str) -> list[FrameworkVersion]:
    stmt = (select(FrameworkVersion).where(FrameworkVersion.framework_id == framework_id)
            .order_by(FrameworkVersion.version))
    return list((await session.execute(stmt)).scalars())


async def in_use(session: AsyncSession, framework_id: str, version: int) -> bool:
    stmt = select(DataRevision.id).where(DataRevision.framework_id == framework_id,
                                         DataRevision.framework_version == version).limit(1)
    return (await session.execute(stmt)).first() is not None
