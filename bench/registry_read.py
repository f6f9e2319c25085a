"""Registry read benchmark (`make bench`).

Serves the registry with the reference data (PostgreSQL when reachable, else SQLite; `--sqlite` forces
SQLite) and, in the same run, a bare FastAPI app (bench/bare_app.py) that answers the same paths with
the exact bytes the registry returned, as a constant. Both run under uvicorn with the same flags (one
worker, uvloop, httptools, no access log, log level warning). A load generator in a separate process
(closed loop, N keep-alive HTTP/1.1 connections, warm-up then a fixed window) measures requests/s and
p50/p99 latency of `GET /zones/{code}` and of a filtered list against the bare endpoint; the script
prints a table and the ratio registry/bare (goal: ≥ 0.50). No response cache is involved anywhere.

    python bench/registry_read.py [--duration 8] [--warmup 2] [--connections 16] [--sqlite] [--check]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import functools
import json
import os
import resource
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

BENCH_DIR = Path(__file__).resolve().parent
ROOT = BENCH_DIR.parent
if str(ROOT) not in sys.path:  # `python bench/registry_read.py` puts bench/ first, not the project
    sys.path.insert(0, str(ROOT))

PG_ADMIN_URL = os.environ.get("HZ_BENCH_PG_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
GOAL = 0.50
MEASURED = (("one zone", "/zones/S159041"), ("filtered list", "/zones?kind=hitech&level=regional&limit=50"),
            ("every zone in turn", EACH_ZONE := "/zones/{code}"),
            ("every league's list in turn", EACH_LEAGUE := "/zones?league={code}&limit={50,20}"))
UVICORN_FLAGS = ["--workers", "1", "--loop", "uvloop", "--http", "httptools", "--no-access-log",
                 "--log-level", "warning", "--host", "127.0.0.1"]
CLK_TCK = os.sysconf("SC_CLK_TCK")


# ------------------------------------------------------------------------------ load generator
# Runs in its own process (`registry_read.py --_loadgen '<json>'`), prints one JSON line.


def _proc_cpu_seconds(pid: int) -> float:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return 0.0
    return (int(fields[11]) + int(fields[12])) / CLK_TCK  # utime + stime


def _postgres_cpu_seconds(database: str) -> float:
    """CPU of the PostgreSQL backends connected to `database` (their title names it)."""
    total = 0.0
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if database.encode() not in (entry / "cmdline").read_bytes():
                    continue
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if "(postgres)" in stat[:40]:
                total += _proc_cpu_seconds(int(entry.name))
    return total


def _machine_busy_idle() -> tuple[float, float]:
    values = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:9]]
    idle = values[3] + values[4]
    return (sum(values) - idle) / CLK_TCK, idle / CLK_TCK


def _cpu_snapshot(server_pid: int, pg_database: str | None) -> dict[str, float]:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    busy, idle = _machine_busy_idle()
    return {"server": _proc_cpu_seconds(server_pid), "loadgen": usage.ru_utime + usage.ru_stime,
            "postgres": _postgres_cpu_seconds(pg_database) if pg_database else 0.0, "busy": busy, "idle": idle}


class _Connection(asyncio.Protocol):
    """One keep-alive connection: send a request, parse the response (Content-Length), repeat."""

    def __init__(self, gen: _LoadGen, first: int) -> None:
        self.gen = gen
        self.next = first  # the index of this connection's next request in gen.requests
        self.buf = bytearray()
        self.need: int | None = None
        self.status = 0
        self.sent_at = 0.0
        self.transport: Any = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # uvloop's transports are not asyncio.Transport subclasses
        self.send()

    def send(self) -> None:
        assert self.transport is not None
        self.sent_at = time.perf_counter()
        self.transport.write(self.gen.requests[self.next])
        self.next = (self.next + 1) % len(self.gen.requests)

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
            if self.gen.completed(self.status, size, time.perf_counter() - self.sent_at):
                self.send()

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.gen.stopping:  # the server closed a connection under load: it stops counting
            self.gen.lost += 1


class _LoadGen:
    def __init__(self, spec: dict[str, Any]) -> None:
        self.spec = spec
        host = f"{spec['host']}:{spec['port']}"
        self.requests = [(f"GET {path} HTTP/1.1\r\nHost: {host}\r\nUser-Agent: hz-bench\r\n"
                          "Accept: application/json\r\n\r\n").encode() for path in spec["paths"]]
        self.measuring = False
        self.stopping = False
        self.latencies: list[float] = []
        self.errors = 0
        self.sizes: set[int] = set()
        self.lost = 0

    def completed(self, status: int, size: int, latency: float) -> bool:
        if self.measuring:
            self.latencies.append(latency)
            if status != 200:
                self.errors += 1
            self.sizes.add(size)
        return not self.stopping

    async def run(self) -> dict[str, Any]:
        loop = asyncio.get_running_loop()
        failures: list[str] = []
        loop.set_exception_handler(lambda _loop, ctx: failures.append(repr(ctx.get("exception", ctx["message"]))))
        spec = self.spec
        n = spec["connections"]  # the connections start spread over the paths: concurrent requests differ
        conns = [await loop.create_connection(functools.partial(_Connection, self, i * len(self.requests) // n),
                                              spec["host"], spec["port"])
                 for i in range(n)]
        await asyncio.sleep(spec["warmup"])
        self.measuring = True
        before, t0 = _cpu_snapshot(spec["server_pid"], spec["postgres"]), time.perf_counter()
        await asyncio.sleep(spec["duration"])
        self.measuring = False
        elapsed, after = time.perf_counter() - t0, _cpu_snapshot(spec["server_pid"], spec["postgres"])
        self.stopping = True
        for transport, _ in conns:
            transport.close()
        if failures or not self.latencies:
            raise RuntimeError(f"load generator failed: {failures[:3] or 'no response in the window'}")
        lat = sorted(self.latencies)

        def pct(p: float) -> float:
            return lat[min(len(lat) - 1, int(p * len(lat)))] * 1000 if lat else float("nan")

        cpu = {k: (after[k] - before[k]) / elapsed * 100 for k in ("server", "loadgen", "postgres")}
        busy, idle = after["busy"] - before["busy"], after["idle"] - before["idle"]
        cpu["machine"] = busy / (busy + idle) * 100 if busy + idle else float("nan")
        # CPU used by anything else (other processes, softirq), in % of one core
        cpu["others"] = max(0.0, busy / elapsed * 100 - cpu["server"] - cpu["loadgen"] - cpu["postgres"])
        return {"requests": len(lat), "rps": len(lat) / elapsed, "p50_ms": pct(0.50), "p99_ms": pct(0.99),
                "errors": self.errors, "sizes": sorted(self.sizes), "lost_connections": self.lost, "cpu": cpu}


def _loadgen_main(raw: str) -> None:
    run: Any = asyncio.run
    with contextlib.suppress(ImportError):
        import uvloop

        run = uvloop.run
    print(json.dumps(run(_LoadGen(json.loads(raw)).run())))


# -------------------------------------------------------------------------------- orchestration


@dataclass
class Server:
    name: str
    proc: subprocess.Popen[bytes]
    port: int


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _start(name: str, target: str, env: dict[str, str], app_dir: Path, ready_path: str, workers: int = 1) -> Server:
    """`workers`: uvicorn worker processes (1, the default: UVICORN_FLAGS as they are)."""
    import httpx

    port = _free_port()
    flags = list(UVICORN_FLAGS)
    flags[flags.index("--workers") + 1] = str(workers)
    proc = subprocess.Popen([sys.executable, "-m", "uvicorn", target, "--factory", "--app-dir", str(app_dir),
                             "--port", str(port), *flags], env=env, cwd=ROOT)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"{name} server exited with {proc.returncode}")
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(f"http://127.0.0.1:{port}{ready_path}", timeout=1).status_code == 200:
                return Server(name, proc, port)
        time.sleep(0.1)
    proc.kill()
    raise SystemExit(f"{name} server did not become ready on port {port}")


def _stop(server: Server | None) -> None:
    if server is None or server.proc.poll() is not None:
        return
    server.proc.terminate()
    try:
        server.proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        server.proc.kill()


async def _pg_admin(sql: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(PG_ADMIN_URL, timeout=3)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


async def _pg_version() -> str | None:
    import asyncpg

    try:
        conn = await asyncpg.connect(PG_ADMIN_URL, timeout=3)
    except (TimeoutError, OSError, asyncpg.PostgresError):
        return None
    try:
        return str(await conn.fetchval("SHOW server_version"))
    finally:
        await conn.close()


async def _load_reference(url: str) -> str:
    from services.registry.data.load import load
    from shared.db import Database

    db = Database(url)
    try:
        return str(await load(db))
    finally:
        await db.dispose()


def _measure(server: Server, paths: list[str], args: argparse.Namespace, pg_db: str | None) -> dict[str, Any]:
    spec = {"host": "127.0.0.1", "port": server.port, "paths": paths, "connections": args.connections,
            "warmup": args.warmup, "duration": args.duration, "server_pid": server.proc.pid, "postgres": pg_db}
    out = subprocess.run([sys.executable, str(Path(__file__).resolve()), "--_loadgen", json.dumps(spec)],
                         capture_output=True, text=True, cwd=ROOT)
    if out.returncode != 0:
        raise SystemExit(f"load generator for {server.name} {paths[0]} … failed:\n{out.stderr}")
    return dict(json.loads(out.stdout.strip().splitlines()[-1]))


def _every_zone(port: int) -> list[str]:
    """GET /zones/{code} of every zone of the register, in code order (the list's pages)."""
    import httpx

    out, cursor = [], None
    while True:
        params = {"limit": 500, **({"cursor": cursor} if cursor else {})}
        page = httpx.get(f"http://127.0.0.1:{port}/zones", params=params, timeout=10).json()
        out += [f"/zones/{z['code']}" for z in page["items"]]
        if not (cursor := page["next_cursor"]):
            return out


def _every_league(port: int) -> list[str]:
    """GET /zones?league=…&limit=50 and …&limit=20 of every league/city: 24 different pages, more than the
    connections, so that concurrent requests ask for different pages."""
    import httpx

    leagues = httpx.get(f"http://127.0.0.1:{port}/leagues", timeout=10).json()
    return [f"/zones?league={league['code']}&limit={limit}" for limit in (50, 20) for league in leagues]


def _background_busy(seconds: float = 1.0) -> float:
    """How busy the machine is before any load (other processes), in % of all CPUs."""
    busy0, idle0 = _machine_busy_idle()
    time.sleep(seconds)
    busy1, idle1 = _machine_busy_idle()
    total = (busy1 - busy0) + (idle1 - idle0)
    return (busy1 - busy0) / total * 100 if total else 0.0


def _row(label: str, size: int, r: dict[str, Any], with_db: bool) -> str:
    cpu = r["cpu"]
    db = f"{cpu['postgres']:6.0f}%" if with_db else "      -"
    return (f"  {label:9s} {size:7d} {r['rps']:9.0f} {r['p50_ms']:8.2f} {r['p99_ms']:8.2f} "
            f"{cpu['server']:6.0f}% {db} {cpu['loadgen']:6.0f}% {cpu['others']:6.0f}% {r['errors']:7d}")


def _prepare_database(args: argparse.Namespace, tmp: Path) -> tuple[str, str | None, str]:
    """A fresh registry database (PostgreSQL when reachable) migrated and loaded: (url, pg name, label)."""
    pg_version = None if args.sqlite else asyncio.run(_pg_version())
    if pg_version:
        pg_db = f"bench_registry_{os.getpid()}"
        asyncio.run(_pg_admin(f"DROP DATABASE IF EXISTS {pg_db}"))
        asyncio.run(_pg_admin(f"CREATE DATABASE {pg_db}"))
        url = PG_ADMIN_URL.rsplit("/", 1)[0].replace("postgresql://", "postgresql+asyncpg://", 1) + f"/{pg_db}"
        return url, pg_db, f"PostgreSQL {pg_version} (database {pg_db})"
    url = f"sqlite+aiosqlite:///{tmp / 'registry.db'}"
    return url, None, "SQLite (a file in a temporary folder)" + (
        "" if args.sqlite else f"; PostgreSQL not reachable at {PG_ADMIN_URL}")


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--duration", type=float, default=8.0, help="measured seconds per run (default 8)")
    parser.add_argument("--warmup", type=float, default=2.0, help="warm-up seconds before each run (default 2)")
    parser.add_argument("--connections", type=int, default=16, help="concurrent keep-alive connections (16)")
    parser.add_argument("--sqlite", action="store_true", help="use SQLite even when PostgreSQL is reachable")
    parser.add_argument("--check", action="store_true", help="exit 1 when a ratio is below the goal")
    args = parser.parse_args()

    import httpx

    from shared.migrate import upgrade

    tmp = Path(tempfile.mkdtemp(prefix="hz-bench-"))
    registry = bare = None
    pg_db = None
    started = time.monotonic()
    try:
        url, pg_db, backend = _prepare_database(args, tmp)
        upgrade("registry", url)
        loaded = asyncio.run(_load_reference(url))

        # The pool holds as many connections as there are concurrent requests (no connect/close churn);
        # REGISTRY_DB_POOL_SIZE in the environment wins.
        env = {**os.environ, "REGISTRY_DATABASE_URL": url, "REGISTRY_LOG_LEVEL": "WARNING"}
        env.setdefault("REGISTRY_DB_POOL_SIZE", str(max(10, args.connections)))
        registry = _start("registry", "services.registry.app:create_app", env, ROOT, "/readyz")
        paths = {label: _every_zone(registry.port) if path == EACH_ZONE else _every_league(registry.port)
                 if path == EACH_LEAGUE else [path] for label, path in MEASURED}
        bodies: dict[str, bytes] = {}
        for path in (p for group in paths.values() for p in group):
            r = httpx.get(f"http://127.0.0.1:{registry.port}{path}", timeout=10)
            if r.status_code != 200:
                raise SystemExit(f"GET {path} answered {r.status_code}: {r.text[:300]}")
            bodies[path] = r.content
        bodies_file = tmp / "bare_bodies.json"
        bodies_file.write_text(json.dumps({
            "constant": {p.split("?")[0]: b.decode() for p, b in bodies.items() if [p] in paths.values()},
            "zones": {p.rsplit("/", 1)[1]: bodies[p].decode() for p in paths["every zone in turn"]},
            "lists": {p.split("?", 1)[1]: bodies[p].decode() for p in paths["every league's list in turn"]}},
            ensure_ascii=False), encoding="utf-8")
        bare = _start("bare", "bare_app:create_app", {**os.environ, "BENCH_BARE_BODIES": str(bodies_file)},
                      BENCH_DIR, "/zones")
        for path, body in bodies.items():  # the baseline serves the very same bytes
            if httpx.get(f"http://127.0.0.1:{bare.port}{path}", timeout=10).content != body:
                raise SystemExit(f"the bare server's body differs from the registry's for {path}")

        print(f"registry read benchmark: {backend}; {loaded}")
        print(f"servers: uvicorn {' '.join(UVICORN_FLAGS[:-2])} (both); registry log level WARNING, "
              f"db pool {env['REGISTRY_DB_POOL_SIZE']} (+ as many overflow); "
              "no response cache")
        print(f"load: one separate Python process (closed loop), {args.connections} keep-alive connections, "
              f"{args.warmup:g} s warm-up + {args.duration:g} s measured per run")
        print(f"machine: {os.cpu_count()} CPUs shared by the server, the load generator"
              f"{' and PostgreSQL' if pg_db else ''}: absolute figures understate a dedicated server; "
              f"{_background_busy():.0f}% of the machine was busy before the load (other processes)")
        print("CPU columns: 100% = one core; db = the PostgreSQL backends of the bench database; others = "
              f"everything else on the machine (other processes, kernel), out of {100 * (os.cpu_count() or 1)}%")
        print()
        header = (f"  {'server':9s} {'bytes':>7s} {'req/s':>9s} {'p50 ms':>8s} {'p99 ms':>8s} {'server':>7s} "
                  f"{'db':>7s} {'loadgen':>7s} {'others':>7s} {'non-200':>7s}")
        ratios: dict[str, float] = {}
        for label, path in MEASURED:
            each = paths[label]
            print(f"{label}: GET {path}" + (f" ({len(each)} of them, each connection in turn from its own "
                                            "starting point)" if len(each) > 1 else ""))
            print(header)
            reg = _measure(registry, each, args, pg_db)
            base = _measure(bare, each, args, None)
            sizes = sorted({len(bodies[p]) for p in each})
            size = round(statistics.mean(len(bodies[p]) for p in each))
            for name, result in (("registry", reg), ("bare", base)):
                if not set(result["sizes"]) <= set(sizes):
                    print(f"  !! {name}: response sizes {result['sizes']} differ from {sizes}")
                if result["lost_connections"]:
                    print(f"  !! {name}: the server closed {result['lost_connections']} connections under load")
                print(_row(name, size, result, pg_db is not None and name == "registry"))
            ratios[label] = reg["rps"] / base["rps"] if base["rps"] else float("nan")
            print(f"  throughput ratio registry/bare: {ratios[label]:.2f} "
                  f"({'meets' if ratios[label] >= GOAL else 'BELOW'} the goal of ≥ {GOAL:.2f}); "
                  f"p50 latency {reg['p50_ms'] / base['p50_ms']:.1f}× the bare one")
            print()
        print("ratios registry/bare: " + ", ".join(f"{label} {r:.2f}" for label, r in ratios.items())
              + f" (goal ≥ {GOAL:.2f}); total run {time.monotonic() - started:.0f} s")
        if args.check and any(r < GOAL for r in ratios.values()):
            sys.exit(1)
    finally:
        _stop(registry)
        _stop(bare)
        if pg_db:
            asyncio.run(_pg_admin(f"DROP DATABASE IF EXISTS {pg_db} WITH (FORCE)"))
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--_loadgen":
        _loadgen_main(sys.argv[2])
    else:
        main()
