"""shared.db: the driver connection of hot reads and the connection reset, on SQLite and PostgreSQL."""

from __future__ import annotations

from sqlalchemy import text

from shared.db import Database
from shared.testing import DatabaseFactory


async def _fetch_one(db: Database, driver: object, sql: str) -> object:
    if db.dialect == "sqlite":
        return (await driver.execute_fetchall(sql))[0][0]  # type: ignore[attr-defined]
    return await driver.fetchval(sql)  # type: ignore[attr-defined]


async def test_driver_connection_runs_outside_transactions(database_factory: DatabaseFactory, dialect: str) -> None:
    db = Database(await database_factory.fresh("registry", dialect), pool_size=1)
    try:
        async with db.driver_connection() as driver:
            assert await _fetch_one(db, driver, "SELECT 41 + 1") == 42
            if db.dialect == "sqlite":
                assert not driver.in_transaction  # type: ignore[attr-defined]
            else:
                assert not driver.is_in_transaction()  # type: ignore[attr-defined]
        # a write, then a read on the same pooled connection: the write was committed and the
        # connection came back clean
        async with db.transaction(write=True) as session:
            await session.execute(text("INSERT INTO leagues (code, name_zh, name_en, kind, loaded_at) "
                                       "VALUES ('159999', '测试盟', 'Test', 'league', '2024-01-01 00:00:00')"))
        async with db.driver_connection() as driver:
            assert await _fetch_one(db, driver, "SELECT count(*) FROM leagues WHERE code = '159999'") == 1
    finally:
        await db.dispose()


async def test_an_open_transaction_is_rolled_back_on_check_in(database_factory: DatabaseFactory,
                                                               dialect: str) -> None:
    db = Database(await database_factory.fresh("registry", dialect), pool_size=1)
    try:
        async with db.engine.connect() as conn:
            await conn.execute(text("INSERT INTO leagues (code, name_zh, name_en, kind, loaded_at) "
                                    "VALUES ('159998', '回滚盟', 'Rollback', 'league', '2024-01-01 00:00:00')"))
            # closed without commit
        async with db.driver_connection() as driver:
            assert await _fetch_one(db, driver, "SELECT count(*) FROM leagues WHERE code = '159998'") == 0
            if db.dialect == "sqlite":
                assert not driver.in_transaction  # type: ignore[attr-defined]
    finally:
        await db.dispose()


def test_pool_size_is_honoured_on_both_databases(tmp_path: object) -> None:
    from shared.db import create_engine

    for url in (f"sqlite+aiosqlite:///{tmp_path}/pool.db", "postgresql+asyncpg://u@127.0.0.1/db"):
        pool = create_engine(url, pool_size=7).sync_engine.pool
        assert (pool.size(), pool._max_overflow) == (7, 7), url  # type: ignore[attr-defined]
    assert type(create_engine("sqlite+aiosqlite://").sync_engine.pool).__name__ == "StaticPool"
