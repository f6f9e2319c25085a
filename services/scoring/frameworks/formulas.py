"""The formula language of frameworks: arithmetic over declared variables, evaluated exactly.

A formula is a Python-syntax expression restricted to numbers, variable names, `+ - * /`, unary minus,
parentheses and `prev(name)` (the same quantity for the previous year). Rules of checks compare two such
expressions (`rd_personnel_fte <= employees`). Nothing is ever `eval`ed: the text is parsed with `ast`
and walked; anything else is refused when the framework is loaded.

Evaluation is in `decimal` with 34 significant digits (IEEE decimal128; the issue asks ≥ 28). An
undefined result is never an exception and never a zero: it is an `Undefined` naming its reason code.
"""

from __future__ import annotations

import ast
import decimal
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

PRECISION = 34
CONTEXT = decimal.Context(prec=PRECISION, rounding=decimal.ROUND_HALF_EVEN, Emax=999999, Emin=-999999,
                          traps=[decimal.InvalidOperation, decimal.DivisionByZero, decimal.Overflow])

# Reason codes of an undefined value (stable strings: clients and scoring methods key on them).
MISSING_INPUT = "missing-input"  # a variable the formula needs was not posted for that year
NO_PREVIOUS_YEAR = "no-previous-year"  # prev(...) needs last year's data and there is none (SPEC 8.4)
DIVISION_BY_ZERO = "division-by-zero"  # SPEC 8.5: no incubator area, no stock land, zero emissions last year
NOT_A_NUMBER = "not-a-number"  # a category variable used in arithmetic
QUALITATIVE = "qualitative"  # 2.8, 4.2, 4.3, 4.5: expert scores only, never computed from data
REASONS: dict[str, str] = {
    MISSING_INPUT: "an input variable was not reported for the year",
    NO_PREVIOUS_YEAR: "the formula needs the previous year's data, and there is none (first year of data)",
    DIVISION_BY_ZERO: "the denominator is zero",
    NOT_A_NUMBER: "an input is a category, not a number",
    QUALITATIVE: "a qualitative indicator: its value comes from the experts' scores, not from annual data",
}

_OPERATORS: dict[type[ast.operator], str] = {ast.Add: "+", ast.Sub: "-", ast.Mult: "*", ast.Div: "/"}
_COMPARATORS: dict[type[ast.cmpop], Callable[[Decimal, Decimal], bool]] = {
    ast.LtE: lambda a, b: a <= b, ast.Lt: lambda a, b: a < b, ast.GtE: lambda a, b: a >= b,
    ast.Gt: lambda a, b: a > b, ast.Eq: lambda a, b: a == b,
}


class FormulaError(ValueError):
    """A formula that is not in the language (raised when a framework is validated)."""


@dataclass(frozen=True, slots=True)
class Undefined:
    """Why a value could not be computed: reason code, the variable or expression concerned, the year."""

    reason: str
    subject: str
    year: int | None = None

    def as_dict(self) -> dict[str, Any]:
        return {"code": self.reason, "subject": self.subject, "year": self.year, "detail": REASONS[self.reason]}


Value = Decimal | Undefined


@dataclass(frozen=True, slots=True)
class Formula:
    """A parsed expression: its text, its tree, the names it reads this year and the names it reads in prev()."""

    text: str
    tree: ast.expr
    names: frozenset[str]
    prev_names: frozenset[str]


def parse(text: str) -> Formula:
    """Parse and check an arithmetic formula; FormulaError says what is not allowed."""
    try:
        tree = ast.parse(text.strip(), mode="eval").body
    except SyntaxError as exc:
        raise FormulaError(f"not a formula: {exc.msg}") from None
    names: set[str] = set()
    prev_names: set[str] = set()
    _check(tree, names, prev_names, in_prev=False)
    return Formula(text.strip(), tree, frozenset(names), frozenset(prev_names))


def _check(node: ast.AST, names: set[str], prev_names: set[str], *, in_prev: bool) -> None:
    if isinstance(node, ast.BinOp) and type(node.op) in _OPERATORS:
        _check(node.left, names, prev_names, in_prev=in_prev)
        _check(node.right, names, prev_names, in_prev=in_prev)
    elif isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
        _check(node.operand, names, prev_names, in_prev=in_prev)
    elif isinstance(node, ast.Constant) and type(node.value) in (int, float):
        pass
    elif isinstance(node, ast.Name):
        (prev_names if in_prev else names).add(node.id)
    elif (isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "prev"
          and len(node.args) == 1 and not node.keywords):
        if in_prev:
            raise FormulaError("prev() cannot be nested")
        _check(node.args[0], names, prev_names, in_prev=True)
    else:
        raise FormulaError(f"{ast.unparse(node)!r} is not allowed (numbers, names, + - * /, prev(name))")


@dataclass(frozen=True, slots=True)
class Rule:
    """A comparison between two formulas (a consistency check or a threshold)."""

    text: str
    left: Formula
    right: Formula
    compare: Callable[[Decimal, Decimal], bool]

    @property
    def names(self) -> frozenset[str]:
        return self.left.names | self.right.names | self.left.prev_names | self.right.prev_names


def parse_rule(text: str) -> Rule:
    try:
        tree = ast.parse(text.strip(), mode="eval").body
    except SyntaxError as exc:
        raise FormulaError(f"not a rule: {exc.msg}") from None
    if not (isinstance(tree, ast.Compare) and len(tree.ops) == 1 and type(tree.ops[0]) in _COMPARATORS):
        raise FormulaError("a rule compares two formulas with one of <= < >= > ==")
    left, right = ast.unparse(tree.left), ast.unparse(tree.comparators[0])
    return Rule(text.strip(), parse(left), parse(right), _COMPARATORS[type(tree.ops[0])])


@dataclass
class Scope:
    """What a formula reads: this year's values and last year's (None: no data for that year at all),
    and the derived quantities (name → formula) that may be used like variables."""

    year: int
    current: Mapping[str, Decimal | str]
    previous: Mapping[str, Decimal | str] | None
    derived: Mapping[str, Formula] = field(default_factory=dict)
    _cache: dict[tuple[str, bool], Value] = field(default_factory=dict)

    def lookup(self, name: str, *, prev: bool) -> Value:
        key = (name, prev)
        if key not in self._cache:
            self._cache[key] = self._resolve(name, prev)
        return self._cache[key]

    def _resolve(self, name: str, prev: bool) -> Value:
        year = self.year - 1 if prev else self.year
        if name in self.derived:
            return _evaluate(self.derived[name].tree, self, prev=prev)
        values = self.previous if prev else self.current
        if values is None:
            return Undefined(NO_PREVIOUS_YEAR, name, year)
        value = values.get(name)
        if value is None:
            return Undefined(MISSING_INPUT, name, year)
        if not isinstance(value, Decimal):
            return Undefined(NOT_A_NUMBER, name, year)
        return value


def evaluate(formula: Formula, scope: Scope) -> Value:
    """The exact value of `formula`, or the first reason it is undefined (left to right)."""
    with decimal.localcontext(CONTEXT):
        return _evaluate(formula.tree, scope, prev=False)


def _evaluate(node: ast.expr, scope: Scope, *, prev: bool) -> Value:
    if isinstance(node, ast.Constant):
        # the parser admits only int and float constants
        return Decimal(repr(node.value)) if isinstance(node.value, float) else Decimal(node.value)  # type: ignore[arg-type]
    if isinstance(node, ast.Name):
        return scope.lookup(node.id, prev=prev)
    if isinstance(node, ast.Call):  # prev(x), checked at parse time
        return _evaluate(node.args[0], scope, prev=True)
    if isinstance(node, ast.UnaryOp):
        operand = _evaluate(node.operand, scope, prev=prev)
        return operand if isinstance(operand, Undefined) else -operand
    assert isinstance(node, ast.BinOp)
    left = _evaluate(node.left, scope, prev=prev)
    if isinstance(left, Undefined):
        return left
    right = _evaluate(node.right, scope, prev=prev)
    if isinstance(right, Undefined):
        return right
    op = type(node.op)
    if op is ast.Add:
        return left + right
    if op is ast.Sub:
        return left - right
    if op is ast.Mult:
        return left * right
    if right == 0:  # the year of the zero: last year's when the denominator is prev(...)
        last_year = prev or isinstance(node.right, ast.Call)
        return Undefined(DIVISION_BY_ZERO, ast.unparse(node.right), scope.year - 1 if last_year else scope.year)
    return left / right


def check_rule(rule: Rule, scope: Scope) -> bool | Undefined:
    """True/False, or Undefined when a side cannot be computed (a check then does not apply)."""
    with decimal.localcontext(CONTEXT):
        left = _evaluate(rule.left.tree, scope, prev=False)
        if isinstance(left, Undefined):
            return left
        right = _evaluate(rule.right.tree, scope, prev=False)
        if isinstance(right, Undefined):
            return right
        return rule.compare(left, right)


def dependency_order(derived: Mapping[str, Formula]) -> list[str]:
    """Derived names in an order where each comes after what it reads; FormulaError names a cycle."""
    order: list[str] = []
    state: dict[str, int] = {}

    def visit(name: str, path: list[str]) -> None:
        if state.get(name) == 2:
            return
        if state.get(name) == 1:
            cycle = [*path[path.index(name):], name]
            raise FormulaError(f"derived quantities form a cycle: {' → '.join(cycle)}")
        state[name] = 1
        formula = derived[name]
        for dep in sorted(formula.names | formula.prev_names):
            if dep in derived:
                visit(dep, [*path, name])
        state[name] = 2
        order.append(name)

    for name in sorted(derived):
        visit(name, [])
    return order
