"""The formula language: parsing refuses anything but arithmetic; evaluation is exact and explicit
about what it cannot compute."""

from __future__ import annotations

from decimal import Decimal

import pytest

from services.scoring.frameworks import formulas
from services.scoring.frameworks.formulas import FormulaError, Scope, Undefined


@pytest.mark.parametrize("text", [
    "__import__('os').system('true')", "a.b", "a[0]", "a ** 2", "a // b", "lambda: 1", "max(a, b)",
    "prev(prev(a))", "a if b else c", "'text'", "a and b", "prev(a, b)", "",
])
def test_only_arithmetic_is_a_formula(text: str) -> None:
    with pytest.raises(FormulaError):
        formulas.parse(text)


def test_names_and_prev_names() -> None:
    f = formulas.parse("(co2_emissions - prev(co2_emissions)) / prev(co2_emissions)")
    assert f.names == {"co2_emissions"} and f.prev_names == {"co2_emissions"}


def test_exact_decimal_arithmetic_34_digits() -> None:
    scope = Scope(2024, {"a": Decimal("1"), "b": Decimal("3")}, None)
    value = formulas.evaluate(formulas.parse("a / b"), scope)
    assert value == Decimal("0.3333333333333333333333333333333333")  # 34 significant digits
    sums = Scope(2024, {"a": Decimal("0.1"), "b": Decimal("0.2")}, None)
    assert formulas.evaluate(formulas.parse("a + b"), sums) == Decimal("0.3")  # no binary float anywhere


def test_undefined_values_name_their_reason() -> None:
    f = formulas.parse("(x - prev(x)) / prev(x)")
    first_year = formulas.evaluate(f, Scope(2024, {"x": Decimal(5)}, None))
    assert first_year == Undefined(formulas.NO_PREVIOUS_YEAR, "x", 2023)
    zero_last_year = formulas.evaluate(f, Scope(2024, {"x": Decimal(5)}, {"x": Decimal(0)}))
    assert zero_last_year == Undefined(formulas.DIVISION_BY_ZERO, "prev(x)", 2023)
    missing = formulas.evaluate(f, Scope(2024, {}, {"x": Decimal(1)}))
    assert missing == Undefined(formulas.MISSING_INPUT, "x", 2024)
    category = formulas.evaluate(formulas.parse("x + 1"), Scope(2024, {"x": "county"}, None))
    assert isinstance(category, Undefined) and category.reason == formulas.NOT_A_NUMBER


def test_derived_quantities_and_their_previous_year() -> None:
    derived = {"s": formulas.parse("a / b")}
    scope = Scope(2024, {"a": Decimal(3), "b": Decimal(4)}, {"a": Decimal(1), "b": Decimal(4)}, derived)
    assert formulas.evaluate(formulas.parse("s - prev(s)"), scope) == Decimal("0.5")


def test_cycles_are_named() -> None:
    derived = {"a": formulas.parse("b + 1"), "b": formulas.parse("a * 2")}
    with pytest.raises(FormulaError, match="cycle"):
        formulas.dependency_order(derived)


def test_rules_compare_two_formulas() -> None:
    rule = formulas.parse_rule("rd_personnel_fte <= employees")
    assert formulas.check_rule(rule, Scope(2024, {"rd_personnel_fte": Decimal(5), "employees": Decimal(5)}, None))
    assert not formulas.check_rule(rule, Scope(2024, {"rd_personnel_fte": Decimal(6), "employees": Decimal(5)},
                                               None))
    assert isinstance(formulas.check_rule(rule, Scope(2024, {"employees": Decimal(5)}, None)), Undefined)
    with pytest.raises(FormulaError):
        formulas.parse_rule("a < b < c")
