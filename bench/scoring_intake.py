"""Scoring intake benchmark (`make bench-scoring`).

Seeds a real registry (its own database, PostgreSQL when reachable, else SQLite; `--sqlite` forces SQLite)
with the reference data plus N regional high-tech zones (default 2,600: kind hitech, level regional,
status accredited, codes NM-100000…) through the registry's own bulk import (POST /zones/import), then
serves the registry and the scoring service under uvicorn with the flags of bench/registry_read.py,
scoring asking the registry over HTTP with a minted `service` token (like `make run`).

1. A national-scale year: N zones × every unit variable of the framework, plausible figures that pass its
   checks, posted to POST /years/{y}/data as JSON and as XLSX (built with openpyxl from the template's
   layout); client-side wall time of the whole post, several repetitions on fresh years (each post creates
   N revisions), median. A year whose previous year exists (the usual case: year-on-year checks read it).
2. The baseline, in the same run: asyncpg COPY (copy_records_to_table) of the same rows in the layout the
   service stores (one data_revisions row per zone-year, one data_values row per value) into the scoring
   database's own tables, in one transaction, timed the same way. Ratios service/COPY (goal for JSON ≤ 3×).
3. The raw values of the 26 indicators: GET /zones/{code}/years/{y}/indicators for every zone (a separate
   client process, keep-alive connections: 1 = sequential, then --connections), and in-process the pure
   computation (services.scoring.indicators.compute.raw_values) per zone-year.

    python bench/scoring_intake.py [--zones 2600] [--reps 3] [--connections 8] [--sqlite] [--check] [--profile]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import csv
import datetime as dt
import io
import json
import os
import random
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from decimal import Decimal
from pathlib import Path
from typing import Any

BENCH_DIR = Path(__file__).resolve().parent
ROOT = BENCH_DIR.parent
for _p in (str(ROOT), str(BENCH_DIR)):
    if _p not in sys.path:
        sys.path.insert(0, _p)

from registry_read import (  # noqa: E402  (the house helpers: same uvicorn flags, start/stop, PostgreSQL admin)
    PG_ADMIN_URL,
    UVICORN_FLAGS,
    Server,
    _background_busy,
    _load_reference,
    _pg_admin,
    _pg_version,
    _postgres_cpu_seconds,
    _proc_cpu_seconds,
    _start,
    _stop,
)

GOAL = 3.0  # JSON post ≤ 3 × COPY
FIRST_YEAR = 2010  # the untimed first year; timed years follow it, each with its previous year present
CODE_BASE = 100_000  # NM-100000…: clear of the reference register's codes and of NM-<n> assigned by POST /zones
FRAMEWORK = "nmg-hitech-2022"


# ------------------------------------------------------------------------------ HTTP client process
# `scoring_intake.py --_fetch '<json>'`: GET every path once over N keep-alive HTTP/1.1 connections
# (closed loop), print one JSON line with the wall time, latencies and statuses.


class _Fetcher(asyncio.Protocol):
    def __init__(self, run: _FetchRun) -> None:
        self.run = run
        self.buf = bytearray()
        self.need: int | None = None
        self.status = 0
        self.sent_at = 0.0
        self.transport: Any = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport

    def send(self) -> bool:
        request = self.run.next_request()
        if request is None:
            return False
        self.sent_at = time.perf_counter()
        self.transport.write(request)
        return True

    def data_received(self, data: bytes) -> None:
        self.buf += data
        while True:
            if self.need is None:
                end = self.buf.find(b"\r\n\r\n")
                if end < 0:
                    return
                head = bytes(self.buf[:end]).lower()
                del self.buf[: end + 4]
                self.status = int(head[9:12])
                at = head.find(b"\r\ncontent-length:")
                if at < 0:
                    raise RuntimeError("response without Content-Length")
                stop = head.find(b"\r\n", at + 2)
                self.need = int(head[at + 17 : stop if stop >= 0 else len(head)])
            if len(self.buf) < self.need:
                return
            size = self.need
            del self.buf[:size]
            self.need = None
            self.run.completed(self.status, size, time.perf_counter() - self.sent_at)
            if not self.send():
                self.run.connection_done()


class _FetchRun:
    def __init__(self, spec: dict[str, Any]) -> None:
        host = f"{spec['host']}:{spec['port']}"
        self.requests = [(f"GET {p} HTTP/1.1\r\nHost: {host}\r\nUser-Agent: hz-bench\r\nAccept: application/json\r\n"
                          f"Authorization: Bearer {spec['token']}\r\n\r\n").encode() for p in spec["paths"]]
        self.at = 0
        self.latencies: list[float] = []
        self.statuses: dict[int, int] = {}
        self.bytes = 0
        self.open = spec["connections"]
        self.done: asyncio.Future[None] | None = None

    def next_request(self) -> bytes | None:
        if self.at >= len(self.requests):
            return None
        self.at += 1
        return self.requests[self.at - 1]

    def completed(self, status: int, size: int, latency: float) -> None:
        self.latencies.append(latency)
        self.statuses[status] = self.statuses.get(status, 0) + 1
        self.bytes += size

    def connection_done(self) -> None:
        self.open -= 1
        if self.open == 0 and self.done is not None and not self.done.done():
            self.done.set_result(None)


async def _fetch(spec: dict[str, Any]) -> dict[str, Any]:
    loop = asyncio.get_running_loop()
    run = _FetchRun(spec)
    run.done = loop.create_future()
    conns = [await loop.create_connection(lambda: _Fetcher(run), spec["host"], spec["port"])
             for _ in range(spec["connections"])]
    t0 = time.perf_counter()
    for _, protocol in conns:
        if not protocol.send():
            run.connection_done()
    await asyncio.wait_for(run.done, timeout=600)
    wall = time.perf_counter() - t0
    for transport, _ in conns:
        transport.close()
    lat = sorted(run.latencies)
    return {"wall": wall, "n": len(lat), "p50_ms": lat[len(lat) // 2] * 1000,
            "p99_ms": lat[int(0.99 * len(lat))] * 1000, "statuses": run.statuses, "bytes": run.bytes}


def _fetch_main(raw: str) -> None:
    spec = json.loads(raw)
    spec["paths"] = json.loads(Path(spec.pop("paths_file")).read_text())
    runner: Any = asyncio.run
    with contextlib.suppress(ImportError):
        import uvloop

        runner = uvloop.run
    print(json.dumps(runner(_fetch(spec))))


# ---------------------------------------------------------------------------------------- the data


def _leagues() -> list[str]:
    with (ROOT / "services/registry/data/leagues.csv").open(encoding="utf-8", newline="") as f:
        return [row["code"] for row in csv.DictReader(f)]


def _zones(n: int) -> list[dict[str, Any]]:
    leagues = _leagues()
    return [{"code": f"NM-{CODE_BASE + i}", "kind": "hitech", "level": "regional", "status": "accredited",
             "name_zh": f"基准测试高新技术产业开发区{i:05d}", "name_en": f"Benchmark High-tech Zone {i:05d}",
             "league_code": leagues[i % len(leagues)], "area_ha": f"{500 + (i * 37) % 4000}.5",
             "established": {"effective_date": "2018-06-30", "legal_basis": {"document": f"内政字〔2018〕{i}号"}}}
            for i in range(n)]


def _money(x: float) -> str:
    return f"{x:.4f}"


def figures(doc: Any, code: str, year: int) -> dict[str, Any]:
    """Plausible figures of a zone-year: every unit variable of the framework, within its bounds and checks
    (R&D FTE ≤ employees, high-tech manufacturing ≤ industrial revenue, high-tech services ≤ operating
    revenue, revitalised ≤ stock land, R&D and industry revenues ≤ operating revenue), integers for integer
    variables, categories from the list. Stable per zone, growing a little from year to year."""
    base = random.Random(f"{code}")
    rng = random.Random(f"{code}/{year}")
    growth = (1.0 + base.uniform(0.02, 0.12)) ** (year - FIRST_YEAR) * rng.uniform(0.97, 1.03)
    scale = base.uniform(0.2, 5.0)  # zones differ by an order of magnitude
    out: dict[str, Any] = {}
    for v in doc.input_variables:
        if v.type == "category":
            out[v.name] = base.choice(v.categories) if v.categories else "zone"
        elif v.type == "integer":
            out[v.name] = max(int(v.min or 0), int(base.uniform(1, 400) * scale * growth))
        else:
            out[v.name] = base.uniform(10, 50_000) * scale * growth
    operating = base.uniform(50_000, 2_000_000) * scale * growth
    employees = int(base.uniform(800, 60_000) * scale * growth)
    industrial = operating * base.uniform(0.3, 0.8)
    stock = base.uniform(20, 800) * scale
    related = {
        "operating_revenue": operating, "employees": employees, "industrial_revenue": industrial,
        "rd_personnel_fte": round(employees * base.uniform(0.02, 0.15), 1),
        "hightech_mfg_revenue": industrial * base.uniform(0.1, 0.6),
        "hightech_service_revenue": operating * base.uniform(0.01, 0.2),
        "rd_expenditure": operating * base.uniform(0.005, 0.05),
        "leading_industry_revenue": operating * base.uniform(0.3, 0.7),
        "hightech_industry_revenue": operating * base.uniform(0.2, 0.6),
        "hitech_enterprise_revenue": operating * base.uniform(0.2, 0.6),
        "stock_land_ha": stock, "revitalized_land_ha": stock * base.uniform(0.05, 0.6),
        "developed_area_ha": stock * base.uniform(2, 6),
        "general_budget_expenditure": operating * base.uniform(0.01, 0.05),
        "fiscal_st_expenditure": operating * base.uniform(0.0005, 0.003),
        "total_enterprises": int(employees / base.uniform(20, 60)) + 1,
    }
    for name, value in related.items():
        if name in out:
            out[name] = value
    types = {v.name: v.type for v in doc.input_variables}
    return {k: (int(v) if types[k] == "integer" else _money(v) if isinstance(v, float) else v)
            for k, v in out.items()}


def json_body(doc: Any, codes: list[str], year: int) -> tuple[bytes, dict[str, dict[str, Any]]]:
    import orjson

    records = {code: figures(doc, code, year) for code in codes}
    body = {"reason": f"bench {year}", "records": [{"unit": c, "values": v} for c, v in records.items()]}
    return orjson.dumps(body), records


def xlsx_body(doc: Any, zones: list[dict[str, Any]], records: dict[str, dict[str, Any]], year: int) -> bytes:
    """The template's workbook (services.scoring.data.template) with every cell filled as staff would:
    numbers as numbers, categories as text."""
    from openpyxl import load_workbook

    from services.scoring.data.template import workbook

    blank = workbook(doc, 1, year, [(z["code"], z["name_zh"], z["name_en"]) for z in zones])
    book = load_workbook(io.BytesIO(blank))
    sheet = book["data"]
    header = [c.value for c in sheet[1]]
    types = {v.name: v.type for v in doc.input_variables}
    for row in sheet.iter_rows(min_row=5, max_row=4 + len(zones)):
        values = records[row[0].value]
        for i, cell in enumerate(row[1:], start=1):
            name = header[i]
            if name in values:
                raw = values[name]
                cell.value = raw if types[name] != "decimal" else float(raw)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def copy_rows(doc: Any, records: dict[str, dict[str, Any]], year: int, user: str
              ) -> tuple[list[tuple[Any, ...]], list[list[tuple[Any, ...]]]]:
    """The rows the service stores for a bulk year, prepared before timing: data_revisions rows (without
    their id) and, per revision, its data_values rows (without the revision id)."""
    from services.scoring.data.validation import check_values, values_hash

    now = dt.datetime.now(dt.UTC)
    batch = str(uuid.uuid4())
    revisions, values = [], []
    for code, raw in records.items():
        checked = check_values(doc, "unit", raw)
        assert not checked.errors, checked.errors
        warnings = json.dumps([{"variable": f.variable, "code": f.code, "reason": f.reason} for f in checked.warnings])
        revisions.append((FRAMEWORK, 1, code, "unit", year, 1, False, values_hash(checked.values), warnings,
                          f"bench {year}", "bulk", batch, "bench-bureau", "statistics_bureau", now))
        values.append([(name, v, None) if isinstance(v, Decimal) else (name, None, v)
                       for name, v in checked.values.items()])
    return revisions, values


REVISION_COLUMNS = ["framework_id", "framework_version", "unit_code", "unit_kind", "year", "revision", "synthetic",
                    "values_hash", "warnings", "reason", "channel", "batch_id", "recorded_by", "recorded_role",
                    "recorded_at"]


async def copy_years(dsn: str, years: list[tuple[list[tuple[Any, ...]], list[list[tuple[Any, ...]]]]],
                     cpu: Cpu) -> list[tuple[float, dict[str, float]]]:
    """COPY each year in one transaction on an open connection (as the service's pool holds them): ids from
    the table's sequence, the revisions, then the values, into the service's own tables (same indexes,
    foreign key and triggers). Wall time and CPU (the bench process's own as `client`) per year."""
    import asyncpg

    conn = await asyncpg.connect(dsn)
    out = []
    try:
        await conn.fetchval("SELECT 1")
        for revisions, values in years:
            before = cpu.snap()
            t0 = time.perf_counter()
            async with conn.transaction():
                ids = [r[0] for r in await conn.fetch(
                    "SELECT nextval(pg_get_serial_sequence('data_revisions', 'id')) FROM generate_series(1, $1)",
                    len(revisions))]
                await conn.copy_records_to_table("data_revisions", columns=["id", *REVISION_COLUMNS],
                                                 records=[(i, *r) for i, r in zip(ids, revisions, strict=True)])
                await conn.copy_records_to_table(
                    "data_values", columns=["revision_id", "variable", "value", "text_value"],
                    records=[(i, *v) for i, vs in zip(ids, values, strict=True) for v in vs])
            out.append((time.perf_counter() - t0, Cpu.diff(before, cpu.snap())))
        return out
    finally:
        await conn.close()


# -------------------------------------------------------------------------------- orchestration


def _prepare(args: argparse.Namespace, tmp: Path) -> tuple[dict[str, str], dict[str, str | None], str]:
    """Fresh registry and scoring databases: ({service: url}, {service: pg database name}, label)."""
    pg_version = None if args.sqlite else asyncio.run(_pg_version())
    urls, names = {}, {}
    for service in ("registry", "scoring"):
        if pg_version:
            name = f"bench_{service}_{os.getpid()}"
            asyncio.run(_pg_admin(f"DROP DATABASE IF EXISTS {name}"))
            asyncio.run(_pg_admin(f"CREATE DATABASE {name}"))
            urls[service] = (PG_ADMIN_URL.rsplit("/", 1)[0].replace("postgresql://", "postgresql+asyncpg://", 1)
                             + f"/{name}")
            names[service] = name
        else:
            urls[service] = f"sqlite+aiosqlite:///{tmp / f'{service}.db'}"
            names[service] = None
    if pg_version:
        return urls, names, f"PostgreSQL {pg_version} (databases {names['registry']}, {names['scoring']})"
    return urls, names, "SQLite (files in a temporary folder)" + (
        "" if args.sqlite else f"; PostgreSQL not reachable at {PG_ADMIN_URL}")


class Cpu:
    """CPU seconds of the scoring server, the registry server and the scoring database's backends."""

    def __init__(self, scoring: Server, registry: Server, pg_db: str | None) -> None:
        self.pids = {"scoring": scoring.proc.pid, "registry": registry.proc.pid}
        self.pg_db = pg_db

    def snap(self) -> dict[str, float]:
        out = {k: _proc_cpu_seconds(pid) for k, pid in self.pids.items()}
        usage = resource.getrusage(resource.RUSAGE_SELF)
        out["client"] = usage.ru_utime + usage.ru_stime
        out["postgres"] = _postgres_cpu_seconds(self.pg_db) if self.pg_db else 0.0
        return out

    @staticmethod
    def diff(a: dict[str, float], b: dict[str, float]) -> dict[str, float]:
        return {k: b[k] - a[k] for k in a}


def _post(client: Any, url: str, body: bytes, media_type: str, token: str, expect: int, cpu: Cpu
          ) -> tuple[float, dict[str, float], dict[str, Any]]:
    before = cpu.snap()
    t0 = time.perf_counter()
    r = client.post(url, content=body, headers={"Content-Type": media_type, "Authorization": f"Bearer {token}"})
    wall = time.perf_counter() - t0
    used = Cpu.diff(before, cpu.snap())
    if r.status_code != 201:
        raise SystemExit(f"POST {url} answered {r.status_code}: {r.text[:2000]}")
    out = r.json()
    if out["created"] != expect:
        raise SystemExit(f"POST {url} created {out['created']} revisions, not {expect}")
    return wall, used, out


def _fetch_all(server: Server, paths: list[str], token: str, connections: int, tmp: Path) -> dict[str, Any]:
    paths_file = tmp / "paths.json"
    paths_file.write_text(json.dumps(paths))
    spec = {"host": "127.0.0.1", "port": server.port, "token": token, "connections": connections,
            "paths_file": str(paths_file)}
    out = subprocess.run([sys.executable, str(Path(__file__).resolve()), "--_fetch", json.dumps(spec)],
                         capture_output=True, text=True, cwd=ROOT)
    if out.returncode != 0:
        raise SystemExit(f"client process failed:\n{out.stderr}")
    return dict(json.loads(out.stdout.strip().splitlines()[-1]))


def _profile(args: argparse.Namespace, scoring_url: str, registry_port: int, env: dict[str, str],
             posts: list[tuple[int, bytes]]) -> None:
    """One JSON post served in-process (the scoring app over ASGI, the registry for real) with the wall time of
    each phase (the service's calls wrapped by timers), then another under cProfile."""
    import cProfile
    import functools
    import pstats

    import httpx

    from services.scoring.app import create_app
    from services.scoring.data import formats, repository, service
    from services.scoring.settings import Settings
    from shared.testing import asgi_client

    settings = Settings(database_url=scoring_url, registry_url=f"http://127.0.0.1:{registry_port}",
                        peer_token=env["SCORING_PEER_TOKEN"], jwks_file=Path(env["SCORING_JWKS_FILE"]),
                        log_level="WARNING")
    phases: dict[str, float] = {}

    def timed(module: Any, name: str, label: str) -> None:
        fn = getattr(module, name)

        def add(t0: float) -> None:
            phases[label] = phases.get(label, 0.0) + time.perf_counter() - t0

        if asyncio.iscoroutinefunction(fn):
            async def wrapper_async(*a: Any, **kw: Any) -> Any:
                t0 = time.perf_counter()
                try:
                    return await fn(*a, **kw)
                finally:
                    add(t0)
            setattr(module, name, functools.wraps(fn)(wrapper_async))
        else:
            def wrapper(*a: Any, **kw: Any) -> Any:
                t0 = time.perf_counter()
                try:
                    return fn(*a, **kw)
                finally:
                    add(t0)
            setattr(module, name, functools.wraps(fn)(wrapper))

    timed(formats, "read_bulk", "read the body (JSON → unit-years)")  # endpoints imported it by name
    import services.scoring.data.endpoints as endpoints
    timed(endpoints, "read_bulk", "read the body (JSON → unit-years)")
    timed(service, "unit_problems", "registry: POST /zones/lookup")
    timed(repository, "latest_revisions", "db: latest revisions (this year and last)")
    timed(repository, "values_of", "db: last year's values")
    timed(service, "check_values", "check every unit-year (pure)")
    timed(service, "values_hash", "values_hash (pure)")
    timed(repository, "insert_revisions", "db: insert revisions")
    timed(repository, "insert_values", "db: COPY values")

    async def go() -> None:
        async with asgi_client(create_app(settings), "http://scoring") as client:
            headers = {"Content-Type": "application/json", "Authorization": f"Bearer {env['BENCH_BUREAU_TOKEN']}"}
            await client.get("/readyz")
            for i, (year, body) in enumerate(posts):
                phases.clear()
                profiler = cProfile.Profile() if i == 1 else None
                t0 = time.perf_counter()
                if profiler:
                    profiler.enable()
                r = await client.post(f"/years/{year}/data", content=body, headers=headers,
                                      timeout=httpx.Timeout(600))
                if profiler:
                    profiler.disable()
                wall = time.perf_counter() - t0
                assert r.status_code == 201, r.text[:1000]
                if profiler is None:
                    print(f"phases of one JSON post in-process (ASGI, no uvicorn; year {year}): {wall * 1000:.0f} ms")
                    for label, seconds in phases.items():
                        print(f"  {label:44s} {seconds * 1000:7.0f} ms")
                    rest = wall - sum(phases.values())
                    print(f"  {'the rest (HTTP, body, JSON out, commit)':44s} {rest * 1000:7.0f} ms")
                    continue
                print(f"\nprofile: another JSON post in-process (year {year}), {wall * 1000:.0f} ms under cProfile")
                stats = pstats.Stats(profiler, stream=sys.stdout)
                stats.sort_stats("cumulative").print_stats(r"services/scoring|shared/|asyncpg/connection",
                                                           args.profile_lines)
                stats.sort_stats("tottime").print_stats(args.profile_lines)

    asyncio.run(go())


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:9.0f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--zones", type=int, default=2600, help="regional high-tech zones seeded (2600)")
    parser.add_argument("--reps", type=int, default=3, help="timed posts per format, each on a fresh year (3)")
    parser.add_argument("--connections", type=int, default=4, help="connections of the concurrent GETs (4)")
    parser.add_argument("--sequential-every", type=int, default=4, metavar="K",
                        help="the sequential GETs ask every K-th zone (4: 650 of 2,600; the concurrent ones all)")
    parser.add_argument("--sqlite", action="store_true", help="use SQLite even when PostgreSQL is reachable")
    parser.add_argument("--check", action="store_true", help="exit 1 when the JSON ratio misses the goal")
    parser.add_argument("--profile", action="store_true", help="also cProfile one JSON post in-process")
    parser.add_argument("--profile-lines", type=int, default=30)
    parser.add_argument("--keep", action="store_true", help="keep the PostgreSQL databases (to inspect them)")
    args = parser.parse_args()

    import httpx

    from services.scoring.data.validation import check_values
    from services.scoring.frameworks.definition import FrameworkDocument
    from services.scoring.frameworks.service import bundled_documents
    from services.scoring.indicators.compute import raw_values
    from shared.auth import ensure_dev_keys, mint_token
    from shared.migrate import upgrade
    from shared.settings import ServiceSettings

    started = time.monotonic()
    tmp = Path(tempfile.mkdtemp(prefix="hz-bench-scoring-"))
    registry = scoring = None
    pg_names: dict[str, str | None] = {}
    try:
        urls, pg_names, backend = _prepare(args, tmp)
        for service, url in urls.items():
            upgrade(service, url)
        loaded = asyncio.run(_load_reference(urls["registry"]))

        private, jwks = ensure_dev_keys(tmp / "keys")
        defaults = ServiceSettings.model_fields
        issuer, audience = str(defaults["jwt_issuer"].default), str(defaults["jwt_audience"].default)

        def token(role: str, sub: str) -> str:
            return mint_token(private.read_bytes(), sub=sub, role=role, issuer=issuer, audience=audience,
                              ttl=dt.timedelta(hours=2))

        env = {**os.environ, "REGISTRY_DATABASE_URL": urls["registry"], "REGISTRY_LOG_LEVEL": "WARNING",
               "REGISTRY_JWKS_FILE": str(jwks), "SCORING_DATABASE_URL": urls["scoring"],
               "SCORING_LOG_LEVEL": "WARNING", "SCORING_JWKS_FILE": str(jwks),
               "SCORING_PEER_TOKEN": token("service", "scoring"), "BENCH_BUREAU_TOKEN": token("statistics_bureau",
                                                                                              "bench-bureau")}
        registry = _start("registry", "services.registry.app:create_app", env, ROOT, "/readyz")
        env["SCORING_REGISTRY_URL"] = f"http://127.0.0.1:{registry.port}"
        client = httpx.Client(timeout=600)

        # --- seed the register through its own bulk import
        zones = _zones(args.zones)
        t0 = time.perf_counter()
        r = client.post(f"http://127.0.0.1:{registry.port}/zones/import", json={"zones": zones},
                        headers={"Authorization": f"Bearer {token('st_department', 'bench-st')}"})
        seeded = time.perf_counter() - t0
        if r.status_code != 201 or r.json()["created"] != len(zones):
            raise SystemExit(f"POST /zones/import answered {r.status_code}: {r.text[:2000]}")
        scoring = _start("scoring", "services.scoring.app:create_app", env, ROOT, "/readyz")
        cpu = Cpu(scoring, registry, pg_names["scoring"])
        base = f"http://127.0.0.1:{scoring.port}"
        bureau = env["BENCH_BUREAU_TOKEN"]

        doc = FrameworkDocument.model_validate(
            next(d for d in bundled_documents() if d["id"] == FRAMEWORK))
        codes = [z["code"] for z in zones]
        n_vars = len(doc.input_variables)
        n_values = len(codes) * n_vars

        # --- the data: one body per year (JSON), one workbook (XLSX); every figure passes the checks
        t0 = time.perf_counter()
        json_years = [FIRST_YEAR + 1 + i for i in range(args.reps)]
        xlsx_years = [json_years[-1] + 1 + i for i in range(args.reps)]
        bodies = {y: json_body(doc, codes, y) for y in [FIRST_YEAR, *json_years]}
        for y, (_, records) in bodies.items():
            for code, values in records.items():
                checked = check_values(doc, "unit", values)
                if checked.errors:
                    raise SystemExit(f"generated figures of {code} {y} fail: {checked.errors[:3]}")
        workbook = xlsx_body(doc, zones, bodies[json_years[-1]][1], xlsx_years[0])
        built = time.perf_counter() - t0

        # --- warm-up: the first year (untimed in the median; its previous year does not exist)
        first_wall, _, _ = _post(client, f"{base}/years/{FIRST_YEAR}/data", bodies[FIRST_YEAR][0],
                                     "application/json", bureau, len(codes), cpu)

        results: dict[str, list[tuple[float, dict[str, float]]]] = {"json": [], "xlsx": [], "copy": []}
        warnings = 0
        for y in json_years:
            wall, used, out = _post(client, f"{base}/years/{y}/data", bodies[y][0], "application/json", bureau,
                                    len(codes), cpu)
            results["json"].append((wall, used))
            warnings = out["warnings"]
        for y in xlsx_years:
            wall, used, _ = _post(client, f"{base}/years/{y}/data", workbook,
                                  "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", bureau,
                                  len(codes), cpu)
            results["xlsx"].append((wall, used))

        copy_note = "PostgreSQL only"
        if pg_names["scoring"]:
            dsn = urls["scoring"].replace("postgresql+asyncpg://", "postgresql://", 1)
            rows = [copy_rows(doc, bodies[json_years[i]][1], 2100 + i, "bench-bureau")  # years no post uses
                    for i in range(args.reps)]
            results["copy"] = asyncio.run(copy_years(dsn, rows, cpu))
            copy_note = ""

        # --- indicators: the 26 raw values of each zone-year, over HTTP and in-process
        year = json_years[-1]
        observer = token("observer", "bench-observer")
        paths = [f"/zones/{c}/years/{year}/indicators" for c in codes]
        sample = client.get(base + paths[0], headers={"Authorization": f"Bearer {observer}"})
        if sample.status_code != 200:
            raise SystemExit(f"GET {paths[0]} answered {sample.status_code}: {sample.text[:500]}")
        n_indicators = len(sample.json()["indicators"])
        fetched = {}
        for conns in (1, args.connections):
            asked = paths[::max(1, args.sequential_every)] if conns == 1 else paths
            before = cpu.snap()
            res = _fetch_all(scoring, asked, observer, conns, tmp)
            res["cpu"] = Cpu.diff(before, cpu.snap())
            if res["statuses"] != {"200": len(asked)}:
                raise SystemExit(f"indicator GETs answered {res['statuses']}")
            fetched[conns] = res

        current = {c: check_values(doc, "unit", bodies[year][1][c]).values for c in codes}
        previous = {c: check_values(doc, "unit", bodies[year - 1][1][c]).values for c in codes}
        raw_values(doc, year, current[codes[0]], previous[codes[0]])  # warm the parsed formulas
        t0 = time.perf_counter()
        for c in codes:
            raw_values(doc, year, current[c], previous[c])
        pure = (time.perf_counter() - t0) / len(codes)

        # ---------------------------------------------------------------------------- the report
        med = {k: statistics.median(w for w, _ in v) if v else float("nan") for k, v in results.items()}
        json_size, xlsx_size = len(bodies[json_years[0]][0]), len(workbook)
        print(f"scoring intake benchmark: {backend}; registry {loaded}; "
              f"+ {len(zones)} regional high-tech zones seeded by POST /zones/import in {seeded:.1f} s")
        print(f"servers: uvicorn {' '.join(UVICORN_FLAGS[:-2])} (registry and scoring); log level WARNING; "
              "scoring asks the registry over HTTP (POST /zones/lookup) with a service token")
        print(f"data: {len(codes)} zones × {n_vars} unit variables of {FRAMEWORK} = {n_values:,} values per year "
              f"(JSON {json_size / 1e6:.1f} MB, XLSX {xlsx_size / 1e6:.1f} MB; built and pre-checked in "
              f"{built:.1f} s); {warnings} warnings per year")
        print(f"posts: each on a fresh year after year {FIRST_YEAR} (first post, untimed: "
              f"{first_wall * 1000:.0f} ms), so each creates {len(codes)} revisions and reads the previous "
              f"year; client-side wall time; median of {args.reps}")
        print(f"machine: {os.cpu_count()} CPUs shared by both servers, the client and "
              f"{'PostgreSQL' if pg_names['scoring'] else 'SQLite'}; {_background_busy():.0f}% busy before "
              "(other processes); CPU columns: seconds of the scoring server, the registry server, the database's "
              "backends and this process (the client: for COPY, asyncpg's encoding)")
        print()
        print(f"  {'bulk year':28s} {'median ms':>9s} {'min ms':>9s} {'max ms':>9s} {'µs/value':>9s} "
              f"{'scoring':>8s} {'registry':>8s} {'db':>8s} {'client':>8s}")
        for key, label in (("json", "POST JSON (service)"), ("xlsx", "POST XLSX (service)"),
                           ("copy", "asyncpg COPY (baseline)")):
            runs = results[key]
            if not runs:
                print(f"  {label:28s} {'-':>9s}  ({copy_note})")
                continue
            walls = [w for w, _ in runs]
            used = {k: statistics.median(u[k] for _, u in runs) for k in runs[0][1]}
            print(f"  {label:28s} {_ms(med[key])} {_ms(min(walls))} {_ms(max(walls))} "
                  f"{med[key] / n_values * 1e6:9.1f} {used['scoring']:8.2f} {used['registry']:8.2f} "
                  f"{used['postgres']:8.2f} {used['client']:8.2f}")
        ratios = {}
        if results["copy"]:
            ratios = {k: med[k] / med["copy"] for k in ("json", "xlsx")}
            print(f"  ratio service/COPY: JSON {ratios['json']:.1f}× "
                  f"({'meets' if ratios['json'] <= GOAL else 'MISSES'} the goal of ≤ {GOAL:g}×), "
                  f"XLSX {ratios['xlsx']:.1f}×")
        print()
        print(f"indicators: the {n_indicators} raw values of one zone-year ({year}, with {year - 1}), "
              f"{len(codes)} zone-years")
        print(f"  {'how':34s} {'total ms':>9s} {'per zone-year':>13s} {'p50 ms':>8s} {'p99 ms':>8s} "
              f"{'scoring':>8s} {'db':>8s}")
        for conns, res in fetched.items():
            label = (f"GET, 1 connection, {res['n']} zones" if conns == 1 else
                     f"GET, {conns} connections, {res['n']} zones")
            print(f"  {label:34s} {res['wall'] * 1000:9.0f} {res['wall'] / res['n'] * 1000:10.2f} ms "
                  f"{res['p50_ms']:8.2f} {res['p99_ms']:8.2f} {res['cpu']['scoring']:8.2f} "
                  f"{res['cpu']['postgres']:8.2f}")
        print(f"  {'raw_values() in-process (pure)':34s} {pure * len(codes) * 1000:9.0f} {pure * 1e6:10.0f} µs")
        print()
        print(f"total run {time.monotonic() - started:.0f} s")
        if args.profile:
            print()
            years = [xlsx_years[-1] + 1, xlsx_years[-1] + 2]  # fresh years whose previous year exists
            _profile(args, urls["scoring"], registry.port, env, [(y, json_body(doc, codes, y)[0]) for y in years])
        if args.check and ratios and ratios["json"] > GOAL:
            sys.exit(1)
    finally:
        _stop(scoring)
        _stop(registry)
        for name in pg_names.values():
            if name and args.keep:
                print(f"kept database {name}")
            elif name:
                asyncio.run(_pg_admin(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--_fetch":
        _fetch_main(sys.argv[2])
    else:
        main()
