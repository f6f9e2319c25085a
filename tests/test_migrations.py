"""Every service's Alembic chain on both databases: head → base → head, no drift between models and
migrations, and append-only tables refusing UPDATE and DELETE after head and after a down/up cycle."""

from __future__ import annotations

import asyncio
import importlib
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import create_async_engine

from shared.migrate import downgrade, upgrade, version_table
from shared.testing import DatabaseFactory
from tests.conftest import load_registry_reference

SERVICES = ("registry", "workflow", "scoring")


async def _drift(url: str, service: str) -> list[object]:
    metadata = importlib.import_module(f"services.{service}.models").Base.metadata
    engine = create_async_engine(url)
    try:
        async with engine.connect() as conn:
            def compare(sync_conn):  # type: ignore[no-untyped-def]
                ctx = MigrationContext.configure(sync_conn, opts={"version_table": version_table(service),
                                                                  "compare_type": True})
                return compare_metadata(ctx, metadata)
            return list(await conn.run_sync(compare))
    finally:
        await engine.dispose()


@pytest.mark.parametrize("service", SERVICES)
async def test_up_down_up_and_no_drift(database_factory: DatabaseFactory, dialect: str, service: str) -> None:
    url = await database_factory.fresh(service, dialect)  # already at head
    assert await _drift(url, service) == []
    await asyncio.to_thread(downgrade, service, url, "base")
    engine = create_async_engine(url)
    async with engine.connect() as conn:
        tables = await conn.run_sync(lambda c: __import__("sqlalchemy").inspect(c).get_table_names())
    await engine.dispose()
    assert set(tables) <= {version_table(service)}, tables
    await asyncio.to_thread(upgrade, service, url, "head")
    assert await _drift(url, service) == []
    await database_factory.drop(url)


async def _assert_refused(url: str, table: str) -> None:
    engine = create_async_engine(url)
    try:
        for statement in (f"UPDATE {table} SET {_column(table)} = {_column(table)}", f"DELETE FROM {table}"):
            with pytest.raises(DBAPIError, match="append-only"):
                async with engine.begin() as conn:
                    await conn.execute(text(statement))
        async with engine.connect() as conn:
            assert (await conn.execute(text(f"SELECT count(*) FROM {table}"))).scalar_one() > 0
    finally:
        await engine.dispose()


def _column(table: str) -> str:
    """A column to rewrite to itself: a named one for the registry's tables, else the primary key's first."""
    named = {"zone_events": "note", "zone_revisions": "changed_by"}
    if table in named:
        return named[table]
    for service in SERVICES:
        metadata = importlib.import_module(f"services.{service}.models").Base.metadata
        if table in metadata.tables:
            return next(iter(metadata.tables[table].primary_key.columns)).name
    raise KeyError(table)


async def _seed_revision(url: str) -> None:
    engine = create_async_engine(url)
    async with engine.begin() as conn:
        await conn.execute(text(
            "INSERT INTO zone_revisions (zone_id, park_id, changes, changed_at, changed_by, changed_role) "
            "SELECT id, NULL, '{}', created_at, 'test', 'st_department' FROM zones ORDER BY id LIMIT 1"))
    await engine.dispose()


async def test_registry_append_only_tables_refuse_update_and_delete(database_factory: DatabaseFactory,
                                                                   dialect: str) -> None:
    from services.registry.models import APPEND_ONLY_TABLES

    url = await database_factory.fresh("registry", dialect, "reference", load_registry_reference)
    await _seed_revision(url)
    for table in APPEND_ONLY_TABLES:
        await _assert_refused(url, table)
    # SQLite batch migrations drop triggers: a down/up cycle must bring them back
    await asyncio.to_thread(downgrade, "registry", url, "base")
    await asyncio.to_thread(upgrade, "registry", url, "head")
    await load_registry_reference(url)
    await _seed_revision(url)
    for table in APPEND_ONLY_TABLES:
        await _assert_refused(url, table)
    if dialect == "postgresql":
        with pytest.raises(DBAPIError, match="append-only"):
            engine = create_async_engine(url)
            try:
                async with engine.begin() as conn:
                    await conn.execute(text("TRUNCATE zone_events CASCADE"))
            finally:
                await engine.dispose()
    await database_factory.drop(url)


def _dummy(column: Any) -> Any:
    """A value any column of ours accepts (foreign keys match: every parent row gets the same values)."""
    import datetime as dt
    from decimal import Decimal

    from sqlalchemy import JSON, Boolean, Date, Integer, LargeBinary, Numeric

    from shared.db import ExactDecimal, UTCDateTime

    kind = column.type
    if isinstance(kind, UTCDateTime):
        return dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    if isinstance(kind, ExactDecimal | Numeric):
        return Decimal(1)
    if isinstance(kind, Boolean):
        return False
    if isinstance(kind, Integer):
        return 1
    if isinstance(kind, Date):
        return dt.date(2026, 1, 1)
    if isinstance(kind, LargeBinary):
        return b"x"
    if isinstance(kind, JSON) or getattr(kind, "impl", None).__class__.__name__ == "JSON" \
            or kind.__class__.__name__ == "PortableJSON":
        return {}
    return "x"


async def _seed_every_table(url: str, service: str) -> None:
    metadata = importlib.import_module(f"services.{service}.models").Base.metadata
    engine = create_async_engine(url)
    try:
        async with engine.begin() as conn:
            for table in metadata.sorted_tables:
                row = {c.name: _dummy(c) for c in table.columns if not c.nullable or c.foreign_keys}
                await conn.execute(table.insert().values(**row))
    finally:
        await engine.dispose()


@pytest.mark.parametrize("service", ["workflow", "scoring"])
async def test_append_only_tables_refuse_update_and_delete(database_factory: DatabaseFactory, dialect: str,
                                                           service: str) -> None:
    """Every table a service lists as append-only, after head and after a down/up cycle."""
    tables = importlib.import_module(f"services.{service}.models").APPEND_ONLY_TABLES
    url = await database_factory.fresh(service, dialect)
    for cycle in range(2):
        if cycle:
            await asyncio.to_thread(downgrade, service, url, "base")
            await asyncio.to_thread(upgrade, service, url, "head")
        await _seed_every_table(url, service)
        for table in tables:
            await _assert_refused(url, table)
    await database_factory.drop(url)
