"""What an evaluation computed: every stage as units × columns arrays, the treatment log, every node's
score, the published (rounded) figures as exact integers, ranks, and a per-cell trace built on demand.
Rows follow `units`; columns `cells` (indicators and parts of compound indicators) or `nodes` (the
framework's nodes in its order). Pure."""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from functools import cached_property
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import NDArray

from services.scoring.methods import operations as ops
from services.scoring.methods.cohort import REASON_NAME
from services.scoring.methods.treatment import TreatDetail

if TYPE_CHECKING:
    from services.scoring.methods.engine import Compiled

Array = NDArray[np.float64]


def _num(v: Any) -> float | None:
    return None if v is None or np.isnan(v) else float(v)


@dataclass
class Result:
    compiled: Compiled
    units: tuple[str, ...]
    stages: dict[str, Any]
    normalised: Array  # units × cells, direction applied, NaN for screened-out units
    flagged: NDArray[np.bool_]  # units × cells: missing when aggregated (0 points, or dropped)
    indicator_values: Array  # units × indicators: normalised, compound parts combined by their shares
    scores: Array  # units × nodes: points (points_sum) or normalised value (indicators) and aggregates
    cents: NDArray[np.int64] | None  # units × nodes: published figures in units of 10^-places, or None
    weights: Array  # per node: the weight (or points) used
    _ranks: dict[str, Array] = field(default_factory=dict, repr=False)

    # ------------------------------------------------------------------ labels

    @cached_property
    def cells(self) -> tuple[str, ...]:
        return tuple(c.key for c in self.compiled.cells)

    @cached_property
    def unit_index(self) -> dict[str, int]:
        return {u: i for i, u in enumerate(self.units)}

    @cached_property
    def cell_index(self) -> dict[str, int]:
        return {c: j for j, c in enumerate(self.cells)}

    @property
    def indicators(self) -> tuple[str, ...]:
        return tuple(self.compiled.indicators)

    @property
    def nodes(self) -> tuple[str, ...]:
        return tuple(self.compiled.nodes)

    @property
    def aggregates(self) -> tuple[str, ...]:
        inds = set(self.compiled.indicators)
        return tuple(c for c in self.compiled.nodes if c not in inds)

    @property
    def root(self) -> str:
        return self.compiled.framework.root.code

    # ------------------------------------------------------------------ stages (units × cells)

    @property
    def raw(self) -> Array:
        return self.stages["raw"]

    @property
    def reasons(self) -> NDArray[np.int8]:
        """Reason code per cell after denomination (0 defined; see cohort.REASON_NAME)."""
        return self.stages["final_reasons"]

    @property
    def denominated(self) -> Array:
        return self.stages["denominated"]

    @property
    def imputed(self) -> Array:
        return self.stages["imputed"]

    @property
    def imputed_mask(self) -> NDArray[np.bool_]:
        return self.stages["imputed_rule"] >= 0

    @property
    def included(self) -> NDArray[np.bool_]:
        """Units kept by screening (all when the method does not screen)."""
        return self.stages["included"]

    @property
    def treated(self) -> Array:
        t = self.stages["treated"].copy()
        t[~self.included] = np.nan
        return t

    @property
    def winsorised(self) -> NDArray[np.bool_]:
        return self.stages["winsorised"]

    @property
    def treat_details(self) -> dict[str, TreatDetail]:
        """Cell → COINr's Dets_Table row (only cells the method treats)."""
        return self.stages["treat_details"]

    @property
    def log_transformed(self) -> set[str]:
        return {k for k, d in self.treat_details.items() if d.log}

    # ------------------------------------------------------------------ scores, published figures, ranks

    def score(self, node: str) -> Array:
        return self.scores[:, self.compiled.node_index[node]]

    @property
    def total(self) -> Array:
        return self.score(self.root)

    def published(self, node: str) -> NDArray[np.int64]:
        """A node's published figures in units of 10^-places (the method rounds)."""
        if self.cents is None:
            raise ValueError("the method does not round")
        return self.cents[:, self.compiled.node_index[node]]

    def rank(self, node: str | None = None) -> Array:
        """Rank of every unit on a node (the index by default): highest first, ties share the lowest rank
        (R's ties.method = "min"), from the published figures when the method rounds; NaN when unscored."""
        node = node or self.root
        if node not in self._ranks:
            j = self.compiled.node_index[node]
            basis = self.cents[:, j].astype(np.float64) if self.cents is not None else self.scores[:, j].copy()
            basis[np.isnan(self.scores[:, j])] = np.nan
            self._ranks[node] = ops.rank_min(basis, descending=True)
        return self._ranks[node]

    @cached_property
    def ranks(self) -> dict[str, Array]:
        return {node: self.rank(node) for node in self.aggregates}

    def rounded(self, unit: str) -> dict[str, Decimal]:
        """One unit's published figures as exact decimals, every node (indicator points, groups, total)."""
        if self.cents is None:
            raise ValueError("the method does not round")
        i = self.unit_index[unit]
        places = self.compiled.places or 0
        if not self.included[i]:
            return {}
        return {node: ops.cents_to_decimal(int(self.cents[i, j]), places) for j, node in enumerate(self.nodes)}

    # ------------------------------------------------------------------ trace

    def trace(self, unit: str, cell: str) -> list[dict[str, Any]]:
        """What each operation did to one unit's value of one indicator (or part), in order."""
        i, j = self.unit_index[unit], self.cell_index[cell]
        st, c = self.stages, self.compiled.cells[j]
        raw_reason = REASON_NAME[int(st["reasons"][i, j])]
        steps: list[dict[str, Any]] = [{"op": "raw", "value": _num(st["raw"][i, j]), "undefined": raw_reason}]
        if c.qualitative:
            steps[0]["combined"] = self.compiled.combine
        for o in self.compiled.method.operations:
            if o.op == "denominate" and st["denominated_by"][j]:
                reason = REASON_NAME[int(st["final_reasons"][i, j])]
                steps.append({"op": "denominate", "by": st["denominated_by"][j],
                              "value": _num(st["denominated"][i, j]), "undefined": reason})
            elif o.op == "impute" and st["imputed_rule"][i, j] >= 0:
                rule = st["rules"][int(st["imputed_rule"][i, j])]
                steps.append({"op": "impute", "rule": rule.model_dump(mode="json"), "value": _num(st["imputed"][i, j])})
            elif o.op == "screen":
                steps.append({"op": "screen", "included": bool(self.included[i]),
                              "availability": _num(st["availability"][i])})
            elif o.op == "treat" and c.key in self.treat_details and self.included[i]:
                d = self.treat_details[c.key]
                action = "log_CT" if d.log else ("winsorised" if self.winsorised[i, j] else "unchanged")
                steps.append({"op": "treat", "action": action, "value": _num(st["treated"][i, j])})
        if not self.included[i]:
            return steps
        spec = self.compiled.norm_specs[j]
        steps.append({"op": "normalise", "method": spec if isinstance(spec, str) else spec.model_dump(mode="json"),
                      "direction": c.direction, "value": _num(self.normalised[i, j])})
        k = self.compiled.indicators.index(c.indicator)
        share = float(self.compiled.shares[j, k])
        node = self.compiled.node_index[c.indicator]
        agg: dict[str, Any] = {"op": "aggregate", "method": self.compiled.aggregate, "share": share,
                               "flagged_missing": bool(self.flagged[i, j])}
        if self.compiled.aggregate == "points_sum":
            agg["points"] = _num(self.scores[i, node])
            if self.cents is not None:
                agg["published"] = str(ops.cents_to_decimal(int(self.cents[i, node]), self.compiled.places or 0))
        else:
            agg["value"] = _num(self.scores[i, node])
        steps.append(agg)
        return steps
