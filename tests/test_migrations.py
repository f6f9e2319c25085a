"""Every service's Alembic chain on both databases: head → base → head, no drift between models and
migrations, and append-only tables refusing UPDATE and DELETE after head and after a down/up cycle."""

from __future__ import annotations

import asyncio
import importlib

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
    return {"zone_events": "note", "zone_revisions": "changed_by"}[table]


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
