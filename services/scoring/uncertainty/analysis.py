"""Monte Carlo uncertainty analysis of a ranking (issue #5 §4), after COINr's `get_sensitivity(SA_type =
"UA")`: N replications, each drawing the method's uncertain choices (`spec.UncertaintySpec`), scoring the
cohort and ranking it; per unit the nominal rank, the median, mean, 5th and 95th percentile ranks and the
share of replications in which it is last. Pure (no I/O, no database).

    run(framework, method, cohort, spec) -> UncertaintyResult

Draws, in this order, from `numpy.random.default_rng(seed)` (same seed and request → the same draws, and
the same ranks bit for bit): `integers(0, k, N)` for each of impute, treat (alternatives; or `random(N) <
on_probability`), normalise and aggregate that the spec varies; then, with `weights_noise`, `random((N,
nodes))`, one uniform per framework node in the framework's order, the weight of node j in replication r
being w_j + (2u − 1)·f_j·w_j (COINr's `get_noisy_weights`; COINr draws a fixed list of weight sets and
samples among them, here every replication draws its own).

Speed: replications sharing the same discrete choices share one engine run (the cohort's data stages are
cached across them); their weights are applied in a batch, replications × units × nodes, by the same
aggregation as the engine (`_aggregate`, `_round`), and ranked at once.

Percentiles are R's `quantile` type 7 (COINr's `stats::quantile` default; NumPy's `linear`): over the m
ranks a unit received, sorted x_0 ≤ … ≤ x_(m−1), h = (m − 1)·p and Q(p) = x_⌊h⌋ + (h − ⌊h⌋)·(x_⌊h⌋+1 − x_⌊h⌋).
A unit can be unranked in a replication (screened out under another imputation, or a geometric mean meeting a
value ≤ 0: COINr's regeneration would fail there); its statistics are over the replications that ranked it
(`ranked` counts them, as COINr's `na.rm = TRUE`). Last: no unit ranks below it in that replication (ties
with the lowest rank included); `last_share` = such replications / N."""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray

from services.scoring.frameworks.definition import FrameworkDocument
from services.scoring.methods import definition as md
from services.scoring.methods import operations as ops
from services.scoring.methods.cohort import CohortInput
from services.scoring.methods.engine import Compiled, Variant, compile
from services.scoring.methods.result import Result
from services.scoring.uncertainty import spec as us

Array = NDArray[np.float64]
Ints = NDArray[np.int64]
BATCH_CELLS = 2_000_000  # replications × units × nodes held at once
STAT_CELLS = 4_000_000
PERCENTILES = (5.0, 50.0, 95.0)
DIMENSIONS = ("impute", "treat", "normalise", "aggregate")


@dataclass(frozen=True)
class Draws:
    """Each replication's choices (index into the spec's alternatives; treat on/off as 1/0; None: not
    varied) and weight noise (2u − 1)·f per node (replications × nodes), or None."""

    choices: dict[str, Ints | None]
    noise: Array | None


@dataclass(frozen=True)
class UncertaintyResult:
    seed: int
    replications: int
    units: tuple[str, ...]
    nominal_rank: Array  # the method's own ranking (NaN: unranked)
    ranks: NDArray[np.float32]  # replications × units (NaN: unranked in that replication)
    median_rank: Array
    mean_rank: Array
    p05_rank: Array
    p95_rank: Array
    last_share: Array
    ranked: Ints  # replications that ranked the unit
    seconds: float
    draws: Draws = field(repr=False)
    spec: us.UncertaintySpec = field(repr=False)

    @property
    def seconds_per_replication(self) -> float:
        return self.seconds / self.replications

    def zones(self) -> list[dict[str, Any]]:
        """Per unit, JSON-ready (None where a statistic is undefined)."""
        def num(v: Any) -> float | None:
            return None if np.isnan(v) else float(v)

        return [{"unit": u, "nominal_rank": num(self.nominal_rank[i]), "median_rank": num(self.median_rank[i]),
                 "mean_rank": num(self.mean_rank[i]), "rank_p05": num(self.p05_rank[i]),
                 "rank_p95": num(self.p95_rank[i]), "last_share": float(self.last_share[i]),
                 "ranked": int(self.ranked[i])} for i, u in enumerate(self.units)]

    def summary(self) -> dict[str, Any]:
        return {"seed": self.seed, "replications": self.replications, "seconds": self.seconds,
                "seconds_per_replication": self.seconds_per_replication,
                "percentiles": "R quantile type 7 (linear interpolation) over the replications ranking the unit",
                "spec": self.spec.model_dump(mode="json", exclude_none=True)}


# ------------------------------------------------------------------------------------------ drawing


def noise_factors(spec: us.UncertaintySpec, framework: FrameworkDocument) -> Array:
    """f per framework node: its own entry, else its level's, else 0."""
    by_level = {e.level: e.noise for e in spec.weights_noise or [] if e.level is not None}
    by_node = {e.node: e.noise for e in spec.weights_noise or [] if e.node is not None}
    return np.array([by_node.get(n.code, by_level.get(framework.levels[n.code], 0.0)) for n in framework.nodes])


def draw(spec: us.UncertaintySpec, framework: FrameworkDocument, rng: np.random.Generator) -> Draws:
    n = spec.replications
    choices: dict[str, Ints | None] = dict.fromkeys(DIMENSIONS)
    if spec.impute:
        choices["impute"] = rng.integers(0, len(spec.impute), n)
    if spec.treat is not None:
        if spec.treat.alternatives is not None:
            choices["treat"] = rng.integers(0, len(spec.treat.alternatives), n)
        else:
            choices["treat"] = (rng.random(n) < float(spec.treat.on_probability or 0.0)).astype(np.int64)
    if spec.normalise:
        choices["normalise"] = rng.integers(0, len(spec.normalise), n)
    if spec.aggregate:
        choices["aggregate"] = rng.integers(0, len(spec.aggregate), n)
    noise = None
    if spec.weights_noise:
        noise = (rng.random((n, len(framework.nodes))) * 2 - 1) * noise_factors(spec, framework)
    return Draws(choices, noise)


def noisy_weights(c: Compiled, noise: Array | None, rows: int) -> Array:
    """Replications × nodes weights: w + (2u − 1)·f·w; for points_sum each node's points times its own and
    its ancestors' factors 1 + (2u − 1)·f (a group's points are its indicators' summed)."""
    base = c.base_weights
    if noise is None:
        return np.broadcast_to(base, (rows, base.size))
    if c.aggregate != "points_sum":
        return base + noise * base
    g = 1.0 + noise
    for parents, kids, pos in reversed(c.levels):  # from the index down
        g[:, kids] = g[:, kids] * g[:, parents][:, pos]
    return base * g


# ------------------------------------------------------------------------------------------ batched scoring


def rank_basis(c: Compiled, res: Result, w: Array) -> Array:
    """Replications × units: the index as the engine ranks it (published cents when the method rounds,
    else the score; NaN when unscored) for each row of weights `w`, the engine's aggregation batched."""
    r = w.shape[0]
    values = res.indicator_values  # units × indicators, NaN for screened-out units
    n, nodes = values.shape[0], len(c.nodes)
    scores = np.full((r, n, nodes), np.nan)
    scale = np.ones((r, n, nodes))
    ind = c.indicator_nodes
    scores[:, :, ind] = values[None] * w[:, None, ind] if c.aggregate == "points_sum" else values[None]
    drop = c.policy == "drop_renormalise"
    for parents, kids, pos in c.levels:
        v = scores[:, :, kids]
        if c.aggregate == "points_sum":
            member = np.zeros((kids.size, parents.size))
            member[np.arange(kids.size), pos] = 1.0
            present = ~np.isnan(v)
            total = np.where(present, v, 0.0) @ member
            if drop:  # the engine's P·Σ S / Σ P_present
                with np.errstate(invalid="ignore", divide="ignore"):
                    den = present.astype(np.float64) @ (member[None] * w[:, kids][:, :, None])
                    factor = np.where(den > 0, w[:, None, parents] / den, np.nan)
                scores[:, :, parents] = total * factor
                scale[:, :, kids] = factor[:, :, pos]
            else:
                scores[:, :, parents] = total
        else:
            ww = np.zeros((r, kids.size, parents.size))
            ww[:, np.arange(kids.size), pos] = w[:, kids]
            if not drop:
                v = np.where(np.isnan(v), 0.0, v)
            scores[:, :, parents] = ops.a_amean(v, ww) if c.aggregate == "amean" else ops.a_gmean(v, ww)
    root = c.node_index[c.framework.root.code]
    total = scores[:, :, root]
    total[:, ~res.included] = np.nan
    if c.places is None:
        return total
    if c.aggregate != "points_sum":
        basis = ops.round_half_up(total, c.places).astype(np.float64)
    else:  # the root's published figure is the sum of every indicator's rounded points
        points = scores[:, :, ind]
        if drop:
            multiplier = np.ones_like(scale)
            for parents, kids, pos in reversed(c.levels):
                multiplier[:, :, kids] = multiplier[:, :, parents][:, :, pos] * scale[:, :, kids]
            points = points * multiplier[:, :, ind]
        basis = ops.round_half_up(points, c.places).sum(axis=2).astype(np.float64)
    basis[np.isnan(total)] = np.nan
    return basis


def rank_rows(basis: Array) -> NDArray[np.float32]:
    """Each row ranked highest first, ties sharing the lowest rank (R `rank(-x, ties.method = "min")`),
    NaN kept NaN: `ops.rank_min` vectorised over rows."""
    missing = np.isnan(basis)
    key = np.where(missing, np.inf, -basis)
    order = np.argsort(key, axis=1, kind="stable")
    sorted_ = np.take_along_axis(key, order, axis=1)
    starts = np.ones(sorted_.shape, dtype=bool)
    starts[:, 1:] = sorted_[:, 1:] != sorted_[:, :-1]
    first = np.maximum.accumulate(np.where(starts, np.arange(basis.shape[1])[None, :], 0), axis=1)
    out = np.empty(basis.shape, dtype=np.float32)
    np.put_along_axis(out, order, (first + 1).astype(np.float32), axis=1)
    out[missing] = np.nan
    return out


# ------------------------------------------------------------------------------------------ statistics


def rank_statistics(ranks: NDArray[np.floating[Any]]) -> dict[str, Any]:
    """Per unit (column) over the replications (rows) that ranked it: type-7 percentiles 5/50/95, mean,
    count; and the share of all rows in which it holds the highest rank number (last, ties included)."""
    reps, n = ranks.shape
    out = {k: np.full(n, np.nan) for k in ("p05", "median", "p95", "mean")}
    ranked = (~np.isnan(ranks)).sum(axis=0)
    last = np.zeros(n, dtype=np.int64)
    worst = np.full(reps, np.nan)
    any_row = (~np.isnan(ranks)).any(axis=1)
    worst[any_row] = np.nanmax(ranks[any_row], axis=1)
    step = max(1, STAT_CELLS // max(reps, 1))
    for lo in range(0, n, step):
        block = ranks[:, lo:lo + step].astype(np.float64)
        last[lo:lo + step] = (block == worst[:, None]).sum(axis=0)
        cols = np.flatnonzero(ranked[lo:lo + step] > 0)
        if not cols.size:
            continue
        sub = block[:, cols]
        if np.isnan(sub).any():
            q = np.nanpercentile(sub, PERCENTILES, axis=0, method="linear")
            mean = np.nanmean(sub, axis=0)
        else:
            q = np.percentile(sub, PERCENTILES, axis=0, method="linear")
            mean = sub.mean(axis=0)
        for k, row in zip(("p05", "median", "p95"), q, strict=True):
            out[k][lo + cols] = row
        out["mean"][lo + cols] = mean
    out["ranked"] = ranked.astype(np.int64)
    out["last_share"] = last / reps
    return out


# ------------------------------------------------------------------------------------------ run


class _Variants:
    """The compiled method per (treatment, aggregation) choice, and per normalisation/imputation through
    the engine's own `Variant`s (compiled once each; the cohort caches their data stages)."""

    def __init__(self, framework: FrameworkDocument, method: md.MethodDocument, spec: us.UncertaintySpec) -> None:
        self.framework, self.method, self.spec = framework, method, spec
        self._compiled: dict[tuple[int, int], Compiled] = {}

    def get(self, impute: int, treat: int, normalise: int, aggregate: int) -> tuple[Compiled, Variant]:
        s = self.spec
        key = (treat, aggregate)
        if key not in self._compiled:
            treat_choice: Any = None
            if s.treat is not None and treat >= 0:
                treat_choice = s.treat.alternatives[treat] if s.treat.alternatives is not None else bool(treat)
            agg = s.aggregate[aggregate] if s.aggregate and aggregate >= 0 else None
            self._compiled[key] = Compiled(self.framework, us.variant_method(self.method, treat=treat_choice,
                                                                             aggregate=agg))
        variant = Variant(normalise=s.normalise[normalise] if s.normalise and normalise >= 0 else None,
                          impute=s.impute[impute] if s.impute and impute >= 0 else None)
        return self._compiled[key], variant


def run(framework: FrameworkDocument, method: md.MethodDocument, cohort: CohortInput,
        spec: us.UncertaintySpec) -> UncertaintyResult:
    """The analysis of one cohort under one method (SpecInvalid / MethodInvalid when they do not suit)."""
    started = time.perf_counter()
    nominal = compile(framework, method)
    n = len(cohort.units)
    problems = us.validate(spec, framework, method, n)
    if problems:
        raise us.SpecInvalid(problems)
    seed = spec.seed if spec.seed is not None else secrets.randbits(53)
    draws = draw(spec, framework, np.random.default_rng(seed))
    reps = spec.replications
    none = np.full(reps, -1, dtype=np.int64)
    table = np.stack([c if (c := draws.choices[d]) is not None else none for d in DIMENSIONS], axis=1)
    combos, which = np.unique(table, axis=0, return_inverse=True)
    which = which.ravel()
    variants = _Variants(framework, method, spec)
    ranks = np.empty((reps, n), dtype=np.float32)
    batch = max(1, BATCH_CELLS // max(1, n * len(framework.nodes)))
    for k, combo in enumerate(combos):
        compiled, variant = variants.get(*(int(x) for x in combo))
        base = compiled.run(cohort, variant)  # the data stages and normalised values, shared below
        chosen = compiled.variant(variant)
        rows = np.flatnonzero(which == k)
        for lo in range(0, rows.size, batch):
            part = rows[lo:lo + batch]
            weights = noisy_weights(chosen, draws.noise[part] if draws.noise is not None else None, part.size)
            ranks[part] = rank_rows(rank_basis(chosen, base, weights))
    stats = rank_statistics(ranks)
    return UncertaintyResult(
        seed=seed, replications=reps, units=tuple(cohort.units), nominal_rank=nominal.run(cohort).rank(),
        ranks=ranks, median_rank=stats["median"], mean_rank=stats["mean"], p05_rank=stats["p05"],
        p95_rank=stats["p95"], last_share=stats["last_share"], ranked=stats["ranked"],
        seconds=time.perf_counter() - started, draws=draws, spec=spec)


__all__ = ["Draws", "UncertaintyResult", "draw", "noise_factors", "rank_statistics", "run"]
