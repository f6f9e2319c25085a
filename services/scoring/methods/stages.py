"""The data stages of an evaluation, in the method's order: raw columns (experts' scores combined),
denominate, impute (per reason code), screen, treat. Each stage's matrix is kept for the result and
cached on the cohort per chain of transforms (a Monte Carlo varying only normalisation or weights reuses
them). Pure."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import NDArray

from services.scoring.methods import definition as md
from services.scoring.methods import operations as ops
from services.scoring.methods.cohort import DIVISION_BY_ZERO, MISSING_INPUT, QUALITATIVE, REASON_CODE, CohortInput
from services.scoring.methods.treatment import skew_kurt_columns, treat

if TYPE_CHECKING:
    from services.scoring.methods.engine import Compiled

Array = NDArray[np.float64]
# `cp`: the compiled framework + method (engine.Compiled) whose cells and specifications apply


def raw(cp: Compiled, cohort: CohortInput) -> tuple[Array, NDArray[np.int8]]:
    """The cohort as units × cells with a reason code per undefined cell (experts' scores combined)."""
    key = ("raw", id(cp.framework), cp.combine)
    if key in cohort._cache:
        return cohort._cache[key]
    n = len(cohort.units)
    x = np.full((n, len(cp.cells)), np.nan)
    r = np.zeros((n, len(cp.cells)), dtype=np.int8)
    for j, c in enumerate(cp.cells):
        if c.qualitative:
            scores = cohort.expert_matrix(c.indicator)
            if scores is not None:
                x[:, j] = ops.combine_scores(scores, cp.combine)
            r[:, j] = np.where(np.isnan(x[:, j]), QUALITATIVE, 0)
            continue
        got = cohort.values.get(c.key)
        if got is not None:
            x[:, j] = np.asarray(got, dtype=np.float64)
        given = cohort.reasons.get(c.key)
        codes = np.array([REASON_CODE.get(g, MISSING_INPUT) for g in given], dtype=np.int8) if given is not None \
            else np.zeros(n, dtype=np.int8)
        r[:, j] = np.where(np.isnan(x[:, j]), np.where(codes > 0, codes, MISSING_INPUT), 0)
    cohort._cache[key] = (x, r)
    return x, r


def stages(cp: Compiled, cohort: CohortInput) -> dict[str, Any]:
    """Raw → denominated → imputed → screened → treated, cached on the cohort per transform chain."""
    key = ("stages", id(cp.framework), cp.combine, cp.stage_key)
    if key in cohort._cache:
        return cohort._cache[key]
    x, reasons = raw(cp, cohort)
    n, c = x.shape
    st: dict[str, Any] = {"raw": x, "reasons": reasons, "denominated": x, "denominated_by": [None] * c,
                          "imputed": x, "imputed_rule": np.full((n, c), -1, dtype=np.int16), "rules": [],
                          "included": np.ones(n, dtype=bool), "availability": None, "treated": x,
                          "winsorised": np.zeros((n, c), dtype=bool), "treat_details": {}}
    cur, r = x, reasons
    for o in cp._transforms:
        if o.op == "denominate":
            cur, r = cur.copy(), r.copy()
            for j, cell in enumerate(cp.cells):
                if cell.denominator:
                    d = cohort.denominator(cell.denominator)
                    was = ~np.isnan(cur[:, j])
                    cur[:, j] = ops.denominate(cur[:, j], d)
                    r[:, j] = np.where(was & np.isnan(cur[:, j]),
                                       np.where(d == 0, DIVISION_BY_ZERO, MISSING_INPUT), r[:, j])
                    st["denominated_by"][j] = cell.denominator
            st["denominated"] = cur
        elif o.op == "impute":
            cur = impute(cp, o, cur, r, cohort, st)
            st["imputed"] = cur
        elif o.op == "screen":
            st["availability"] = ops.availability(cur)
            st["included"] = st["availability"] >= o.min_availability
        elif o.op == "treat":
            cur = treat_stage(cp, o, cur, st)
            st["treated"] = cur
    # a stage the method does not run shows the values it would have received
    done = [o.op for o in cp._transforms]
    if "impute" not in done:
        st["imputed"] = st["denominated"] if "denominate" in done else x
    if "treat" not in done:
        st["treated"] = cur
    st["final"], st["final_reasons"] = cur, r
    cohort._cache[key] = st
    return st


def impute(cp: Compiled, o: md.Impute, x: Array, r: NDArray[np.int8], cohort: CohortInput,
           st: dict[str, Any]) -> Array:
    c = x.shape[1]
    table: dict[str, tuple[Any, NDArray[np.bool_]]] = {}  # rule → cells × reason codes it applies to
    for j, cell in enumerate(cp.cells):
        for reason, code in REASON_CODE.items():
            if reason is None:
                continue
            rule = o.overrides.get(cell.indicator) or o.by_reason.get(reason) or o.default  # type: ignore[call-overload]
            if rule.rule == "leave":
                continue
            k = json.dumps(rule.model_dump(mode="json"), sort_keys=True)
            if k not in table:
                table[k] = (rule, np.zeros((c, len(REASON_CODE)), dtype=bool))
            table[k][1][j, code] = True
    out = x.copy()
    cols = np.arange(c)
    for rule, applies in table.values():
        mask = applies[cols[None, :], r] & np.isnan(x)
        if not mask.any():
            continue
        if rule.rule == "fixed":
            fill: Any = rule.value
        elif rule.rule in ("cohort_mean", "cohort_median"):
            fill = (ops.col_mean(x) if rule.rule == "cohort_mean" else ops.col_median(x))[None, :]
        else:
            fill = ops.group_fill(x, cohort.group_codes(rule.group), rule.rule.removeprefix("group_"))
        out = np.where(mask, fill, out)
        st["rules"].append(rule)
        st["imputed_rule"] = np.where(mask & ~np.isnan(out), len(st["rules"]) - 1, st["imputed_rule"])
    return out


def treat_stage(cp: Compiled, o: md.Treat, x: Array, st: dict[str, Any]) -> Array:
    inc = st["included"]
    every = bool(inc.all())
    sub = x if every else x[inc]
    specs = {j: o.overrides.get(c.indicator, o.default) for j, c in enumerate(cp.cells) if not c.qualitative}
    cols = [j for j, spec in specs.items() if spec.method != "none"]
    if not cols:
        return x
    sk, ku = skew_kurt_columns(sub[:, cols])  # the first check of every column at once
    out = x.copy()
    rows = None if every else np.flatnonzero(inc)
    for k, j in enumerate(cols):
        spec = specs[j]
        assert isinstance(spec, md.SkewKurt)
        col, detail, wins = treat(sub[:, j], spec.skew_max, spec.kurt_max, spec.winmax, spec.fallback,
                                  spec.combine, first=(float(sk[k]), float(ku[k])))
        st["treat_details"][cp.cells[j].key] = detail
        if detail.pass0 is not False:
            continue
        if every:
            out[:, j] = col
            st["winsorised"][wins, j] = True
        else:
            out[inc, j] = col
            st["winsorised"][rows[wins], j] = True  # type: ignore[index]
    return out
