"""Database plumbing: one async engine factory for asyncpg and aiosqlite, portable column types,
the request-scoped session, and the append-only triggers (listed in one place per service)."""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Mapping, Sequence
from contextlib import asynccontextmanager
from decimal import Decimal
from typing import Annotated, Any

from fastapi import Depends, Request
from sqlalchemy import JSON, DateTime, MetaData, Numeric, String, event, make_url
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.engine import Dialect
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine
from sqlalchemy.pool import PoolResetState
from sqlalchemy.types import TypeDecorator
from sqlalchemy.util import greenlet_spawn

from shared.coalesce import Coalescer, K, V
from shared.decimals import canonical_decimal, check_decimal_digits
from shared.problems import Problem

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def make_metadata() -> MetaData:
    """A MetaData with the project's constraint naming convention (stable names for Alembic)."""
    return MetaData(naming_convention=NAMING_CONVENTION)


def is_sqlite(url: str) -> bool:
    return url.startswith("sqlite")


def create_engine(url: str, *, pool_size: int = 10, busy_timeout_ms: int = 10_000) -> AsyncEngine:
    """Engine for asyncpg or aiosqlite. SQLite gets WAL, foreign keys, a busy timeout, and explicit
    BEGIN / BEGIN IMMEDIATE (execution option `sqlite_immediate`) instead of pysqlite's implicit one."""
    if is_sqlite(url):
        # A file database gets a pool of `pool_size` connections (+ as many overflow) like PostgreSQL, each
        # with its aiosqlite thread; an in-memory one keeps SQLAlchemy's single static connection.
        database = make_url(url).database
        in_memory = database in (None, "", ":memory:") or "mode=memory" in url
        sizes = {} if in_memory else {"pool_size": pool_size, "max_overflow": pool_size}
        # reset_on_return=None with the `reset` listener below: rollback only when a transaction is open
        engine = create_async_engine(url, connect_args={"timeout": busy_timeout_ms / 1000}, pool_reset_on_return=None,
                                     **sizes)

        @event.listens_for(engine.sync_engine, "connect")
        def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
            dbapi_connection.isolation_level = None  # we emit BEGIN ourselves
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute(f"PRAGMA busy_timeout={int(busy_timeout_ms)}")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.close()

        @event.listens_for(engine.sync_engine, "begin")
        def _sqlite_begin(conn: Any) -> None:
            immediate = conn.get_execution_options().get("sqlite_immediate", False)
            conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")

        @event.listens_for(engine.sync_engine, "reset")
        def _sqlite_reset(dbapi_connection: Any, _record: Any, state: PoolResetState) -> None:
            # The default reset is an unconditional rollback: a round trip to aiosqlite's thread on every
            # check-in, even after a driver-level read that opened no transaction. Roll back only what is open.
            if state.asyncio_safe and not state.terminate_only and dbapi_connection.driver_connection.in_transaction:
                dbapi_connection.rollback()

        return engine
    # no pre-ping (a round trip per checkout); stale connections are recycled instead
    return create_async_engine(url, pool_size=pool_size, max_overflow=pool_size, pool_recycle=1800)


class Database:
    """Engine plus two session factories: plain reads, and writes (BEGIN IMMEDIATE on SQLite so a
    writer waits for the lock up front instead of failing when it upgrades)."""

    def __init__(self, url: str, *, pool_size: int = 10, busy_timeout_ms: int = 10_000) -> None:
        self.url = url
        self.engine = create_engine(url, pool_size=pool_size, busy_timeout_ms=busy_timeout_ms)
        self.dialect = "sqlite" if is_sqlite(url) else "postgresql"
        self._read = async_sessionmaker(self.engine, expire_on_commit=False, autoflush=False)
        self._write = async_sessionmaker(
            self.engine.execution_options(sqlite_immediate=True), expire_on_commit=False, autoflush=False
        )
        self._coalescers: dict[Any, Coalescer[Any, Any]] = {}

    def coalescer(self, fetch_many: Callable[[Database, Sequence[K]], Awaitable[Mapping[K, V]]]) -> Coalescer[K, V]:
        """The coalesced reads of `fetch_many` on this database (shared.coalesce), made on first use."""
        found = self._coalescers.get(fetch_many)
        if found is None:
            found = self._coalescers[fetch_many] = Coalescer(functools.partial(fetch_many, self))
        return found

    @asynccontextmanager
    async def transaction(self, *, write: bool = False) -> AsyncIterator[AsyncSession]:
        """One transaction: committed when the block ends normally, rolled back on any exception."""
        maker = self._write if write else self._read
        async with maker() as session, session.begin():
            yield session

    @asynccontextmanager
    async def driver_connection(self) -> AsyncIterator[Any]:
        """A pooled connection's own driver object (asyncpg.Connection or aiosqlite.Connection), outside any
        transaction: each statement runs and commits by itself and sees one snapshot. For hot reads of one
        statement: they skip the ORM, BEGIN/COMMIT and SQLAlchemy's per-statement work. The block must not
        leave a transaction open; a connection whose block failed is closed, never reused."""
        raw = await self.engine.raw_connection()
        driver: Any = raw.driver_connection
        try:
            yield driver
        except BaseException:
            await greenlet_spawn(raw.invalidate)  # broken, or interrupted mid-statement: its state is unknown
            raise
        if driver.is_in_transaction() if self.dialect == "postgresql" else driver.in_transaction:
            await greenlet_spawn(raw.invalidate)
            raise RuntimeError("a driver_connection block left a transaction open")
        # back to the pool (with no transaction open its reset needs no I/O: asyncpg's adapter skips the
        # rollback, and so does SQLite's reset listener above); in a greenlet, as closing an overflow
        # connection is I/O
        await greenlet_spawn(raw.close)

    @asynccontextmanager
    async def driver_transaction(self) -> AsyncIterator[Any]:
        """A write transaction on a pooled connection's own driver object (BEGIN; BEGIN IMMEDIATE on SQLite,
        as a write session begins): committed when the block ends normally, rolled back on an exception,
        which is raised again. For the hottest writes, which skip the ORM session (as `driver_connection`
        reads do). A connection whose rollback failed, or whose block was cancelled, is closed."""
        raw = await self.engine.raw_connection()
        driver: Any = raw.driver_connection
        postgres = self.dialect == "postgresql"
        try:
            await driver.execute("BEGIN" if postgres else "BEGIN IMMEDIATE")
        except BaseException:
            await greenlet_spawn(raw.invalidate)
            raise
        try:
            yield driver
        except Exception:
            try:
                await (driver.execute("ROLLBACK") if postgres else driver.rollback())
            except BaseException:
                await greenlet_spawn(raw.invalidate)
                raise
            await greenlet_spawn(raw.close)
            raise
        except BaseException:  # cancelled mid-statement: the connection's state is unknown
            await greenlet_spawn(raw.invalidate)
            raise
        try:
            await (driver.execute("COMMIT") if postgres else driver.commit())
        except BaseException:
            await greenlet_spawn(raw.invalidate)  # the transaction is gone either way; so is the connection
            raise
        await greenlet_spawn(raw.close)

    async def dispose(self) -> None:
        await self.engine.dispose()


SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


async def _request_session(request: Request) -> AsyncIterator[AsyncSession]:
    db: Database = request.app.state.db
    try:
        async with db.transaction(write=request.method not in SAFE_METHODS) as session:
            yield session
    except IntegrityError:
        # a uniqueness race lost to a concurrent request: the checks passed, the database refused
        raise Problem(409, "conflict", "A concurrent request changed the same data first; read again and retry.",
                      headers={"Retry-After": "1"}) from None


# scope="function": the transaction commits before the response is sent, so a failed commit is
# answered as an error and never as a success.
SessionDep = Annotated[AsyncSession, Depends(_request_session, scope="function")]


# ----------------------------------------------------------------------------------------- types


class ExactDecimal(TypeDecorator[Decimal]):
    """Exact decimals: canonical TEXT on SQLite, NUMERIC(30,10) on PostgreSQL (contracts: decimals)."""

    impl = String
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> Any:
        if dialect.name == "postgresql":
            return dialect.type_descriptor(Numeric(30, 10, asdecimal=True))
        return dialect.type_descriptor(String(48))

    def process_bind_param(self, value: Any, dialect: Dialect) -> Any:
        if value is None:
            return None
        d = check_decimal_digits(Decimal(value) if not isinstance(value, Decimal) else value)
        return d if dialect.name == "postgresql" else canonical_decimal(d)

    def process_result_value(self, value: Any, dialect: Dialect) -> Decimal | None:
        if value is None:
            return None
        return Decimal(canonical_decimal(Decimal(value)))


class UTCDateTime(TypeDecorator[dt.datetime]):
    """Timezone-aware UTC timestamps on both databases (SQLite keeps naive UTC text, sortable)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: Any, dialect: Dialect) -> Any:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        value = value.astimezone(dt.UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: Any, dialect: Dialect) -> dt.datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value.astimezone(dt.UTC)


# JSON that is JSONB on PostgreSQL.
PortableJSON = JSON().with_variant(JSONB(), "postgresql")


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


# ---------------------------------------------------------------------------- append-only tables

_PG_FUNCTION = """
CREATE OR REPLACE FUNCTION refuse_append_only_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION '% is append-only: % refused', TG_TABLE_NAME, TG_OP USING ERRCODE = 'restrict_violation';
END $$
"""


def append_only_ddl(dialect: str, tables: Iterable[str]) -> list[str]:
    """DDL that makes each table refuse UPDATE and DELETE (and TRUNCATE on PostgreSQL)."""
    statements: list[str] = []
    if dialect == "postgresql":
        statements.append(_PG_FUNCTION)
        for t in tables:
            statements += [
                f"DROP TRIGGER IF EXISTS {t}_append_only ON {t}",
                f"CREATE TRIGGER {t}_append_only BEFORE UPDATE OR DELETE ON {t} "
                "FOR EACH ROW EXECUTE FUNCTION refuse_append_only_change()",
                f"DROP TRIGGER IF EXISTS {t}_no_truncate ON {t}",
                f"CREATE TRIGGER {t}_no_truncate BEFORE TRUNCATE ON {t} "
                "FOR EACH STATEMENT EXECUTE FUNCTION refuse_append_only_change()",
            ]
    else:
        for t in tables:
            for op_name in ("UPDATE", "DELETE"):
                name = f"{t}_no_{op_name.lower()}"
                statements += [
                    f"DROP TRIGGER IF EXISTS {name}",
                    f"CREATE TRIGGER {name} BEFORE {op_name} ON {t} "
                    f"BEGIN SELECT RAISE(ABORT, '{t} is append-only: {op_name} refused'); END",
                ]
    return statements


def drop_append_only_ddl(dialect: str, tables: Iterable[str]) -> list[str]:
    if dialect == "postgresql":
        out = []
        for t in tables:
            out += [f"DROP TRIGGER IF EXISTS {t}_append_only ON {t}", f"DROP TRIGGER IF EXISTS {t}_no_truncate ON {t}"]
        return out
    return [f"DROP TRIGGER IF EXISTS {t}_no_{op}" for t in tables for op in ("update", "delete")]
