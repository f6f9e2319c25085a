"""Policy targets against a zone's annual data (SPEC 6): value, threshold, gap, met / not met / unknown.

Pure: a target (data, `definition.py`) and the figures by year of the zone, its league and the region in;
a result out. Exact decimal arithmetic (34 significant digits). Measures:

- level: the formula in the year asked Y;
- growth ("average annual growth ≥ x %"): the compound annual rate from base year B to Y,
  (v(Y) / v(B)) ^ (1 / (Y − B)) − 1, where B is the first year from the target's base_year on with a
  positive value (stated in the answer; a later B than the plan's when its base year has no data).
  Met is decided exactly: v(Y) / v(B) against (1 + x) ^ (Y − B), so no root is rounded into the verdict;
- increase ("+500 enterprises"): v(Y) − v(base_year), the plan's base year exactly (no fallback: a later
  base would understate the increase the plan counts);
- each_year ("≥ 3 new a year"): the formula (with prev()) must hold in every year base_year + 1..Y.

gap = threshold − value for ≥ and > (positive: still short by that much), value − threshold for ≤ and <.
"""

from __future__ import annotations

import decimal
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from services.scoring.eligibility.checks import (
    COMPARATORS,
    FAIL,
    PASS,
    UNKNOWN,
    Comparison,
    Gap,
    UnitData,
    combine,
    compare,
    compute,
    dec,
)
from services.scoring.frameworks import formulas
from services.scoring.targets.definition import MEASURES, Target

MET, NOT_MET, TARGET_UNKNOWN, NOT_COMPUTABLE = "met", "not_met", "unknown", "not_computable"
_STATUS = {PASS: MET, FAIL: NOT_MET, UNKNOWN: TARGET_UNKNOWN}


@dataclass(frozen=True, slots=True)
class TargetResult:
    target: Target
    year: int
    status: str
    value: Decimal | None = None
    base_year: int | None = None
    base_value: Decimal | None = None
    end_value: Decimal | None = None
    required_value: Decimal | None = None
    years: tuple[Comparison, ...] = ()
    gaps: tuple[Gap, ...] = ()
    reason: str | None = None

    @property
    def gap(self) -> Decimal | None:
        t = self.target
        if self.value is None or t.threshold is None:
            return None
        with decimal.localcontext(formulas.CONTEXT):
            return t.threshold - self.value if t.comparator in (">=", ">") else self.value - t.threshold

    def as_dict(self) -> dict[str, Any]:
        t = self.target
        gaps: dict[tuple[Any, ...], dict[str, Any]] = {}
        for g in self.gaps + tuple(g for c in self.years for g in c.gaps):
            gaps.setdefault((g.code, g.subject, g.unit_code, g.year), g.as_dict())
        return {
            "id": t.id, "label": t.label.model_dump(), "source": t.source.model_dump(), "deadline": t.deadline,
            "deadline_passed": self.year > t.deadline, "year": self.year, "status": self.status,
            "computable": t.computable, "why_not_computable": t.why_not_computable,
            "measure": t.measure, "measure_meaning": MEASURES.get(t.measure or ""), "formula": t.formula,
            "comparator": t.comparator, "threshold": dec(t.threshold), "unit": t.unit,
            "value": dec(self.value), "gap": dec(self.gap),
            "base_year": self.base_year, "plan_base_year": t.base_year, "base_value": dec(self.base_value),
            "end_value": dec(self.end_value), "required_value": dec(self.required_value),
            "years": [c.as_dict() for c in self.years], "missing": list(gaps.values()), "reason": self.reason,
            "alternative_of": t.alternative_of, "note": t.note,
        }


def _decide(value: Decimal, target: Target) -> str:
    assert target.threshold is not None and target.comparator is not None
    with decimal.localcontext(formulas.CONTEXT):
        return MET if COMPARATORS[target.comparator](value, target.threshold) else NOT_MET


def _level(target: Target, units: list[UnitData], year: int, applies_to: Mapping[str, str]) -> TargetResult:
    # SPEC 6: a share, a count or an amount in the year asked
    c = compare(target.id, target.parsed(), units, year, target.comparator or ">=", threshold=target.threshold,
                applies_to=applies_to)
    return TargetResult(target, year, _STATUS[c.status], value=c.value, end_value=c.value, gaps=c.gaps)


def _increase(target: Target, units: list[UnitData], year: int, applies_to: Mapping[str, str]) -> TargetResult:
    # SPEC 6: "+N since the plan's start" = v(Y) − v(base_year)
    base = target.base_year
    assert base is not None
    if year <= base:
        return TargetResult(target, year, TARGET_UNKNOWN, base_year=base,
                            reason=f"the year asked is not after the plan's base year {base}")
    formula = target.parsed()
    end, _, end_gaps = compute(formula, units, year, applies_to)
    start, _, start_gaps = compute(formula, units, base, applies_to)
    if end is None or start is None:
        return TargetResult(target, year, TARGET_UNKNOWN, base_year=base, base_value=start, end_value=end,
                            gaps=tuple(start_gaps + end_gaps))
    with decimal.localcontext(formulas.CONTEXT):
        value = end - start
        required = start + target.threshold if target.threshold is not None else None
    return TargetResult(target, year, _decide(value, target), value=value, base_year=base, base_value=start,
                        end_value=end, required_value=required)


def _growth(target: Target, units: list[UnitData], year: int, applies_to: Mapping[str, str]) -> TargetResult:
    # SPEC 6: "average annual growth ≥ x %" = the compound annual growth rate from the base year to Y
    assert target.base_year is not None and target.threshold is not None
    formula = target.parsed()
    if year <= target.base_year:
        return TargetResult(target, year, TARGET_UNKNOWN, reason=f"the year asked is not after the plan's base "
                            f"year {target.base_year}")
    end, _, end_gaps = compute(formula, units, year, applies_to)
    first_gaps: list[Gap] = []
    base = start = None
    for candidate in range(target.base_year, year):
        value, _, gaps = compute(formula, units, candidate, applies_to)
        if candidate == target.base_year:
            first_gaps = gaps
        if value is not None and value > 0:
            base, start = candidate, value
            break
    if end is None or base is None or start is None:
        reason = None if base is not None else (
            f"no year from {target.base_year} to {year - 1} has a positive value to grow from")
        return TargetResult(target, year, TARGET_UNKNOWN, base_year=base, base_value=start, end_value=end,
                            gaps=tuple(end_gaps + ([] if base is not None else first_gaps)), reason=reason)
    n = year - base
    with decimal.localcontext(formulas.CONTEXT):
        ratio = end / start
        factor = (1 + target.threshold) ** n  # exact: an integer power
        rate = ratio ** (Decimal(1) / n) - 1 if ratio > 0 else Decimal(-1)
        met = COMPARATORS[target.comparator or ">="](ratio, factor)
        required = start * factor
    reason = None if base == target.base_year else (
        f"the plan's base year {target.base_year} has no usable value; growth is measured from {base}")
    return TargetResult(target, year, MET if met else NOT_MET, value=rate, base_year=base, base_value=start,
                        end_value=end, required_value=required, gaps=tuple(first_gaps), reason=reason)


def _each_year(target: Target, units: list[UnitData], year: int, applies_to: Mapping[str, str]) -> TargetResult:
    # SPEC 6: "≥ N a year" / "+x % a year": every year of the plan up to Y
    assert target.base_year is not None
    if year <= target.base_year:
        return TargetResult(target, year, TARGET_UNKNOWN, base_year=target.base_year,
                            reason=f"the plan's yearly targets start in {target.base_year + 1}")
    formula = target.parsed()
    comps = tuple(compare(target.label.en, formula, units, y, target.comparator or ">=",
                          threshold=target.threshold, applies_to=applies_to)
                  for y in range(target.base_year + 1, year + 1))
    last = comps[-1]
    return TargetResult(target, year, _STATUS[combine(c.status for c in comps)], value=last.value,
                        base_year=target.base_year, end_value=last.value, years=comps)


_MEASURES = {"level": _level, "increase": _increase, "growth": _growth, "each_year": _each_year}


def evaluate(target: Target, year: int, zone: UnitData, league: UnitData, region: UnitData,
             applies_to: Mapping[str, str]) -> TargetResult:
    """One target for one zone and year; `applies_to` (variable → unit | league | region) says whose
    figures each name of the formula reads (the framework's declarations)."""
    if not target.computable or target.measure is None:
        return TargetResult(target, year, NOT_COMPUTABLE, reason=target.why_not_computable)
    return _MEASURES[target.measure](target, [zone, league, region], year, applies_to)


def years_needed(target: Target, year: int) -> set[int]:
    """The years whose data `evaluate` reads for this target."""
    if not target.computable or target.measure is None:
        return set()
    if target.measure == "level":
        return {year, year - 1}
    assert target.base_year is not None
    return set(range(min(target.base_year, year), year + 1))
