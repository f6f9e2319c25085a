"""Checking one unit-year's figures against its framework's declarations. Pure, no I/O.

Hard errors reject (type, digits, integer counts, bounds, categories, the framework's `error` checks);
warnings are stored with the data (the framework's `warning` checks, year-on-year jumps)."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from services.scoring.frameworks import formulas
from services.scoring.frameworks.definition import FrameworkDocument, Variable
from shared.decimals import (
    MAX_INTEGER_DIGITS,
    DecimalDigitsError,
    canonical_decimal,
    canonical_text,
    exact_canonical,
)

# Stable error codes (clients key on them).
UNKNOWN_VARIABLE = "unknown-variable"
WRONG_UNIT_KIND = "wrong-unit-kind"
NOT_A_NUMBER = "not-a-number"
TOO_MANY_DIGITS = "too-many-digits"
NOT_AN_INTEGER = "not-an-integer"
BELOW_MINIMUM = "below-minimum"
ABOVE_MAXIMUM = "above-maximum"
NOT_A_CATEGORY = "not-a-category"
YEAR_ON_YEAR_JUMP = "year-on-year-jump"


@dataclass(slots=True)
class Finding:
    variable: str
    code: str
    reason: str


@dataclass(slots=True)
class Checked:
    values: dict[str, Decimal | str] = field(default_factory=dict)
    errors: list[Finding] = field(default_factory=list)
    warnings: list[Finding] = field(default_factory=list)


_INT_LIMIT = 10**MAX_INTEGER_DIGITS


def _number(variable: Variable, raw: Any) -> Decimal | Finding:
    if isinstance(raw, bool):
        return Finding(variable.name, NOT_A_NUMBER, "a number is required, not true/false")
    if type(raw) is int and -_INT_LIMIT < raw < _INT_LIMIT:  # a JSON integer: canonical as it is
        d = Decimal(raw)
        return _bounded(variable, d)
    if isinstance(raw, Decimal):
        d = raw
    elif isinstance(raw, int):
        d = Decimal(raw)
    elif isinstance(raw, float):
        d = Decimal(repr(raw))
    elif isinstance(raw, str):
        text = raw.strip()
        try:
            if "_" in text or "," in text:  # no digit grouping: "1,5" could be 1.5 or 15
                raise ArithmeticError
            d = Decimal(text)
        except ArithmeticError:
            return Finding(variable.name, NOT_A_NUMBER, f"{raw!r} is not a decimal number")
    else:
        return Finding(variable.name, NOT_A_NUMBER, "a decimal number is required (a JSON string or number)")
    try:
        d = exact_canonical(d)
    except DecimalDigitsError as exc:
        code = NOT_A_NUMBER if "finite" in str(exc) else TOO_MANY_DIGITS
        return Finding(variable.name, code, str(exc))
    return _bounded(variable, d)


def _bounded(variable: Variable, d: Decimal) -> Decimal | Finding:
    if variable.type == "integer" and d != d.to_integral_value():
        return Finding(variable.name, NOT_AN_INTEGER, f"{canonical_decimal(d)} is not a whole number ({variable.unit})")
    if variable.min is not None and d < variable.min:
        return Finding(variable.name, BELOW_MINIMUM, f"{canonical_decimal(d)} is below the minimum {variable.min}")
    if variable.max is not None and d > variable.max:
        return Finding(variable.name, ABOVE_MAXIMUM, f"{canonical_decimal(d)} is above the maximum {variable.max}")
    return d


def _is_empty(raw: Any) -> bool:
    return raw is None or (isinstance(raw, str) and not raw.strip())


def check_values(doc: FrameworkDocument, unit_kind: str, raw: Mapping[str, Any],
                 previous: Mapping[str, Decimal | str] | None = None,
                 yoy_factor: Decimal | None = None) -> Checked:
    """Every problem of one unit-year's figures; `previous` (last year's data) feeds the jump warnings."""
    out = Checked()
    declared = doc.variables_by_name
    for name, value in raw.items():
        variable = declared.get(name)
        if variable is None:
            out.errors.append(Finding(name, UNKNOWN_VARIABLE, f"{doc.id} declares no variable {name!r}"))
            continue
        if variable.applies_to != unit_kind:
            out.errors.append(Finding(name, WRONG_UNIT_KIND, f"{name} is reported per {variable.applies_to}, "
                                      f"not per {unit_kind}"))
            continue
        if _is_empty(value):
            continue  # not reported
        if variable.type == "category":
            text = str(value).strip()
            if variable.categories and text not in variable.categories:
                out.errors.append(Finding(name, NOT_A_CATEGORY, f"{text!r} is not one of "
                                          f"{', '.join(variable.categories)}"))
            elif len(text) > 120:
                out.errors.append(Finding(name, NOT_A_CATEGORY, "at most 120 characters"))
            else:
                out.values[name] = text
            continue
        number = _number(variable, value)
        if isinstance(number, Finding):
            out.errors.append(number)
        else:
            out.values[name] = number
    if out.errors:
        return out
    scope = formulas.Scope(year=0, current=out.values, previous=None, derived=doc.compiled_derived)
    for check, rule in doc.compiled_checks:
        result = formulas.check_rule(rule, scope)
        if result is False:
            left = formulas.evaluate(rule.left, scope)
            right = formulas.evaluate(rule.right, scope)
            label = check.label.en if check.label else check.code
            finding = Finding(sorted(rule.left.names)[0] if rule.left.names else check.code, check.code,
                              f"{label}: {rule.text} fails ({_show(left)} vs {_show(right)})")
            (out.errors if check.severity == "error" else out.warnings).append(finding)
    if previous and yoy_factor is not None:
        for name, value in out.values.items():
            before = previous.get(name)
            if isinstance(value, Decimal) and isinstance(before, Decimal) and before > 0 and value > 0:
                ratio = value / before
                if ratio > yoy_factor or ratio < 1 / yoy_factor:
                    out.warnings.append(Finding(name, YEAR_ON_YEAR_JUMP, f"{canonical_decimal(before)} last year, "
                                                f"{canonical_decimal(value)} now: more than ×{yoy_factor} apart"))
    return out


def _show(value: formulas.Value) -> str:
    return canonical_decimal(value) if isinstance(value, Decimal) else value.reason


def values_hash(values: Mapping[str, Decimal | str]) -> str:
    """A digest of a unit-year's values (order-free, canonical): equal figures → equal hash."""
    text = "\n".join(f"{k}={canonical_text(v) if isinstance(v, Decimal) else 'T:' + v}"
                     for k, v in sorted(values.items()))
    return hashlib.sha256(text.encode()).hexdigest()
