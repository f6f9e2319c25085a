"""The explanation of every point of one zone (issue #5 §3): for each indicator its inputs, the raw value
with its formula, what each operation of the method did to it, the points, and the article of 002 it
comes from; the zone's strongest and weakest indicators relative to the cohort. Pure, from the stored
result and the framework document."""

from __future__ import annotations

import statistics
from decimal import Decimal
from typing import Any

from services.scoring.frameworks.definition import FrameworkDocument

STRONGEST = 3


def _share(entry: dict[str, Any]) -> float | None:
    """Points as a share of the indicator's points (or the normalised value where there are no points)."""
    if entry.get("points") is not None and entry.get("max_points"):
        return float(Decimal(entry["points"]) / Decimal(entry["max_points"]))
    value = entry.get("normalised")
    return float(value) if value is not None else None


def relative(zone: dict[str, Any], cohort: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Each indicator's share of its points against the cohort median share, best first."""
    out = []
    for code, entry in zone["indicators"].items():
        mine = _share(entry)
        others = [s for z in cohort if (s := _share(z["indicators"].get(code, {}))) is not None]
        if mine is None or not others:
            continue
        median = statistics.median(others)
        out.append({"indicator": code, "share": round(mine, 6), "cohort_median_share": round(median, 6),
                    "difference": round(mine - median, 6)})
    return sorted(out, key=lambda r: (-r["difference"], r["indicator"]))


def explanation(zone: dict[str, Any], result: dict[str, Any], doc: FrameworkDocument, lang: str,
                evaluation: dict[str, Any]) -> dict[str, Any]:
    nodes = doc.nodes_by_code
    indicators = []
    for code, entry in zone["indicators"].items():
        node = nodes[code]
        indicators.append({
            "code": code, "name": node.name.text(lang), "group": node.parent,
            "article": node.article, "direction": node.direction, "kind": node.kind,
            "max_points": entry.get("max_points"), "points": entry.get("points"),
            "parts": entry.get("parts", []), "expert_scores": entry.get("expert_scores"),
            "operations": entry.get("trace", []), "normalised": entry.get("normalised"),
            "flags": entry.get("flags", []),
        })
    ranked = relative(zone, result["zones"])
    return {
        "evaluation": evaluation, "zone": {k: zone.get(k) for k in ("code", "name", "league_code", "level")},
        "rank": zone.get("rank"), "total": zone.get("total"), "groups": zone.get("groups"),
        "flags": zone.get("flags", []), "screened_out": zone.get("screened_out", False),
        "indicators": indicators,
        "strongest": ranked[:STRONGEST], "weakest": list(reversed(ranked[-STRONGEST:])) if ranked else [],
    }
