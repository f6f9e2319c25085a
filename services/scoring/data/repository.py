"""Every query of the annual data: revisions (append-only) and their values."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import orjson
from sqlalchemy import String, and_, func, insert, or_, select, type_coerce
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from services.scoring.models import DataRevision, DataValue
from shared.db import utcnow


@dataclass(slots=True)
class Snapshot:
    """A unit-year's data as one revision holds it."""

    revision: DataRevision
    values: dict[str, Decimal | str]


async def latest_revisions(session: AsyncSession, framework_id: str, year: int,
                           units: Sequence[str] | None = None) -> dict[str, DataRevision]:
    """unit → its latest revision for the year (all units of the year when `units` is None).

    Two plain statements whose plans cannot go wrong: the (id, unit, revision) of every revision of the
    year, the newest picked here, then those rows by id. (A join on a max() subquery ran as a nested loop
    over the whole year, 2,600² row pairs, right after a bulk load, before the table was analysed.)"""
    where = [DataRevision.framework_id == framework_id, DataRevision.year == year]
    if units is not None:
        where.append(DataRevision.unit_code.in_(list(units)))
    newest: dict[str, tuple[int, int]] = {}
    for rid, unit, revision in (await session.execute(
            select(DataRevision.id, DataRevision.unit_code, DataRevision.revision).where(*where))).all():
        if unit not in newest or revision > newest[unit][1]:
            newest[unit] = (rid, revision)
    ids = [rid for rid, _ in newest.values()]
    out: dict[str, DataRevision] = {}
    for start in range(0, len(ids), 5000):
        rows = await session.execute(select(DataRevision).where(DataRevision.id.in_(ids[start:start + 5000])))
        out.update((r.unit_code, r) for r in rows.scalars())
    return out


async def values_of(session: AsyncSession, revision_ids: Iterable[int]) -> dict[int, dict[str, Decimal | str]]:
    """revision id → its values (decimals in canonical form, as ExactDecimal reads them). A bulk post reads
    last year's ~150,000 values: on PostgreSQL one statement on the driver connection (inside the session's
    transaction), elsewhere the column's stored text; either way without the per-value type decorator."""
    ids = list(revision_ids)
    out: dict[int, dict[str, Decimal | str]] = {i: {} for i in ids}
    if not ids:
        return out
    conn = await session.connection()
    if conn.dialect.name == "postgresql":
        # trim_scale(NUMERIC(30,10))::text is the canonical text (no exponent, no trailing zeros; PG 13+)
        raw = await conn.get_raw_connection()
        rows = await raw.driver_connection.fetch(  # type: ignore[union-attr]
            "SELECT revision_id, variable, trim_scale(value)::text, text_value FROM data_values "
            "WHERE revision_id = ANY($1::int[])", ids)
    else:
        rows = []  # SQLite holds ExactDecimal's canonical text
        for start in range(0, len(ids), 5000):
            stmt = select(DataValue.revision_id, DataValue.variable, type_coerce(DataValue.value, String()),
                          DataValue.text_value).where(DataValue.revision_id.in_(ids[start:start + 5000]))
            rows += (await session.execute(stmt)).all()
    for revision_id, variable, value, text_value in rows:
        out[revision_id][variable] = text_value if value is None else Decimal(value)
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


async def snapshot_and_previous(session: AsyncSession, framework_id: str, unit: str, year: int,
                                revision: int | None = None) -> tuple[Snapshot | None, Snapshot | None]:
    """A unit-year's latest data (or a given revision) and the previous year's latest, in one statement:
    the two revisions picked by a correlated max(revision) on the unique (framework, unit, year, revision)
    index, each with its values (an outer join: a revision may hold none)."""
    newer = aliased(DataRevision)
    latest = (select(func.max(newer.revision))
              .where(newer.framework_id == DataRevision.framework_id, newer.unit_code == DataRevision.unit_code,
                     newer.year == DataRevision.year)
              .correlate(DataRevision).scalar_subquery())
    stmt = (select(DataRevision, DataValue.variable, DataValue.value, DataValue.text_value)
            .outerjoin(DataValue, DataValue.revision_id == DataRevision.id)
            .where(DataRevision.framework_id == framework_id, DataRevision.unit_code == unit,
                   or_(and_(DataRevision.year == year,
                            DataRevision.revision == (revision if revision is not None else latest)),
                       and_(DataRevision.year == year - 1, DataRevision.revision == latest))))
    found: dict[int, Snapshot] = {}
    for row, variable, value, text_value in (await session.execute(stmt)).all():
        snap = found.setdefault(row.year, Snapshot(row, {}))
        if variable is not None:
            snap.values[variable] = text_value if value is None else value
    return found.get(year), found.get(year - 1)


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


_REVISION_COLUMNS = ("framework_id", "framework_version", "unit_code", "unit_kind", "year", "revision", "synthetic",
                     "values_hash", "warnings", "reason", "channel", "batch_id", "recorded_by", "recorded_role",
                     "recorded_at")


async def insert_revisions(session: AsyncSession, rows: list[dict[str, Any]]) -> list[int]:
    """Insert revisions; their ids in the order given. PostgreSQL: ids drawn from the table's sequence and
    the rows COPied (a bulk year is ~2,600 rows), inside the request's transaction; a lost uniqueness race
    is an IntegrityError as with INSERT. Elsewhere one INSERT … RETURNING."""
    if not rows:
        return []
    conn = await session.connection()
    if conn.dialect.name == "postgresql":
        import asyncpg

        driver = (await conn.get_raw_connection()).driver_connection
        ids = [r[0] for r in await driver.fetch(  # type: ignore[union-attr]
            "SELECT nextval(pg_get_serial_sequence('data_revisions', 'id')) FROM generate_series(1, $1)", len(rows))]
        now = utcnow()
        defaults: dict[str, Any] = {"synthetic": False, "warnings": [], "reason": None, "batch_id": None,
                                    "recorded_at": now}
        records = []
        for rid, row in zip(ids, rows, strict=True):
            merged = {**defaults, **row}
            merged["warnings"] = orjson.dumps(merged["warnings"]).decode()  # jsonb: text, as SQLAlchemy sends it
            records.append((rid, *(merged[c] for c in _REVISION_COLUMNS)))
        try:
            await driver.copy_records_to_table(  # type: ignore[union-attr]
                "data_revisions", records=records, columns=["id", *_REVISION_COLUMNS])
        except asyncpg.UniqueViolationError as exc:
            raise IntegrityError("COPY data_revisions", None, exc) from None
        return ids
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
