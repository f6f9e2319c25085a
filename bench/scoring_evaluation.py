"""Scoring evaluation benchmark (issue #5 §7, first bullet).

Synthetic cohorts of 100, 1,000 and 10,000 zones on the 002 framework, scored with the default method
(`nmg-default`: COINr skew/kurtosis treatment, min-max onto [0, 1], compound split 0.5/0.5, experts'
trimmed mean, points summed, half-up rounding to 2 decimals, ties-min ranks) by the service's engine,
against a plain NumPy computation of the same numbers written below (it reads the framework's JSON file
for the tree, and imports nothing from services/). Same data, same run; the two must agree to 1e-9 on every
indicator's points and every aggregate, exactly on the rounded points and on the ranks. Prints the median
and the minimum of several repetitions of each (the minimum is the less
disturbed by other processes on a shared machine), and the ratios (goal: engine ≤ 2 × NumPy at 10,000 zones).

Then (bench/scoring_evaluation_http.py; `--no-http` skips it) the same evaluation as the service runs it:
`POST /evaluations` against the real registry and scoring under uvicorn, PostgreSQL when reachable, on the
demonstration data and on cohorts with synthetic zones added, each beside the engine's time on that cohort;
and the README's uncertainty request over HTTP.

    python bench/scoring_evaluation.py [--sizes 100,1000,10000] [--reps 7] [--seed 1]
                                       [--no-http] [--http-sizes 100,1000] [--http-reps 3] [--sqlite]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
FRAMEWORK_JSON = ROOT / "services" / "scoring" / "frameworks" / "definitions" / "nmg-hitech-2022.json"
GROWTH = {"2.1", "2.2", "2.3:b", "2.4:b", "2.7"}


# ------------------------------------------------------------------ the 002 tree, read from its data file


def tree() -> dict[str, Any]:
    doc = json.loads(FRAMEWORK_JSON.read_text(encoding="utf-8"))
    parents = {n.get("parent") for n in doc["nodes"]}
    leaves = [n for n in doc["nodes"] if n["code"] not in parents]
    cells = []  # (key, indicator, direction, qualitative, share)
    for n in leaves:
        if n.get("parts"):
            used = [p for p in n["parts"] if not p.get("optional")]
            cells += [(f"{n['code']}:{p['code']}", n["code"], p.get("direction", 1), False,
                       (1 / len(used)) if p in used else 0.0) for p in n["parts"]]
        else:
            cells.append((n["code"], n["code"], n.get("direction", 1), n.get("kind") == "qualitative", 1.0))
    return {"cells": cells, "indicators": [n["code"] for n in leaves],
            "points": {n["code"]: float(n["points"]) for n in doc["nodes"]},
            "group": {n["code"]: n["parent"] for n in leaves},
            "groups": [n["code"] for n in doc["nodes"] if n.get("parent") == "index"]}


def synthetic(t: dict[str, Any], n: int, seed: int) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """Skewed ratios, counts, growth that can be negative, ~3 % gaps, and 3–5 experts per qualitative
    indicator (NaN-padded units × 5)."""
    rng = np.random.default_rng(seed)
    values: dict[str, np.ndarray] = {}
    experts: dict[str, np.ndarray] = {}
    for key, ind, _, qualitative, _ in t["cells"]:
        if qualitative:
            s = rng.integers(0, int(t["points"][ind]) * 4 + 1, (n, 5)) / 4
            s[rng.random((n, 5)) < 0.3] = np.nan
            experts[ind] = s
            continue
        if key in GROWTH:
            x = rng.normal(0.05, 0.2, n)
        elif ind in ("2.5", "3.2", "3.3", "3.4", "4.1"):
            x = rng.poisson(4, n).astype(float)
        else:
            x = rng.lognormal(0, 1.2, n)
        x[rng.random(n) < 0.03] = np.nan
        values[key] = x
    return values, experts


# ------------------------------------------------------------------ the plain NumPy computation


def np_skew_kurt(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    ok = ~np.isnan(x)
    n = ok.sum(axis=0)
    d = np.where(ok, x - np.where(ok, x, 0.0).sum(axis=0) / n, 0.0)
    d2 = d * d
    m2, m3, m4 = d2.sum(axis=0), (d2 * d).sum(axis=0), (d2 * d2).sum(axis=0)
    sk = np.sqrt(n) * m3 / m2 ** 1.5 * np.sqrt(n * (n - 1)) / (n - 2)
    ku = ((n + 1) * (n * m4 / m2 ** 2 - 3) + 6) * (n - 1) / ((n - 2) * (n - 3))
    return sk, ku


def np_treat(col: np.ndarray) -> np.ndarray:
    """COINr: winsorise the top/bottom tie group up to 5 points while |skew| ≥ 2 and kurt ≥ 3.5, else
    log(x − min + 0.01·(max − min)) of the original."""
    fails = lambda s, k: abs(s) >= 2 and k >= 3.5  # noqa: E731
    sk, ku = (v[0] for v in np_skew_kurt(col[:, None]))
    if not fails(sk, ku):
        return col
    x = col.copy()
    ok = ~np.isnan(x)
    hi = lo = np.zeros(x.size, dtype=bool)
    nwin = 0
    while fails(sk, ku) and nwin < 5:
        if sk >= 0:
            hi = ok & (x == x[ok].max())
            x[hi] = x[ok & ~hi].max()
        else:
            lo = ok & (x == x[ok].min())
            x[lo] = x[ok & ~lo].min()
        nwin = int(hi.sum() + lo.sum())
        sk, ku = (v[0] for v in np_skew_kurt(x[:, None]))
    if not fails(sk, ku):
        return x
    mn, mx = np.nanmin(col), np.nanmax(col)
    return np.log(col - mn + 0.01 * (mx - mn))


def round_cents(p: np.ndarray) -> np.ndarray:
    """Half up from Decimal(repr(x)): floor(100x + 0.5), with Decimal for values within 1e-6 of a half."""
    y = p * 100
    out = np.floor(y + 0.5)
    near = np.abs(y - np.floor(y) - 0.5) < 1e-6
    ties, back = np.unique(p[near], return_inverse=True)
    settled = [float(Decimal(repr(float(v))).quantize(Decimal("0.01"), ROUND_HALF_UP) * 100) for v in ties]
    out[near] = np.array(settled)[back.ravel()] if ties.size else out[near]
    return out.astype(np.int64)


def numpy_evaluation(t: dict[str, Any], values: dict[str, np.ndarray], experts: dict[str, np.ndarray]) -> dict:
    with np.errstate(invalid="ignore", divide="ignore"):
        return _numpy_evaluation(t, values, experts)


def _numpy_evaluation(t: dict[str, Any], values: dict[str, np.ndarray], experts: dict[str, np.ndarray]) -> dict:
    inds = t["indicators"]
    points_of = np.array([t["points"][i] for i in inds])
    v_ind = np.zeros((next(iter(values.values())).size, len(inds)))
    for key, ind, direction, qualitative, share in t["cells"]:
        k = inds.index(ind)
        if qualitative:
            s = experts[ind]
            ok = ~np.isnan(s)
            cnt, tot = ok.sum(axis=1), np.where(ok, s, 0).sum(axis=1)
            trimmed = (tot - np.where(ok, s, -np.inf).max(axis=1) - np.where(ok, s, np.inf).min(axis=1)) / (cnt - 2)
            combined = np.where(cnt >= 3, trimmed, tot / cnt)
            v_ind[:, k] = np.nan_to_num(combined / t["points"][ind])
            continue
        x = np_treat(values[key]) * direction
        norm = (x - np.nanmin(x)) / (np.nanmax(x) - np.nanmin(x))
        v_ind[:, k] += share * np.nan_to_num(norm)
    pts = v_ind * points_of
    cents = round_cents(pts)
    groups = {g: [k for k, i in enumerate(inds) if t["group"][i] == g] for g in t["groups"]}
    g_pts = np.stack([pts[:, ks].sum(axis=1) for ks in groups.values()], axis=1)
    g_cents = np.stack([cents[:, ks].sum(axis=1) for ks in groups.values()], axis=1)
    total_cents = g_cents.sum(axis=1)
    order = np.argsort(-total_cents, kind="stable")
    sorted_totals = total_cents[order]
    first = np.maximum.accumulate(np.where(np.r_[True, sorted_totals[1:] != sorted_totals[:-1]],
                                           np.arange(order.size), 0))
    ranks = np.empty(order.size, dtype=np.int64)
    ranks[order] = first + 1
    return {"points": pts, "cents": cents, "groups": g_pts, "group_cents": g_cents, "total": g_pts.sum(axis=1),
            "total_cents": total_cents, "ranks": ranks}


# ------------------------------------------------------------------ the engine


def engine_evaluation(framework: Any, method: Any, units: list[str], values: dict[str, np.ndarray],
                      experts: dict[str, np.ndarray]) -> Any:
    from services.scoring.methods.cohort import CohortInput
    from services.scoring.methods.engine import run

    return run(framework, method, CohortInput(units=units, values=values, expert_scores=experts))


def agree(t: dict[str, Any], res: Any, ref: dict[str, Any]) -> None:
    nodes = list(res.nodes)
    ind_cols = [nodes.index(i) for i in t["indicators"]]
    grp_cols = [nodes.index(g) for g in t["groups"]]
    np.testing.assert_allclose(res.scores[:, ind_cols], ref["points"], rtol=0, atol=1e-9)
    np.testing.assert_allclose(res.scores[:, grp_cols], ref["groups"], rtol=0, atol=1e-9)
    np.testing.assert_allclose(res.total, ref["total"], rtol=0, atol=1e-9)
    assert np.array_equal(res.cents[:, ind_cols], ref["cents"])
    assert np.array_equal(res.cents[:, grp_cols], ref["group_cents"])
    assert np.array_equal(res.published(res.root), ref["total_cents"])
    assert np.array_equal(res.rank().astype(np.int64), ref["ranks"])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", default="100,1000,10000")
    ap.add_argument("--reps", type=int, default=7)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--no-http", action="store_true", help="the engine table only")
    ap.add_argument("--http-sizes", default="100,1000",
                    help="synthetic zones added to the demonstration cohort for POST /evaluations (cumulative)")
    ap.add_argument("--http-reps", type=int, default=3)
    ap.add_argument("--sqlite", action="store_true", help="HTTP part on SQLite even when PostgreSQL is reachable")
    args = ap.parse_args()
    sys.path.insert(0, str(ROOT))
    from services.scoring.frameworks.definition import FrameworkDocument
    from services.scoring.frameworks.service import DEFAULT_FRAMEWORK, bundled_documents
    from services.scoring.methods.definition import bundled

    framework = FrameworkDocument.model_validate(next(d for d in bundled_documents() if d["id"] == DEFAULT_FRAMEWORK))
    method = bundled()["nmg-default"]
    t = tree()
    print(f"002 framework, method {method.id} v{method.version}; median of {args.reps} runs each, same data")
    print(f"{'zones':>7} {'engine ms':>10} {'NumPy ms':>9} {'ratio':>6}   {'min engine':>10} {'min NumPy':>9} "
          f"{'ratio':>6}  treated columns")
    for n in (int(s) for s in args.sizes.split(",")):
        values, experts = synthetic(t, n, args.seed + n)
        units = [f"NM-{i}" for i in range(n)]
        res = engine_evaluation(framework, method, units, values, experts)
        ref = numpy_evaluation(t, values, experts)
        agree(t, res, ref)
        engine_s, numpy_s = [], []
        for _ in range(args.reps):  # interleaved, a fresh cohort each time (no cached stages)
            t0 = time.perf_counter()
            engine_evaluation(framework, method, units, values, experts)
            t1 = time.perf_counter()
            numpy_evaluation(t, values, experts)
            t2 = time.perf_counter()
            engine_s.append(t1 - t0)
            numpy_s.append(t2 - t1)
        e, b = statistics.median(engine_s) * 1e3, statistics.median(numpy_s) * 1e3
        me, mb = min(engine_s) * 1e3, min(numpy_s) * 1e3
        treated = sum(1 for d in res.treat_details.values() if d.pass0 is False)
        print(f"{n:>7,} {e:>10.1f} {b:>9.1f} {e / b:>6.2f}   {me:>10.1f} {mb:>9.1f} {me / mb:>6.2f}  "
              f"{treated} of {len(res.treat_details)}")
    print("points, groups, totals agree to 1e-9; published points and ranks identical")
    if not args.no_http:
        import scoring_evaluation_http

        scoring_evaluation_http.run(args)


if __name__ == "__main__":
    main()
