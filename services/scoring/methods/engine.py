"""The evaluation engine: a framework and a method compiled once into arrays (`compile`), then applied to
a cohort (`Compiled.run`) as whole-matrix NumPy operations, every stage kept (`result.Result`). Pure.

    run(framework, method, cohort) -> Result
    compile(framework, method) -> Compiled;  Compiled.run(cohort, variant=None) -> Result

A Monte Carlo (issue #5 §4) compiles once and calls `run` with `Variant`s (normalisation, imputation,
treatment on/off, weights): variants of the same stages share the cohort's cached treated data."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from services.scoring.frameworks.definition import FrameworkDocument
from services.scoring.methods import definition as md
from services.scoring.methods import operations as ops
from services.scoring.methods.cohort import CohortInput, cell_key
from services.scoring.methods.result import Result
from services.scoring.methods.stages import stages
from services.scoring.methods.treatment import TreatDetail

Array = NDArray[np.float64]
POINTS_SCALE = "points"  # a qualitative cell normalised as experts' score / indicator points


@dataclass(frozen=True)
class Variant:
    """Knobs a Monte Carlo turns: one normalisation for every indicator, one imputation rule for every
    reason, treatment on (the method's, or COINr's default) or off, node weights (points for points_sum)."""

    normalise: Any = None
    impute: Any = None
    treat: bool | None = None
    weights: Mapping[str, float] | None = None


@dataclass(frozen=True)
class Cell:
    key: str
    indicator: str
    part: str | None
    direction: int
    qualitative: bool
    denominator: str | None


class Compiled:
    """A framework + method as index arrays and per-column specifications, reused across runs."""

    def __init__(self, framework: FrameworkDocument, method: md.MethodDocument) -> None:
        self.framework, self.method = framework, method
        fw = framework
        denom = method.op("denominate")
        cells: list[Cell] = []
        for node in fw.indicators:
            override = denom.overrides.get(node.code, node.denominator) if denom else None
            if node.parts:
                cells += [Cell(cell_key(node.code, p.code), node.code, p.code, p.direction, False, override)
                          for p in node.parts]
            else:
                cells.append(Cell(node.code, node.code, None, node.direction, node.kind == "qualitative",
                                  None if node.kind == "qualitative" else override))
        self.cells = cells
        self.indicators = [n.code for n in fw.indicators]
        self.nodes = [n.code for n in fw.nodes]
        self.node_index = {c: i for i, c in enumerate(self.nodes)}
        self.indicator_nodes = np.array([self.node_index[c] for c in self.indicators])
        self.cell_indicator = np.array([self.indicators.index(c.indicator) for c in cells])
        self.direction = np.array([c.direction for c in cells], dtype=np.float64)
        self.qualitative = np.array([c.qualitative for c in cells])
        self.policy = method.missing_policy
        agg = method.op("aggregate")
        self.aggregate = agg.method
        qual = method.op("qualitative") or md.Qualitative(op="qualitative")
        self.combine, self.qual_scale = qual.combine, qual.scale
        rnd = method.op("round")
        self.places: int | None = rnd.places if rnd else None
        self.shares = self._shares(method.op("compound") or md.Compound(op="compound"))
        self.points = np.array([float(n.points) if n.points is not None else np.nan for n in fw.nodes])
        self.base_weights = np.array([agg.weights.get(n.code, float(n.weight) if n.weight is not None else np.nan)
                                      if self.aggregate != "points_sum" else
                                      agg.weights.get(n.code, float(n.points) if n.points is not None else np.nan)
                                      for n in fw.nodes])
        self.levels = self._levels()
        self._variants: dict[str, Compiled] = {}
        self._transforms = [o for o in method.operations if o.op in md.TRANSFORMS]
        self.stage_key = json.dumps([o.model_dump(mode="json") for o in self._transforms], sort_keys=True)
        norm = method.op("normalise")
        self.norm_specs: list[Any] = [
            POINTS_SCALE if c.qualitative and self.qual_scale == "points" else norm.overrides.get(c.indicator,
                                                                                                norm.default)
            for c in cells]
        groups: dict[str, tuple[Any, list[int]]] = {}  # columns normalised alike, one call each
        for j, spec in enumerate(self.norm_specs):
            k = spec if isinstance(spec, str) else json.dumps(spec.model_dump(mode="json"), sort_keys=True)
            groups.setdefault(k, (spec, []))[1].append(j)
        self.norm_groups = [(spec, np.array(cols)) for spec, cols in groups.values()]

    # ------------------------------------------------------------------ compile helpers

    def _shares(self, compound: md.Compound) -> Array:
        """cells × indicators: each cell's share of its indicator (1 for a simple indicator; SPEC 8.2)."""
        s = np.zeros((len(self.cells), len(self.indicators)))
        nodes = self.framework.nodes_by_code
        for j, c in enumerate(self.cells):
            k = self.indicators.index(c.indicator)
            if c.part is None:
                s[j, k] = 1.0
                continue
            part = next(p for p in nodes[c.indicator].parts or [] if p.code == c.part)
            if part.optional and not compound.optional_parts:
                continue
            split = compound.overrides.get(c.indicator, compound.split)
            s[j, k] = split.get(c.part, 0.0)
        totals = s.sum(axis=0)
        return s / np.where(totals > 0, totals, 1.0)

    def _levels(self) -> list[tuple[NDArray[np.int64], NDArray[np.int64], NDArray[np.int64]]]:
        """Per aggregation level (COINr's numbering, 2 up): (parent node indices, child node indices,
        child → parent position)."""
        fw = self.framework
        out = []
        for level in range(2, max(fw.levels.values()) + 1):
            parents = [n.code for n in fw.nodes if fw.levels[n.code] == level]
            kids = [(k.code, p) for p_i, p in enumerate(parents) for k in fw.children.get(p, [])]
            out.append((np.array([self.node_index[p] for p in parents]),
                        np.array([self.node_index[k] for k, _ in kids]),
                        np.array([parents.index(p) for _, p in kids])))
        return out

    def variant(self, v: Variant | None) -> Compiled:
        """The method with a variant's normalisation / imputation / treatment (compiled once per kind)."""
        if v is None or (v.normalise is None and v.impute is None and v.treat is None):
            return self
        key = json.dumps([getattr(v.normalise, "model_dump", lambda **_: None)(mode="json"),
                          getattr(v.impute, "model_dump", lambda **_: None)(mode="json"), v.treat], sort_keys=True)
        if key not in self._variants:
            operations = []
            for o in self.method.operations:
                if o.op == "normalise" and v.normalise is not None:
                    o = md.Normalise(op="normalise", default=v.normalise)
                elif o.op == "impute" and v.impute is not None:
                    o = md.Impute.model_validate({"op": "impute", "default": v.impute, "by_reason": {
                        r: v.impute for r in md.REASONS if r != "qualitative"}}, strict=False)
                elif o.op == "treat" and v.treat is False:
                    continue
                operations.append(o)
            kinds = [o.op for o in operations]
            if v.impute is not None and "impute" not in kinds:
                at = kinds.index("denominate") + 1 if "denominate" in kinds else 0
                operations.insert(at, md.Impute(op="impute", default=v.impute))
            if v.treat is True and "treat" not in kinds:
                operations.insert([o.op for o in operations].index("normalise"), md.Treat(op="treat"))
            method = self.method.model_copy(update={"operations": operations})
            self._variants[key] = Compiled(self.framework, method)
        return self._variants[key]

    # ------------------------------------------------------------------ run

    def run(self, cohort: CohortInput, variant: Variant | None = None) -> Result:
        compiled = self.variant(variant)
        weights = compiled.base_weights
        if variant is not None and variant.weights:
            weights = weights.copy()
            for code, w in variant.weights.items():
                weights[compiled.node_index[code]] = w
        return compiled._run(cohort, weights)

    def _normalise(self, x: Array) -> Array:
        out = np.full(x.shape, np.nan)
        for spec, idx in self.norm_groups:
            if spec == POINTS_SCALE:
                pts = self.points[self.indicator_nodes[self.cell_indicator[idx]]]
                out[:, idx] = x[:, idx] / pts
                continue
            xd = x[:, idx] * self.direction[idx]
            m = spec.method
            if m == "minmax":
                out[:, idx] = ops.n_minmax(xd, spec.lo, spec.hi)
            elif m == "efficacy":
                out[:, idx] = ops.n_efficacy(xd, spec.base, spec.span, spec.scaled)
            elif m == "zscore":
                out[:, idx] = ops.n_zscore(xd, spec.mean, spec.sd)
            elif m == "prank":
                out[:, idx] = ops.n_prank(xd)
            elif m == "frontier":
                out[:, idx] = ops.n_frontier(xd)
            else:
                for k, j in enumerate(idx):
                    out[:, j] = ops.n_goalposts(xd[:, k], spec.lo, spec.hi, spec.scale, int(self.direction[j]),
                                                spec.truncate)
        return out

    def _run(self, cohort: CohortInput, weights: Array) -> Result:
        st = stages(self, cohort)
        inc = st["included"]
        n = len(cohort.units)
        every = bool(inc.all())
        if every:
            normalised = self._normalise(st["final"])
        else:
            normalised = np.full(st["final"].shape, np.nan)
            normalised[inc] = self._normalise(st["final"][inc])
        counted = self.shares.sum(axis=1) > 0
        missing = np.isnan(normalised)
        flagged = missing & counted[None, :] & inc[:, None]
        if self.policy == "zero_flagged":
            values = np.where(missing, 0.0, normalised) @ self.shares
        else:
            values = ops.a_amean(normalised, self.shares)
        if not every:
            values[~inc] = np.nan
        scores = np.full((n, len(self.nodes)), np.nan)
        scale = np.ones((n, len(self.nodes)))
        if self.aggregate == "points_sum":
            scores[:, self.indicator_nodes] = values * weights[self.indicator_nodes]
        else:
            scores[:, self.indicator_nodes] = values
        self._aggregate(scores, scale, weights)
        if not every:
            scores[~inc] = np.nan
        cents = None
        if self.places is not None:
            cents = self._round(scores, scale)
        return Result(compiled=self, units=tuple(cohort.units), stages=st, normalised=normalised, flagged=flagged,
                      indicator_values=values, scores=scores, cents=cents, weights=weights)

    def _aggregate(self, scores: Array, scale: Array, weights: Array) -> None:
        drop = self.policy == "drop_renormalise"
        for parents, kids, pos in self.levels:
            v = scores[:, kids]
            w = np.zeros((kids.size, parents.size))
            if self.aggregate == "points_sum":
                w[np.arange(kids.size), pos] = 1.0
                present = ~np.isnan(v)
                total = np.where(present, v, 0.0) @ w
                if drop:  # missing children's points shared among those present: P·Σ S / Σ P_present
                    with np.errstate(invalid="ignore", divide="ignore"):
                        den = present.astype(np.float64) @ (w * weights[kids][:, None])
                        factor = np.where(den > 0, weights[parents][None, :] / den, np.nan)
                    scores[:, parents] = total * factor
                    scale[:, kids] = factor[:, pos]
                else:
                    scores[:, parents] = total
            else:
                w[np.arange(kids.size), pos] = weights[kids]
                if not drop:
                    v = np.where(np.isnan(v), 0.0, v)
                scores[:, parents] = ops.a_amean(v, w) if self.aggregate == "amean" else ops.a_gmean(v, w)

    def _round(self, scores: Array, scale: Array) -> NDArray[np.int64]:
        """Published figures (`round`): for points_sum the indicator points (times their share of any missing
        sibling's points, so that the table adds up) rounded half up, each aggregate the sum of its
        children's rounded figures; otherwise every node rounded on its own."""
        assert self.places is not None
        if self.aggregate != "points_sum":
            return ops.round_half_up(scores, self.places)
        points = scores[:, self.indicator_nodes]
        if self.policy == "drop_renormalise":
            multiplier = np.ones_like(scale)
            for parents, kids, pos in reversed(self.levels):
                multiplier[:, kids] = multiplier[:, parents][:, pos] * scale[:, kids]
            points = points * multiplier[:, self.indicator_nodes]
        cents = np.zeros(scores.shape, dtype=np.int64)
        cents[:, self.indicator_nodes] = ops.round_half_up(points, self.places)
        for parents, kids, pos in self.levels:
            for k, parent in enumerate(parents):
                cents[:, parent] = cents[:, kids[pos == k]].sum(axis=1)
        return cents


def compile(framework: FrameworkDocument, method: md.MethodDocument) -> Compiled:
    """The method checked against the framework (MethodInvalid otherwise) and compiled for reuse."""
    problems = md.validate(method, framework)
    if problems:
        raise md.MethodInvalid(problems)
    return Compiled(framework, method)


def run(framework: FrameworkDocument, method: md.MethodDocument, cohort: CohortInput,
        variant: Variant | None = None) -> Result:
    """One evaluation of a cohort: every stage, trace, aggregates, rounded points and ranks."""
    return compile(framework, method).run(cohort, variant)


__all__ = ["Compiled", "TreatDetail", "Variant", "compile", "run"]
