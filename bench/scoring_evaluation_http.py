"""The evaluation end to end over HTTP (part of `make bench-evaluation`; bench/scoring_evaluation.py calls it).

The real registry and scoring under uvicorn (the flags of bench/registry_read.py), each with its own
database: PostgreSQL when reachable (else SQLite files; `--sqlite` forces SQLite). The client's wall time of
`POST /evaluations` (st_department), which reads the cohort from the registry (two years, every page),
gathers three years of data revisions and the round's scores, runs the default method on this year and the
previous year, builds and stores the immutable result with its hashes. Next to it, in this process on the
same recorded inputs: the exact raw values of the year's cohort (Scoring I's formulas in `decimal`), the
engine alone on that cohort (what the table above times) and the whole computation (`compute.evaluate`:
raw values and engine for both years, the explanations, the result JSON), and the result's SHA-256 over
its RFC 8785 form (one of the request's two hashes).

1. `make run`'s demonstration data (the 9 regional high-tech zones of the register, 2022–2025), and on
   each of those evaluations the README's uncertainty request (step 6: 1,000 replications, seed 7), its
   wall time and the analysis' own `seconds`.
2. Then N more regional high-tech zones (NM-100000…, the registry's bulk import) with figures for the
   last three years (bench/scoring_intake.py's generator, JSON bulk posts), cumulatively per size.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import os
import shutil
import statistics
import tempfile
import time
from pathlib import Path

from registry_read import _background_busy, _load_reference, _pg_admin, _start, _stop
from scoring_intake import ROOT, Cpu, _prepare, _zones, json_body

# the README's request (step 6), as it is written there
README_UNCERTAINTY = {
    "replications": 1000, "seed": 7, "treat": {"on_probability": 0.5},
    "normalise": [{"method": "minmax", "lo": 0, "hi": 1}, {"method": "efficacy"}, {"method": "prank"}],
    "weights_noise": [{"level": 1, "noise": 0.25}, {"level": 2, "noise": 0.25}]}
POST_ROWS = 2000  # zones per bulk post


async def _in_process(scoring_url: str, evaluation_id: int, reps: int) -> dict[str, float]:
    """Seconds (median of reps) of the engine on the year's cohort and of compute.evaluate, on the inputs
    the evaluation recorded (read again by id, as /reproduce does)."""
    from services.scoring.evaluations import compute, inputs
    from services.scoring.evaluations import repository as repo
    from services.scoring.frameworks import service as frameworks
    from services.scoring.methods import engine
    from services.scoring.methods import store as methods
    from shared.canonical import canonical_json
    from shared.db import Database

    db = Database(scoring_url)
    try:
        async with db.transaction() as session:
            row = await repo.get(session, evaluation_id)
            assert row is not None
            _, doc = await frameworks.current(session, row.framework_id, row.framework_version)
            _, method = await methods.current(session, row.method_id, row.method_version)
            gathered = await inputs.regather(session, row, doc)
    finally:
        await db.dispose()
    units = [z["code"] for z in gathered.record["cohort"]["zones"]]
    compiled = engine.compile(doc, method)
    raw_s, engine_s, evaluate_s = [], [], []
    for _ in range(reps):
        t0 = time.perf_counter()
        cohort, _ = compute.cohort_input(doc, method, row.year, units, gathered.current, gathered.previous,
                                         gathered.scores)
        t1 = time.perf_counter()
        compiled.run(cohort)
        t2 = time.perf_counter()
        result = compute.evaluate(doc, method, gathered)
        t3 = time.perf_counter()
        raw_s.append(t1 - t0)
        engine_s.append(t2 - t1)
        evaluate_s.append(t3 - t2)
    t0 = time.perf_counter()
    assert inputs.canonical_hash(result) == row.result_hash  # the same numbers as the request stored
    hashed = time.perf_counter() - t0
    return {"raw": statistics.median(raw_s), "engine": statistics.median(engine_s),
            "evaluate": statistics.median(evaluate_s), "hash": hashed, "result_mb": len(canonical_json(result)) / 1e6}


def run(args: argparse.Namespace) -> None:
    import httpx

    from services.scoring.clients.registry import RegistryClient
    from services.scoring.data.demo import load_demo
    from services.scoring.data.service import SHANGHAI
    from services.scoring.frameworks.definition import FrameworkDocument
    from services.scoring.frameworks.service import DEFAULT_FRAMEWORK, bundled_documents
    from shared.auth import ensure_dev_keys, mint_token
    from shared.db import Database
    from shared.migrate import upgrade
    from shared.peers import PeerClient
    from shared.settings import ServiceSettings

    tmp = Path(tempfile.mkdtemp(prefix="hz-bench-evaluation-"))
    registry = scoring = None
    pg_names: dict[str, str | None] = {}
    try:
        urls, pg_names, backend = _prepare(args, tmp)
        for service, url in urls.items():
            upgrade(service, url)
        asyncio.run(_load_reference(urls["registry"]))
        private, jwks = ensure_dev_keys(tmp / "keys")
        defaults = ServiceSettings.model_fields
        issuer, audience = str(defaults["jwt_issuer"].default), str(defaults["jwt_audience"].default)

        def token(role: str, sub: str) -> dict[str, str]:
            jwt = mint_token(private.read_bytes(), sub=sub, role=role, issuer=issuer, audience=audience,
                             ttl=dt.timedelta(hours=2))
            return {"Authorization": f"Bearer {jwt}"}

        st, bureau = token("st_department", "bench-st"), token("statistics_bureau", "bench-bureau")
        env = {**os.environ, "REGISTRY_DATABASE_URL": urls["registry"], "REGISTRY_LOG_LEVEL": "WARNING",
               "REGISTRY_JWKS_FILE": str(jwks), "SCORING_DATABASE_URL": urls["scoring"],
               "SCORING_LOG_LEVEL": "WARNING", "SCORING_JWKS_FILE": str(jwks), "SCORING_OUTBOX_DISPATCH": "false",
               "SCORING_PEER_TOKEN": token("service", "scoring")["Authorization"].split(" ", 1)[1]}
        registry = _start("registry", "services.registry.app:create_app", env, ROOT, "/readyz")
        registry_url = f"http://127.0.0.1:{registry.port}"
        env["SCORING_REGISTRY_URL"] = registry_url
        scoring = _start("scoring", "services.scoring.app:create_app", env, ROOT, "/readyz")
        base = f"http://127.0.0.1:{scoring.port}"
        cpu = Cpu(scoring, registry, pg_names["scoring"])
        client = httpx.Client(timeout=600)

        async def demo() -> None:
            db, peer = Database(urls["scoring"]), PeerClient(registry_url)
            try:
                await load_demo(db, RegistryClient(peer))
            finally:
                await peer.aclose()
                await db.dispose()

        asyncio.run(demo())
        year = dt.datetime.now(SHANGHAI).year - 1  # the demo data's latest year
        busy = _background_busy()
        print()
        print(f"POST /evaluations end to end: {backend}; registry and scoring under uvicorn; client wall time, "
              f"median of {args.http_reps} (min); {os.cpu_count()} CPUs shared by both servers, the client and the "
              f"database, {busy:.0f}% busy before (other processes); CPU: seconds of the scoring server / the "
              "registry server / the database's backends per request")
        print(f"{'cohort':>7} {'POST ms':>9} {'min ms':>8} {'CPU scoring/registry/db':>24} "
              f"{'evaluate ms':>11} {'raw ms':>7} {'engine ms':>9} {'hash ms':>7} {'result MB':>9}")

        def evaluations(label: str, uncertainty: bool = False, cohort: int | None = None) -> int:
            walls, used, ids, runs = [], [], [], []
            for _ in range(args.http_reps):
                before = cpu.snap()
                t0 = time.perf_counter()
                r = client.post(f"{base}/evaluations", json={"year": year}, headers=st)
                walls.append(time.perf_counter() - t0)
                used.append(Cpu.diff(before, cpu.snap()))
                if r.status_code != 201:
                    raise SystemExit(f"POST /evaluations answered {r.status_code}: {r.text[:2000]}")
                ids.append(r.json()["id"])
                size = r.json()["cohort_size"]
                if cohort is not None and size != cohort:
                    raise SystemExit(f"the evaluation's cohort has {size} zones, not {cohort}")
                if uncertainty:  # the same request on each fresh evaluation: computed, not the stored answer
                    t0 = time.perf_counter()
                    u = client.post(f"{base}/evaluations/{ids[-1]}/uncertainty", json=README_UNCERTAINTY, headers=st)
                    if u.status_code != 201:
                        raise SystemExit(f"POST uncertainty answered {u.status_code}: {u.text[:2000]}")
                    runs.append((time.perf_counter() - t0, float(u.json()["seconds"])))
            mine = asyncio.run(_in_process(urls["scoring"], ids[-1], args.http_reps))
            c = {k: statistics.median(u[k] for u in used) for k in ("scoring", "registry", "postgres")}
            print(f"{size:>7,} {statistics.median(walls) * 1e3:>9.0f} {min(walls) * 1e3:>8.0f} "
                  f"{c['scoring']:>10.2f} / {c['registry']:.2f} / {c['postgres']:.2f} "
                  f"{mine['evaluate'] * 1e3:>11.1f} {mine['raw'] * 1e3:>7.1f} {mine['engine'] * 1e3:>9.1f} "
                  f"{mine['hash'] * 1e3:>7.0f} {mine['result_mb']:>9.1f}  {label}")
            if runs:
                wall, seconds = statistics.median(w for w, _ in runs), statistics.median(s for _, s in runs)
                print(f"{'':>7} README's uncertainty request (step 6: 1,000 replications, seed 7) on this "
                      f"cohort: {wall * 1e3:.0f} ms over HTTP, analysis {seconds:.3f} s (its `seconds`; median of "
                      f"{len(runs)}, min {min(s for _, s in runs):.3f} s)")
            return int(size)

        demo_size = evaluations("make run's demonstration data", uncertainty=True)
        doc = FrameworkDocument.model_validate(next(d for d in bundled_documents() if d["id"] == DEFAULT_FRAMEWORK))
        seeded = 0
        for n in (int(s) for s in args.http_sizes.split(",") if s):
            zones = _zones(n)[seeded:]
            if not zones:
                continue
            r = client.post(f"{registry_url}/zones/import", json={"zones": zones}, headers=st)
            if r.status_code != 201:
                raise SystemExit(f"POST /zones/import answered {r.status_code}: {r.text[:2000]}")
            codes = [z["code"] for z in zones]
            for y in (year - 2, year - 1, year):
                for start in range(0, len(codes), POST_ROWS):
                    body, _ = json_body(doc, codes[start:start + POST_ROWS], y)
                    r = client.post(f"{base}/years/{y}/data", content=body,
                                    headers={**bureau, "Content-Type": "application/json"})
                    if r.status_code != 201:
                        raise SystemExit(f"POST /years/{y}/data answered {r.status_code}: {r.text[:2000]}")
            seeded = n
            evaluations(f"+ {n:,} synthetic zones", cohort=demo_size + n)
    finally:
        _stop(scoring)
        _stop(registry)
        for name in pg_names.values():
            if name:
                asyncio.run(_pg_admin(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
        shutil.rmtree(tmp, ignore_errors=True)
