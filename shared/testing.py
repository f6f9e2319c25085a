"""pytest plugin (loaded with -p shared.testing): databases per dialect, migrated once into a template
and copied per test, a test key pair and token minting, ASGI clients, row dumps.

PostgreSQL: `HZ_TEST_PG_URL` (default postgresql://postgres@127.0.0.1:5432/postgres). In CI (CI=true)
an unreachable server fails the run; elsewhere its tests are skipped and one line says so."""

from __future__ import annotations

import asyncio
import datetime as dt
import os
import shutil
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
from sqlalchemy import MetaData, select, text
from sqlalchemy.ext.asyncio import create_async_engine

from shared.auth import ensure_dev_keys, mint_token

PG_ADMIN_URL = os.environ.get("HZ_TEST_PG_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")
ISSUER, AUDIENCE = "hitech-zones-test", "hitech-zones"
_state: dict[str, Any] = {"pg": None}


def _pg_reachable() -> bool:
    async def probe() -> bool:
        try:
            conn = await asyncpg.connect(PG_ADMIN_URL, timeout=3)
        except (OSError, asyncpg.PostgresError, TimeoutError):
            return False
        await conn.close()
        return True

    return asyncio.run(probe())


def pytest_configure(config: pytest.Config) -> None:
    _state["pg"] = _pg_reachable()
    if IN_CI and not _state["pg"]:
        raise pytest.UsageError(f"CI=true but PostgreSQL is not reachable at {PG_ADMIN_URL}: the suite must run on it.")


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if not _state["pg"]:
        terminalreporter.write_line(
            f"!!! PostgreSQL NOT REACHABLE at {PG_ADMIN_URL}: every PostgreSQL variant was SKIPPED "
            "(set HZ_TEST_PG_URL or start the server; CI fails instead) !!!", red=True, bold=True)


def pg_url(database: str) -> str:
    base = PG_ADMIN_URL.rsplit("/", 1)[0].replace("postgresql://", "postgresql+asyncpg://", 1)
    return f"{base}/{database}"


def require_pg() -> None:
    if not _state["pg"]:
        pytest.skip(f"PostgreSQL not reachable at {PG_ADMIN_URL}")


async def pg_admin(sql: str) -> None:
    conn = await asyncpg.connect(PG_ADMIN_URL)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


# ------------------------------------------------------------------------------------ databases

Prepare = Callable[[str], Awaitable[None]]


class DatabaseFactory:
    """Fresh databases for (service, dialect, variant): migrated once into a template, then copied."""

    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        self.templates: dict[tuple[str, str, str], str] = {}
        self.created_pg: list[str] = []
        self.prefix = f"hzt{os.getpid()}"

    async def template(self, service: str, dialect: str, variant: str, prepare: Prepare | None) -> str:
        key = (service, dialect, variant)
        if key not in self.templates:
            from shared.migrate import upgrade

            if dialect == "sqlite":
                path = self.tmp / f"tpl_{service}_{variant}.db"
                url = f"sqlite+aiosqlite:///{path}"
            else:
                name = f"{self.prefix}_tpl_{service}_{variant}"
                await pg_admin(f"DROP DATABASE IF EXISTS {name}")
                await pg_admin(f"CREATE DATABASE {name}")
                self.created_pg.append(name)
                url = pg_url(name)
            await asyncio.to_thread(upgrade, service, url)
            if prepare is not None:
                await prepare(url)
            if dialect == "sqlite":  # fold the WAL into the file so a plain copy is complete
                engine = create_async_engine(url)
                async with engine.connect() as conn:
                    await conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
                await engine.dispose()
            self.templates[key] = url
        return self.templates[key]

    async def fresh(self, service: str, dialect: str, variant: str = "empty", prepare: Prepare | None = None) -> str:
        tpl = await self.template(service, dialect, variant, prepare)
        if dialect == "sqlite":
            src = Path(tpl.split("///", 1)[1])
            dst = self.tmp / f"{service}_{uuid.uuid4().hex[:10]}.db"
            shutil.copyfile(src, dst)
            return f"sqlite+aiosqlite:///{dst}"
        name = f"{self.prefix}_{uuid.uuid4().hex[:10]}"
        await pg_admin(f"CREATE DATABASE {name} TEMPLATE {tpl.rsplit('/', 1)[1]}")
        self.created_pg.append(name)
        return pg_url(name)

    async def drop(self, url: str) -> None:
        if url.startswith("postgresql"):
            name = url.rsplit("/", 1)[1]
            await pg_admin(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
            if name in self.created_pg:
                self.created_pg.remove(name)

    async def drop_all(self) -> None:
        for name in list(self.created_pg):
            await pg_admin(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        self.created_pg.clear()


@pytest.fixture(scope="session")
async def database_factory(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[DatabaseFactory]:
    factory = DatabaseFactory(tmp_path_factory.mktemp("databases"))
    yield factory
    await factory.drop_all()


@pytest.fixture(params=["sqlite", "postgresql"])
def dialect(request: pytest.FixtureRequest) -> str:
    if request.param == "postgresql":
        require_pg()
    return str(request.param)


# --------------------------------------------------------------------------------------- tokens


class Tokens:
    """Mints tokens signed by the test key pair the services under test trust."""

    def __init__(self, key_dir: Path) -> None:
        self.private, self.jwks_file = ensure_dev_keys(key_dir)
        self.pem = self.private.read_bytes()

    def __call__(self, role: str, sub: str | None = None, league_code: str | None = None,
                 ttl: dt.timedelta = dt.timedelta(hours=1), issuer: str = ISSUER, audience: str = AUDIENCE) -> str:
        return mint_token(self.pem, sub=sub or f"test-{role}", role=role, issuer=issuer, audience=audience,
                          league_code=league_code, ttl=ttl)

    def headers(self, role: str, sub: str | None = None, league_code: str | None = None) -> dict[str, str]:
        return {"Authorization": f"Bearer {self(role, sub, league_code)}"}


@pytest.fixture(scope="session")
def tokens(tmp_path_factory: pytest.TempPathFactory) -> Tokens:
    return Tokens(tmp_path_factory.mktemp("keys"))


def settings_overrides(tokens: Tokens, database_url: str) -> dict[str, Any]:
    return {"database_url": database_url, "jwks_file": tokens.jwks_file, "jwt_issuer": ISSUER,
            "jwt_audience": AUDIENCE, "log_json": True, "log_level": "WARNING"}


@asynccontextmanager
async def asgi_client(app: Any, base_url: str = "http://testserver") -> AsyncIterator[httpx.AsyncClient]:
    """An httpx client speaking to the app in-process, with its lifespan running."""
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url=base_url) as client:
            yield client


# ------------------------------------------------------------------------------------ row dumps


async def dump_rows(database_url: str, metadata: MetaData,
                    skip: tuple[str, ...] = ("idempotency_keys",)) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every table, sorted: compare a dump before and after a refused request."""
    engine = create_async_engine(database_url)
    out: dict[str, list[tuple[Any, ...]]] = {}
    try:
        async with engine.connect() as conn:
            for table in metadata.sorted_tables:
                if table.name in skip:
                    continue
                rows = (await conn.execute(select(table))).all()
                out[table.name] = sorted((tuple(r) for r in rows), key=repr)
    finally:
        await engine.dispose()
    return out


async def execute_raw(database_url: str, sql: str) -> None:
    engine = create_async_engine(database_url)
    try:
        async with engine.begin() as conn:
            await conn.execute(text(sql))
    finally:
        await engine.dispose()


# ------------------------------------------------------------------------------- real servers


@contextmanager
def uvicorn_server(factory: str, env: dict[str, str], *, timeout: float = 30.0) -> Iterator[str]:
    """A service started for real (`uvicorn <factory> --factory`) on a free port; yields its base URL."""
    import socket
    import subprocess
    import sys
    import time

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = int(s.getsockname()[1])
    proc = subprocess.Popen([sys.executable, "-m", "uvicorn", factory, "--factory", "--host", "127.0.0.1",
                             "--port", str(port), "--log-level", "warning", "--no-access-log"],
                            env={**os.environ, **env}, cwd=Path(__file__).resolve().parent.parent)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + timeout
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"{factory} exited with {proc.returncode}")
            try:
                if httpx.get(f"{url}/readyz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"{factory} did not become ready on {url}")
            time.sleep(0.1)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
