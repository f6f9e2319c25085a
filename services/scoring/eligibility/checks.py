"""One comparison of a unit-year's figures with a threshold, exactly, naming every missing input.

Shared by the eligibility conditions (002 art. 4) and the policy targets (SPEC 6). Pure: values in,
results out. Formulas are those of the framework language (`frameworks/formulas.py`), evaluated in
`decimal` with 34 significant digits; a comparison of two decimals is exact.
"""

from __future__ import annotations

import decimal
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Final, Literal

from services.scoring.frameworks import formulas
from services.scoring.frameworks.formulas import Formula, Scope, Undefined

Status = Literal["pass", "fail", "unknown"]
PASS: Final = "pass"
FAIL: Final = "fail"
UNKNOWN: Final = "unknown"
Comparator = Literal[">=", ">", "<=", "<"]
COMPARATORS: dict[str, Callable[[Decimal, Decimal], bool]] = {
    ">=": lambda a, b: a >= b, ">": lambda a, b: a > b, "<=": lambda a, b: a <= b, "<": lambda a, b: a < b,
}
Values = Mapping[str, Decimal | str]


def dec(value: Decimal | None) -> str | None:
    """A decimal as the contracts write it (a JSON string, plain notation, no trailing zeros; all 34
    significant digits of a computed quotient kept), None as null."""
    if value is None:
        return None
    return "0" if value == 0 else format(value.normalize(formulas.CONTEXT), "f")


def combine(statuses: Iterable[str]) -> Status:
    """fail if any fails; otherwise unknown if any is unknown (or there is none); otherwise pass."""
    seen = list(statuses)
    if FAIL in seen:
        return FAIL
    if not seen or UNKNOWN in seen:
        return UNKNOWN
    return PASS


@dataclass(frozen=True, slots=True)
class UnitData:
    """A unit's figures by year: the park (a zone code), its league (6-digit code) or the region (150000)."""

    code: str
    role: Literal["park", "zone", "league", "region"]
    years: Mapping[int, Values]

    def value(self, name: str, year: int) -> Decimal | str | None:
        values = self.years.get(year)
        return None if values is None else values.get(name)


@dataclass(frozen=True, slots=True)
class Gap:
    """Why a figure is not there: `missing-input` (not reported; `no_data_for_year` when the unit has no
    data at all that year), `not-a-number` (a category) or `division-by-zero` (subject = the divisor)."""

    code: str
    subject: str
    unit_code: str
    unit: str
    year: int
    no_data_for_year: bool = False

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"code": self.code, "variable" if self.code != formulas.DIVISION_BY_ZERO else
                               "expression": self.subject, "unit_code": self.unit_code, "unit": self.unit,
                               "year": self.year}
        if self.no_data_for_year:
            out["no_data_for_year"] = True
        return out


@dataclass(frozen=True, slots=True)
class Figure:
    variable: str
    unit_code: str
    year: int
    value: Decimal | str | None

    def as_dict(self) -> dict[str, Any]:
        value = self.value
        return {"variable": self.variable, "unit_code": self.unit_code, "year": self.year,
                "value": dec(value) if isinstance(value, Decimal) or value is None else value}


@dataclass(frozen=True, slots=True)
class Comparison:
    """`value comparator threshold` for one year: the figures it read and what was missing."""

    test: str
    formula: str
    year: int
    value: Decimal | None
    comparator: str
    threshold: Decimal | None
    threshold_source: str | None
    status: Status
    figures: tuple[Figure, ...] = ()
    gaps: tuple[Gap, ...] = ()

    def as_dict(self) -> dict[str, Any]:
        return {"test": self.test, "formula": self.formula, "year": self.year, "value": dec(self.value),
                "comparator": self.comparator, "threshold": dec(self.threshold),
                "threshold_source": self.threshold_source, "status": self.status,
                "figures": [f.as_dict() for f in self.figures], "missing": [g.as_dict() for g in self.gaps]}


@dataclass(slots=True)
class _Reading:
    figures: list[Figure] = field(default_factory=list)
    gaps: list[Gap] = field(default_factory=list)

    def read(self, unit: UnitData, name: str, year: int) -> Decimal | None:
        value = unit.value(name, year)
        self.figures.append(Figure(name, unit.code, year, value))
        if value is None:
            self.gaps.append(Gap(formulas.MISSING_INPUT, name, unit.code, unit.role, year,
                                 no_data_for_year=year not in unit.years))
            return None
        if not isinstance(value, Decimal):
            self.gaps.append(Gap(formulas.NOT_A_NUMBER, name, unit.code, unit.role, year))
            return None
        return value


def owner(units: Iterable[UnitData], applies_to: Mapping[str, str], name: str) -> UnitData:
    """The unit whose figures hold `name` (by the framework's `applies_to`; a unit variable by default)."""
    wanted = applies_to.get(name, "unit")
    roles = {"unit": ("park", "zone"), "league": ("league",), "region": ("region",)}[wanted]
    for unit in units:
        if unit.role in roles:
            return unit
    raise KeyError(f"no {wanted} figures given for {name}")


def compute(formula: Formula, units: Iterable[UnitData], year: int,
            applies_to: Mapping[str, str] | None = None) -> tuple[Decimal | None, list[Figure], list[Gap]]:
    """The exact value of `formula` for `year` (prev(x): year − 1), reading each name from its unit;
    None with the complete list of gaps when any input is missing or a divisor is zero."""
    units = list(units)
    applies_to = applies_to or {}
    reading = _Reading()
    current: dict[str, Decimal] = {}
    previous: dict[str, Decimal] = {}
    for name in sorted(formula.names):
        value = reading.read(owner(units, applies_to, name), name, year)
        if value is not None:
            current[name] = value
    for name in sorted(formula.prev_names):
        value = reading.read(owner(units, applies_to, name), name, year - 1)
        if value is not None:
            previous[name] = value
    if reading.gaps:
        return None, reading.figures, reading.gaps
    result = formulas.evaluate(formula, Scope(year=year, current=current, previous=previous))
    if isinstance(result, Undefined):  # all inputs are there: a zero divisor
        divisor = formulas.parse(result.subject)
        names = sorted(divisor.names) or sorted(divisor.prev_names) or sorted(formula.names | formula.prev_names)
        unit = owner(units, applies_to, names[0])
        when = year - 1 if divisor.prev_names and not divisor.names else year
        return None, reading.figures, [Gap(result.reason, result.subject, unit.code, unit.role, when)]
    return result, reading.figures, []


def compare(test: str, formula: Formula, units: Iterable[UnitData], year: int, comparator: str, *,
            threshold: Decimal | None = None, reference: tuple[UnitData, str] | None = None,
            applies_to: Mapping[str, str] | None = None) -> Comparison:
    """Compare the formula's value for `year` with a fixed threshold or with a reference figure of the
    same year (the league's or the region's). Unknown, with every gap named, when either side is missing."""
    value, figures, gaps = compute(formula, units, year, applies_to)
    source = None
    if reference is not None:
        ref_unit, ref_name = reference
        reading = _Reading()
        threshold = reading.read(ref_unit, ref_name, year)
        figures += reading.figures
        gaps += reading.gaps
        source = f"{ref_name} of {ref_unit.role} {ref_unit.code}, {year}"
    if value is None or threshold is None:
        status: Status = UNKNOWN
    else:
        with decimal.localcontext(formulas.CONTEXT):
            status = PASS if COMPARATORS[comparator](value, threshold) else FAIL
    return Comparison(test, formula.text, year, value, comparator, threshold, source, status,
                      tuple(figures), tuple(gaps))
