"""From gathered inputs to the stored result of an evaluation: exact raw values (Scoring I), the cohort
as the engine takes it, the engine's run, and every number the ranking and the explanations show, in
plain JSON (decimals as strings; published figures exact). The previous year is re-scored with the same
method over its own cohort (002 art. 8)."""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from services.scoring.evaluations.inputs import Gathered
from services.scoring.frameworks.definition import FrameworkDocument
from services.scoring.indicators.compute import RawValue, raw_values
from services.scoring.methods import engine
from services.scoring.methods.cohort import REASON_NAME, CohortInput, cell_key
from services.scoring.methods.definition import MethodDocument
from services.scoring.methods.result import Result
from shared.decimals import canonical_decimal

Values = Mapping[str, Decimal | str]


def _text(v: Decimal | str | None) -> str | None:
    return canonical_decimal(v) if isinstance(v, Decimal) else v


def _float(v: float) -> float | None:
    return None if v is None or math.isnan(v) else float(v)


def cohort_input(doc: FrameworkDocument, method: MethodDocument, year: int, units: list[str],
                 current: Mapping[str, Values], previous: Mapping[str, Values],
                 scores: list[dict[str, Any]]) -> tuple[CohortInput, dict[str, list[RawValue]]]:
    raw = {u: raw_values(doc, year, current[u], previous.get(u)) for u in units if u in current}
    denominate = method.op("denominate")
    denominators = {n.denominator for n in doc.indicators if n.denominator}
    if denominate is not None:
        denominators |= {v for v in denominate.overrides.values() if v}
    categories = [v.name for v in doc.variables if v.type == "category"]

    def number(u: str, var: str) -> float:
        v = (current.get(u) or {}).get(var)
        return float(v) if isinstance(v, Decimal) else math.nan

    experts: dict[str, dict[str, list[float]]] = {}
    for s in scores:
        experts.setdefault(s["zone"], {}).setdefault(s["indicator"], []).append(float(Decimal(s["score"])))
    cohort = CohortInput.from_raw_values(
        doc, units, raw, denominators={d: [number(u, d) for u in units] for d in sorted(denominators)},
        groups={g: [_group(current.get(u), g) for u in units] for g in categories}, expert_scores=experts)
    return cohort, raw


def _group(values: Values | None, variable: str) -> str | None:
    v = (values or {}).get(variable)
    return None if v is None else str(v)


def _zone_lines(doc: FrameworkDocument, result: Result, zones: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per zone: total, the root's children (groups), rank; published figures when the method rounds."""
    groups = [n.code for n in doc.children.get(doc.root.code, [])]
    ranks = result.rank()
    out = []
    for i, zone in enumerate(zones):
        line = {**zone, "screened_out": not bool(result.included[i])}
        if result.included[i]:
            if result.cents is not None:
                published = result.rounded(zone["code"])
                line["total"] = str(published[doc.root.code])
                line["groups"] = {g: str(published[g]) for g in groups}
            else:
                line["total"] = repr(float(result.total[i]))
                line["groups"] = {g: repr(float(result.score(g)[i])) for g in groups}
            line["rank"] = None if math.isnan(ranks[i]) else int(ranks[i])
            if line["rank"] is None:
                line["total"] = None
        else:
            line.update(total=None, groups={}, rank=None)
        out.append(line)
    return out


def _indicators(doc: FrameworkDocument, result: Result, i: int, unit: str, raw: list[RawValue],
                scores: dict[str, list[dict[str, Any]]]) -> dict[str, Any]:
    by_cell = {cell_key(r.code, r.part): r for r in raw}
    published = result.rounded(unit) if result.cents is not None and result.included[i] else {}
    out: dict[str, Any] = {}
    for k, node in enumerate(doc.indicators):
        cells = [cell_key(node.code, p.code) for p in node.parts] if node.parts else [node.code]
        parts, trace, flags = [], [], []
        for cell in cells:
            j = result.cell_index[cell]
            rv = by_cell.get(cell)
            parts.append({
                "part": cell.split(":")[1] if ":" in cell else None, "formula": rv.formula if rv else None,
                "raw": _text(rv.value) if rv and rv.value is not None else None,
                "undefined": rv.undefined.as_dict() if rv and rv.undefined else (
                    None if rv else {"code": "missing-input", "subject": unit, "year": None,
                                     "detail": "no data for this zone-year"}),
                "inputs": {n: _text(v) for n, v in rv.inputs.items()} if rv else {},
                "previous_inputs": {n: _text(v) for n, v in rv.previous_inputs.items()} if rv else {},
            })
            trace.append({"cell": cell, "steps": result.trace(unit, cell)})
            if result.flagged[i, j]:
                reason = REASON_NAME[int(result.reasons[i, j])]
                flags.append(f"missing:{cell}" + (f":{reason}" if reason else ""))
        entry: dict[str, Any] = {
            "max_points": str(node.points) if node.points is not None else None,
            "points": str(published[node.code]) if node.code in published else _float(result.score(node.code)[i]),
            "normalised": _float(result.indicator_values[i, k]), "parts": parts, "trace": trace, "flags": flags}
        if node.kind == "qualitative":
            entry["expert_scores"] = scores.get(node.code, [])
        out[node.code] = entry
    return out


def _treat_details(result: Result) -> dict[str, Any]:
    return {cell: {k: (None if isinstance(v, float) and math.isnan(v) else v)
                   for k, v in dataclasses.asdict(d).items()} for cell, d in result.treat_details.items()}


def evaluate(doc: FrameworkDocument, method: MethodDocument, gathered: Gathered) -> dict[str, Any]:
    record = gathered.record
    year = record["year"]
    compiled = engine.compile(doc, method)
    zones = record["cohort"]["zones"]
    units = [z["code"] for z in zones]
    cohort, raw = cohort_input(doc, method, year, units, gathered.current, gathered.previous, gathered.scores)
    result = compiled.run(cohort)
    lines = _zone_lines(doc, result, zones)
    scores_by_zone: dict[str, dict[str, list[dict[str, Any]]]] = {}
    for s in gathered.scores:
        scores_by_zone.setdefault(s["zone"], {}).setdefault(s["indicator"], []).append(
            {"expert": s["expert"], "score": s["score"], "revision": s["revision"]})
    for i, line in enumerate(lines):
        line["indicators"] = _indicators(doc, result, i, line["code"], raw.get(line["code"], []),
                                         scores_by_zone.get(line["code"], {}))
        line["flags"] = sorted({f for e in line["indicators"].values() for f in e["flags"]})
        line["data_revision"] = (record["data"]["current"].get(line["code"]) or {}).get("id")
    # a zone with no figures that year was not evaluated that year
    previous_zones = [z for z in record["previous_cohort"]["zones"] if z["code"] in gathered.previous]
    previous_lines: list[dict[str, Any]] = []
    if previous_zones:
        p_units = [z["code"] for z in previous_zones]
        p_cohort, _ = cohort_input(doc, method, year - 1, p_units, gathered.previous, gathered.before_previous,
                                   gathered.previous_scores)
        previous_lines = [{k: v for k, v in line.items() if k in ("code", "total", "groups", "rank")}
                          for line in _zone_lines(doc, compiled.run(p_cohort), previous_zones)]
    return {"zones": lines, "previous": {"year": year - 1, "zones": previous_lines},
            "treat_details": _treat_details(result), "places": compiled.places,
            "groups": [n.code for n in doc.children.get(doc.root.code, [])]}
