"""Rows of mapped tables on the driver connection (asyncpg or aiosqlite), in the stored forms of the
models' own column types, for the few hot paths where SQLAlchemy's per-statement work costs more than
the statement itself (an ORM read of one row: ~1 ms of CPU here, the same read on the driver: ~0.1 ms).

Everything is derived from the table's columns: the column list of a SELECT, the decoding of a row
(SQLite keeps UTCDateTime as naive UTC text in SQLAlchemy's format, JSON as text and booleans as 0/1;
asyncpg returns aware datetimes and decodes JSONB with the codec SQLAlchemy installs on its connections)
and the encoding of INSERT / UPDATE values (the inverse, with the columns' Python-side defaults). Rows
come back as transient instances of the model: the domain code reads them as it reads ORM rows. The
caller owns the transaction (`driver_of` gives the driver connection of an ORM session's transaction,
so driver statements and ORM statements commit or roll back together)."""

from __future__ import annotations

import datetime as dt
import functools
import json
from collections.abc import Callable, Iterable, Sequence
from typing import Any, Protocol, TypeVar

from sqlalchemy import JSON, Boolean, Column, Table
from sqlalchemy import inspect as sa_inspect
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import configure_mappers

from shared.db import UTCDateTime

M = TypeVar("M")
Decode = Callable[[Any], Any]
Encode = Callable[[Any], Any]

SQLITE_TIMESTAMP = "%Y-%m-%d %H:%M:%S.%f"  # SQLAlchemy's storage format for DateTime on SQLite


async def driver_of(session: AsyncSession) -> Any:
    """The driver connection of the session's transaction, which is begun on the database if it was not:
    SQLAlchemy's asyncpg adapter starts its transaction lazily, at the first statement run through it, so
    statements on the bare driver before that would each commit on their own (and a FOR UPDATE lock would
    end with its statement). SQLite's BEGIN (IMMEDIATE) is emitted when the session's connection begins
    (shared.db)."""
    connection = await session.connection()
    raw = await connection.get_raw_connection()
    adapted: Any = raw.dbapi_connection
    if getattr(adapted, "_started", None) is False:  # the asyncpg adapter, not yet begun
        await adapted._start_transaction()
    return raw.driver_connection


class Adds(Protocol):
    """What domain code that only adds new rows needs of a session: an AsyncSession, or a collector that
    writes them on the driver (services/workflow/applications/store.py)."""

    def add(self, instance: object) -> None: ...


def _identity(v: Any) -> Any:
    return v


class Dialect:
    """Statements and value forms of one dialect."""

    def __init__(self, name: str) -> None:
        self.sqlite = name == "sqlite"

    def param(self, n: int) -> str:
        return "?" if self.sqlite else f"${n}"

    def params(self, count: int, start: int = 1) -> str:
        return ", ".join(self.param(n) for n in range(start, start + count))

    # ---------------------------------------------------------------------------- column forms

    def decoder(self, column: Column[Any]) -> Decode:
        if isinstance(column.type, UTCDateTime):
            if self.sqlite:
                return lambda v: None if v is None else dt.datetime.fromisoformat(v).replace(tzinfo=dt.UTC)
            return lambda v: None if v is None else v.astimezone(dt.UTC)
        if isinstance(column.type, JSON) and self.sqlite:
            return lambda v: None if v is None else json.loads(v)
        if isinstance(column.type, Boolean) and self.sqlite:
            return lambda v: None if v is None else bool(v)
        return _identity

    def encoder(self, column: Column[Any]) -> Encode:
        if isinstance(column.type, UTCDateTime):
            if self.sqlite:
                return lambda v: None if v is None else v.astimezone(dt.UTC).replace(tzinfo=None).strftime(
                    SQLITE_TIMESTAMP)
            return lambda v: None if v is None else v.astimezone(dt.UTC)
        if isinstance(column.type, JSON):  # JSON null and SQL NULL: the ORM stores None as SQL NULL too
            return lambda v: None if v is None else json.dumps(v)
        return _identity

    # ------------------------------------------------------------------------------ statements

    async def fetch(self, driver: Any, sql: str, *args: Any) -> list[Sequence[Any]]:
        if self.sqlite:
            return list(await driver.execute_fetchall(sql, args))
        return list(await driver.fetch(sql, *args))

    async def execute(self, driver: Any, sql: str, *args: Any) -> None:
        if self.sqlite:
            await (await driver.execute(sql, args)).close()
        else:
            await driver.execute(sql, *args)

    async def execute_many(self, driver: Any, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        await driver.executemany(sql, rows)  # the same call on both drivers


class Mapper:
    """One mapped class's table on one dialect: its SELECT columns, row → instance, instance → values."""

    def __init__(self, model: type[Any], dialect: Dialect) -> None:
        self.model = model
        self.dialect = dialect
        table: Table = model.__table__
        self.table = table.name
        self.columns = list(table.columns)
        self.names = [c.name for c in self.columns]
        self.decoders = [dialect.decoder(c) for c in self.columns]
        self.encoders = {c.name: dialect.encoder(c) for c in self.columns}
        self.primary_key = [c.name for c in table.primary_key.columns]
        configure_mappers()  # the attributes' implementations, which the instances `load` makes rely on
        self._new = sa_inspect(model).class_manager.new_instance

    def select(self, alias: str | None = None) -> str:
        """The column list of a SELECT, in the table's order (what `load` decodes)."""
        prefix = f"{alias}." if alias else ""
        return ", ".join(prefix + name for name in self.names)

    def load(self, row: Sequence[Any], at: int = 0) -> Any:
        """A transient instance from the row's values starting at column `at`: made as the ORM makes the
        instances it loads (no __init__, the values put in its __dict__ without attribute events, a
        fifth of the cost of the constructor); later changes to it are set as on any instance."""
        instance = self._new()
        instance.__dict__.update({name: decode(row[at + i])
                                  for i, (name, decode) in enumerate(zip(self.names, self.decoders, strict=True))})
        return instance

    def values(self, obj: Any, names: Iterable[str]) -> list[Any]:
        """The stored forms of the instance's values; a column never set gets its Python-side default, as
        the ORM's flush would give it."""
        out = []
        for name in names:
            if name in obj.__dict__:
                value = obj.__dict__[name]
            else:
                default = self.model.__table__.columns[name].default
                value = None if default is None else default.arg if default.is_scalar else default.arg(None)
            out.append(self.encoders[name](value))
        return out

    @functools.cached_property
    def insert_names(self) -> list[str]:
        """Every column but the autoincrement key (the database numbers it)."""
        numbered = self.model.__table__.autoincrement_column
        return [c.name for c in self.columns if c is not numbered]

    def insert_sql(self, returning: bool = False) -> str:
        names = self.insert_names
        numbered = self.model.__table__.autoincrement_column
        tail = f" RETURNING {numbered.name}" if returning and numbered is not None else ""
        return f"INSERT INTO {self.table} ({', '.join(names)}) VALUES ({self.dialect.params(len(names))}){tail}"

    async def insert(self, driver: Any, objects: Sequence[Any]) -> None:
        """INSERT the instances; one of them gets its autoincrement key back (RETURNING), several are one
        statement of many rows whose keys stay unset."""
        if not objects:
            return
        rows = [self.values(o, self.insert_names) for o in objects]
        numbered = self.model.__table__.autoincrement_column
        if len(rows) > 1:
            await self.dialect.execute_many(driver, self.insert_sql(), rows)
        elif numbered is None:
            await self.dialect.execute(driver, self.insert_sql(), *rows[0])
        else:
            (row,) = await self.dialect.fetch(driver, self.insert_sql(returning=True), *rows[0])
            setattr(objects[0], numbered.name, row[0])

    async def update(self, driver: Any, obj: Any, names: Sequence[str]) -> None:
        """UPDATE the row of the instance (by primary key), setting the named columns from it."""
        sets = ", ".join(f"{name} = {self.dialect.param(i)}" for i, name in enumerate(names, start=1))
        where = " AND ".join(f"{name} = {self.dialect.param(len(names) + i)}"
                             for i, name in enumerate(self.primary_key, start=1))
        await self.dialect.execute(driver, f"UPDATE {self.table} SET {sets} WHERE {where}",
                                   *self.values(obj, names), *self.values(obj, self.primary_key))


# a statement of its own to run with the others: its SQL from the number of its first parameter, and its
# parameters; it returns one row (or none) whose first column write_together returns
Also = tuple[Callable[[int], str], Sequence[Any]]


async def write_together(driver: Any, dialect: str, update: tuple[Any, Sequence[str]] | None,
                         inserts: Sequence[Any], also: Sequence[Also] = ()) -> list[Any]:
    """One UPDATE (instance, columns), INSERTs of single instances and the statements `also`, in this
    order, as one round trip on PostgreSQL (data-modifying CTEs: each runs once, to completion, in the
    statement; the autoincrement keys come back) and as consecutive statements on SQLite (in-process, no
    round trip to save). Returns the first column of each `also` statement's row (None: no row)."""
    if dialect == "sqlite" or not (update or inserts or also):
        if update is not None:
            instance, names = update
            await mapper(type(instance), dialect).update(driver, instance, names)
        for instance in inserts:
            await mapper(type(instance), dialect).insert(driver, [instance])
        d = Dialect(dialect)
        return [(rows[0][0] if (rows := await d.fetch(driver, sql(1), *args)) else None) for sql, args in also]
    parts: list[str] = []
    args: list[Any] = []
    returned: list[tuple[Any, str, str]] = []  # (instance, key column, CTE name)

    def p() -> str:
        return f"${len(args)}"

    if update is not None:
        instance, names = update
        m = mapper(type(instance), dialect)
        sets = []
        for name, value in zip(names, m.values(instance, names), strict=True):
            args.append(value)
            sets.append(f"{name} = {p()}")
        keys = []
        for name, value in zip(m.primary_key, m.values(instance, m.primary_key), strict=True):
            args.append(value)
            keys.append(f"{name} = {p()}")
        parts.append(f"UPDATE {m.table} SET {', '.join(sets)} WHERE {' AND '.join(keys)}")
    for instance in inserts:
        m = mapper(type(instance), dialect)
        names = m.insert_names
        holders = []
        for value in m.values(instance, names):
            args.append(value)
            holders.append(p())
        numbered = m.model.__table__.autoincrement_column
        tail = f" RETURNING {numbered.name}" if numbered is not None else ""
        if numbered is not None:
            returned.append((instance, numbered.name, f"w{len(parts)}"))
        parts.append(f"INSERT INTO {m.table} ({', '.join(names)}) VALUES ({', '.join(holders)}){tail}")
    also_ctes = []
    for sql, values in also:
        also_ctes.append(f"w{len(parts)}")
        parts.append(sql(len(args) + 1))
        args.extend(values)
    ctes = ", ".join(f"w{i} AS ({sql})" for i, sql in enumerate(parts))
    final = ", ".join([*(f"(SELECT {key} FROM {cte})" for _, key, cte in returned),
                       *(f"(SELECT * FROM {cte} LIMIT 1)" for cte in also_ctes)]) or "1"
    row = await driver.fetchrow(f"WITH {ctes} SELECT {final}", *args)
    for i, (instance, key, _) in enumerate(returned):
        setattr(instance, key, row[i])
    return [row[len(returned) + i] for i in range(len(also_ctes))]


@functools.cache
def _mapper(model: Any, dialect: str) -> Mapper:
    return Mapper(model, Dialect(dialect))


def mapper(model: Any, dialect: str) -> Mapper:
    """The Mapper of a mapped class (or of an instance's class) on a dialect, built once."""
    return _mapper(model if isinstance(model, type) else type(model), dialect)
