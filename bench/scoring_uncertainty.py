"""Uncertainty analysis benchmark (issue #5 §7, second bullet).

(a) 1,000 replications for 200 synthetic 002 zones, default method (`nmg-default`), varying the
    normalisation (min-max, efficacy coefficient, percentile rank), every weight ±25 % (indicators' points
    and groups, COINr's get_noisy_weights) and the outlier treatment on/off (probability 0.5);
(b) COINr's documented specification on ASEM (`uncertainty/definitions/asem-coinr-sa.json`: winmax 1..5,
    min-max 1–100 or z-score (10, 2), weights ±25 % at levels 2 and 3, arithmetic or geometric mean) with
    the `asem-coinr` method, at COINr's N = 100 and at N = 1,000.

Each case runs on a fresh cohort (cold: every data stage computed inside the timing) and then once more
on the same cohort (warm: treated data cached). Seconds include validation, compilation, every engine run,
the batched weights and ranks and the statistics. Also printed for (a): the per-replication engine loop
(`Compiled.run` with the drawn `Variant`, then `rank()`) that the batching replaces. COINr needs about
0.23 s per replication on ASEM on this kind of machine (goal: ≥ 50× faster, ≤ 4.6 ms).

    python bench/scoring_uncertainty.py [--reps 3] [--zones 200] [--replications 1000]
"""

from __future__ import annotations

import argparse
import csv
import math
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from services.scoring.frameworks.definition import FrameworkDocument  # noqa: E402
from services.scoring.frameworks.service import ASEM_FRAMEWORK, DEFAULT_FRAMEWORK, bundled_documents  # noqa: E402
from services.scoring.methods import definition as md  # noqa: E402
from services.scoring.methods.cohort import CohortInput, cell_key  # noqa: E402
from services.scoring.methods.engine import Variant, compile  # noqa: E402
from services.scoring.uncertainty import spec as us  # noqa: E402
from services.scoring.uncertainty.analysis import UncertaintyResult, run  # noqa: E402

COINR_SECONDS = 0.23
ASEM_CSV = ROOT / "tests" / "scoring" / "methods" / "coinr_default" / "ASEM_iData_unrounded.csv"
GROWTH = {"2.1", "2.2", "2.3:b", "2.4:b", "2.7"}


def framework(framework_id: str) -> FrameworkDocument:
    return FrameworkDocument.model_validate(next(d for d in bundled_documents() if d["id"] == framework_id))


def zones(fw: FrameworkDocument, n: int, seed: int = 7) -> CohortInput:
    """Skewed ratios, counts, growth that can be negative, ~7 % gaps, 3–5 experts per qualitative indicator."""
    rng = np.random.default_rng(seed)
    values: dict[str, np.ndarray] = {}
    experts: dict[str, np.ndarray] = {}
    for node in fw.indicators:
        if node.kind == "qualitative":
            s = rng.integers(0, int(node.points or 1) * 4 + 1, (n, 5)) / 4
            s[:, 3:][rng.random((n, 2)) < 0.5] = np.nan
            experts[node.code] = s
            continue
        for part in [p.code for p in node.parts] if node.parts else [None]:
            key = cell_key(node.code, part)
            x = rng.normal(0.05, 0.2, n) if key in GROWTH else rng.poisson(4, n).astype(float) \
                if node.kind == "count" else rng.lognormal(0, 1.2, n)
            x[rng.random(n) < 0.07] = np.nan
            values[key] = x
    return CohortInput(units=[f"NM-{i}" for i in range(n)], values=values, expert_scores=experts)


def asem_cohort(fw: FrameworkDocument) -> CohortInput:
    with ASEM_CSV.open(encoding="utf-8", newline="") as f:
        rows = list(csv.DictReader(f))

    def num(t: str) -> float:
        return math.nan if t in ("", "NA") else float(t)

    return CohortInput(units=[r["uCode"] for r in rows],
                       values={n.code: np.array([num(r[n.code]) for r in rows]) for n in fw.indicators},
                       denominators={v: np.array([num(r[v]) for r in rows])
                                     for v in ("Area", "Energy", "GDP", "Population")},
                       groups={g: [r[g] or None for r in rows]
                               for g in ("GDP_group", "GDPpc_group", "Pop_group", "EurAsia_group")})


def timed(label: str, reps: int, make: Callable[[], CohortInput], fw: FrameworkDocument, method: md.MethodDocument,
          spec: us.UncertaintySpec) -> UncertaintyResult:
    cold, warm = [], []
    result = None
    for _ in range(reps):
        cohort = make()
        result = run(fw, method, cohort, spec)
        cold.append(result.seconds)
        warm.append(run(fw, method, cohort, spec).seconds)
    assert result is not None
    n = spec.replications
    for kind, times in (("cold", cold), ("warm", warm)):
        best, med = min(times), statistics.median(times)
        print(f"{label:<46} {kind}: {med:8.3f} s total (min {best:.3f}), {med / n * 1e3:7.3f} ms/replication "
              f"(min {best / n * 1e3:.3f}); COINr 0.23 s/rep ÷ this = {COINR_SECONDS / (med / n):,.0f}×")
    return result


def engine_loop(fw: FrameworkDocument, method: md.MethodDocument, cohort: CohortInput, result: UncertaintyResult,
                count: int) -> float:
    """Seconds per replication of the plain loop: one `Compiled.run` + `rank()` per replication, same draws
    (normalisation, treatment on/off, indicator points; the group factors folded in as the analysis does)."""
    spec = result.spec
    compiled = compile(fw, method)
    norm, on, noise = result.draws.choices["normalise"], result.draws.choices["treat"], result.draws.noise
    assert norm is not None and on is not None and noise is not None and spec.normalise is not None
    nodes = [n.code for n in fw.nodes]
    index = {c: j for j, c in enumerate(nodes)}
    compiled.run(cohort)
    started = time.perf_counter()
    for r in range(count):
        factor = 1.0 + noise[r]
        weights = {}
        for node in fw.indicators:
            w = float(node.points or 0) * factor[index[node.code]]
            parent = node.parent
            while parent is not None:
                w *= factor[index[parent]]
                parent = fw.nodes_by_code[parent].parent
            weights[node.code] = w
        ranks = compiled.run(cohort, Variant(normalise=spec.normalise[norm[r]], treat=bool(on[r]),
                                             weights=weights)).rank()
        assert np.array_equal(ranks, result.ranks[r], equal_nan=True), r
    return (time.perf_counter() - started) / count


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--zones", type=int, default=200)
    parser.add_argument("--replications", type=int, default=1000)
    args = parser.parse_args()
    nmg, asem = framework(DEFAULT_FRAMEWORK), framework(ASEM_FRAMEWORK)

    spec_a = us.parse({"replications": args.replications, "seed": 1,
                       "normalise": [{"method": "minmax"}, {"method": "efficacy"}, {"method": "prank"}],
                       "weights_noise": [{"level": 1, "noise": 0.25}, {"level": 2, "noise": 0.25}],
                       "treat": {"on_probability": 0.5}})
    method_a = md.bundled()["nmg-default"]
    label = f"(a) 002, {args.zones} zones, N = {args.replications:,}"
    result = timed(label, args.reps, lambda: zones(nmg, args.zones), nmg, method_a, spec_a)
    loop = engine_loop(nmg, method_a, zones(nmg, args.zones), result, min(200, args.replications))
    print(f"{'    engine loop, same draws (ranks equal)':<46} warm: {loop * 1e3:7.3f} ms/replication; batched "
          f"is {loop / (result.seconds / args.replications):.1f}× faster")
    moved = float(np.mean(np.abs(result.p95_rank - result.p05_rank)))
    print(f"    mean 5–95 % rank interval width {moved:.1f} ranks; last at least once: "
          f"{int((result.last_share > 0).sum())} zones")

    sa = us.bundled()["asem-coinr-sa"]
    method_b = md.bundled()["asem-coinr"]
    for n in (sa.replications, 1000):
        res = timed(f"(b) COINr's ASEM spec, 51 units, N = {n:,}", args.reps, lambda: asem_cohort(asem), asem,
                    method_b, sa.model_copy(update={"replications": n}))
    print(f"    mean 5–95 % rank interval width {float(np.mean(res.p95_rank - res.p05_rank)):.1f} ranks")


if __name__ == "__main__":
    main()
