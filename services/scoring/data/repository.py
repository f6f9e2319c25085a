"""Every query of the annual data: revisions (append-only) and their values."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from sqlalchemy import func, insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from services.scoring.models import DataRevision, DataValue


@dataclass(slots=True)
class Snapshot:
    """A unit-year's data as one revision holds it."""

    revision: DataRevision
    values: dict[str, Decimal | str]


async def latest_revisions(session: AsyncSession, framework_id: str, year: int,
                           units: Sequence[str] | None = None) -> dict[str, DataRevision]:
    """unit → its latest revision for the year (all units of the year when `units` is None)."""
    newest = (select(DataRevision.unit_code, func.max(DataRevision.revision).label("revision"))
              .where(DataRevision.framework_id == framework_id, DataRevision.year == year))
    if units is not None:
        newest = newest.where(DataRevision.unit_code.in_(list(units)))
    sub = newest.group_by(DataRevision.unit_code).subquery()
    stmt = (select(DataRevision).join(sub, (DataRevision.unit_code == sub.c.unit_code)
                                      & (DataRevision.revision == sub.c.revision))
            .where(DataRevision.framework_id == framework_id, DataRevision.year == year))
    return {r.unit_code: r for r in (await session.execute(stmt)).scalars()}


async def values_of(session: AsyncSession, revision_ids: Iterable[int]) -> dict[int, dict[str, Decimal | str]]:
    ids = list(revision_ids)
    out: dict[int, dict[str, Decimal | str]] = {i: {} for i in ids}
    for start in range(0, len(ids), 5000):
        stmt = select(DataValue.revision_id, DataValue.variable, DataValue.value, DataValue.text_value).where(
            DataValue.revision_id.in_(ids[start:start + 5000]))
        for revision_id, variable, value, text_value in (await session.execute(stmt)).all():
            out[revision_id][variable] = value if value is not None else text_value
    return out


async def snapshots(session: AsyncSession, framework_id: str, year: int,
                    units: Sequence[str] | None = None) -> dict[str, Snapshot]:
    """unit → the latest data of the year with its values."""
    revisions = await latest_revisions(session, framework_id, year, units)
    values = await values_of(session, [r.id for r in revisions.values()])
    return {unit: Snapshot(r, values[r.id]) for unit, r in revisions.items()}


async def snapshot(session: AsyncSession, framework_id: str, unit: str, year: int,
                   revision: int | None = None) -> Snapshot | None:
    """A unit-year's latest data (or a given revision)."""
    stmt = select(DataRevision).where(DataRevision.framework_id == framework_id, DataRevision.unit_code == unit,
                                      DataRevision.year == year)
    if revision is not None:
        stmt = stmt.where(DataRevision.revision == revision)
    row = (await session.execute(stmt.order_by(DataRevision.revision.desc()).limit(1))).scalar_one_or_none()
    if row is None:
        return None
    return Snapshot(row, (await values_of(session, [row.id]))[row.id])


async def unit_years(session: AsyncSession, framework_id: str, unit: str,
                     years: Iterable[int]) -> dict[int, Snapshot]:
    """year → the unit's latest data, for the years that have any."""
    out = {}
    for year in sorted(set(years)):
        snap = await snapshot(session, framework_id, unit, year)
        if snap is not None:
            out[year] = snap
    return out


async def history(session: AsyncSession, framework_id: str, unit: str, year: int) -> list[Snapshot]:
    stmt = (select(DataRevision).where(DataRevision.framework_id == framework_id, DataRevision.unit_code == unit,
                                       DataRevision.year == year).order_by(DataRevision.revision))
    rows = list((await session.execute(stmt)).scalars())
    values = await values_of(session, [r.id for r in rows])
    return [Snapshot(r, values[r.id]) for r in rows]


async def insert_revisions(session: AsyncSession, rows: list[dict[str, Any]]) -> list[int]:
    """Insert revisions in one statement; their ids in the order given."""
    if not rows:
        return []
    result = await session.execute(insert(DataRevision).returning(DataRevision.id, sort_by_parameter_order=True),
                                   rows)
    return [r[0] for r in result.all()]


async def insert_values(session: AsyncSession, rows: list[tuple[int, str, Decimal | None, str | None]]) -> None:
    """Insert values: asyncpg's COPY on PostgreSQL (inside the request's transaction), executemany on SQLite."""
    if not rows:
        return
    conn = await session.connection()
    if conn.dialect.name == "postgresql":
        raw = await conn.get_raw_connection()
        await raw.driver_connection.copy_records_to_table(  # type: ignore[union-attr]
            "data_values", records=rows, columns=["revision_id", "variable", "value", "text_value"])
        return
    await session.execute(insert(DataValue), [
        {"revision_id": r, "variable": v, "value": d, "text_value": t} for r, v, d, t in rows])
