"""The raw values of a framework's indicators for one unit-year, exactly (SPEC 3.1). Pure.

Each indicator (or each part of a compound one) is its formula evaluated in `decimal` with 34
significant digits over the year's figures and, for prev(...), the previous year's. An undefined value
carries its reason code (missing input, no previous year, division by zero; qualitative indicators are
never computed from data); what a scoring method does with it is the method's setting (Scoring II)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from services.scoring.frameworks import formulas
from services.scoring.frameworks.definition import FrameworkDocument, Node
from services.scoring.frameworks.formulas import Formula, Undefined
from shared.decimals import canonical_decimal

Values = Mapping[str, Decimal | str]


@dataclass(frozen=True, slots=True)
class RawValue:
    code: str
    part: str | None
    formula: str | None
    value: Decimal | None
    undefined: Undefined | None
    inputs: dict[str, Decimal | str | None]
    previous_inputs: dict[str, Decimal | str | None]


def _variables(formula: Formula, derived: Mapping[str, Formula]) -> tuple[set[str], set[str]]:
    """The intake variables a formula reads this year and last year (through derived quantities)."""
    now: set[str] = set()
    before: set[str] = set()

    def walk(names: frozenset[str], into: set[str]) -> None:
        for name in names:
            if name in derived:
                walk(derived[name].names, into)
                walk(derived[name].prev_names, before)
            else:
                into.add(name)

    walk(formula.names, now)
    walk(formula.prev_names, before)
    return now, before


def raw_values(doc: FrameworkDocument, year: int, current: Values, previous: Values | None) -> list[RawValue]:
    """Every indicator's raw value(s), in the framework's order."""
    scope = formulas.Scope(year=year, current=current, previous=previous, derived=doc.compiled_derived)
    out: list[RawValue] = []
    for node in doc.indicators:
        if node.kind == "qualitative":
            out.append(RawValue(node.code, None, None, None, Undefined(formulas.QUALITATIVE, node.code, year), {}, {}))
            continue
        for part, formula in doc.indicator_formulas(node):
            result = formulas.evaluate(formula, scope)
            now, before = _variables(formula, doc.compiled_derived)
            out.append(RawValue(
                node.code, part, formula.text,
                result if isinstance(result, Decimal) else None,
                result if isinstance(result, Undefined) else None,
                {n: current.get(n) for n in sorted(now)},
                {n: (previous or {}).get(n) for n in sorted(before)},
            ))
    return out


def decimal_text(value: Decimal) -> str:
    """All significant digits, plain notation (no exponent), no trailing zeros."""
    return canonical_decimal(value)


def _show(v: Decimal | str | None) -> str | None:
    return decimal_text(v) if isinstance(v, Decimal) else v


def indicator_out(node: Node, values: list[RawValue], lang_doc: FrameworkDocument) -> dict[str, Any]:
    """One indicator as the API shows it: metadata, and its value or each part's."""

    def one(v: RawValue) -> dict[str, Any]:
        return {
            "formula": v.formula, "value": decimal_text(v.value) if v.value is not None else None,
            "undefined": v.undefined.as_dict() if v.undefined else None,
            "inputs": {k: _show(x) for k, x in v.inputs.items()},
            "previous_year_inputs": {k: _show(x) for k, x in v.previous_inputs.items()},
        }

    parent = lang_doc.nodes_by_code[node.parent] if node.parent else None
    out: dict[str, Any] = {
        "code": node.code, "name": node.name.model_dump(), "group": parent.code if parent else None,
        "kind": node.kind, "direction": node.direction, "article": node.article, "unit": node.unit,
        "points": str(node.points) if node.points is not None else None,
        "weight": str(node.weight) if node.weight is not None else None, "denominator": node.denominator,
    }
    if node.parts:
        parts = {v.part: v for v in values}
        out["parts"] = [{"code": p.code, "name": p.name.model_dump(), "direction": p.direction,
                         "optional": p.optional, **one(parts[p.code])} for p in node.parts]
        out["value"] = None
        out["undefined"] = None
    else:
        out.update(one(values[0]))
    return out
