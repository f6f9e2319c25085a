"""Exact decimals as the contracts define them: JSON strings (numbers accepted, parsed exactly),
at most 20 integer and 10 fraction digits, one canonical text form."""

from __future__ import annotations

from decimal import Context, Decimal, InvalidOperation
from typing import Annotated, Any

from pydantic import BeforeValidator, PlainSerializer, WithJsonSchema

MAX_INTEGER_DIGITS = 20
MAX_FRACTION_DIGITS = 10


class DecimalDigitsError(ValueError):
    pass


def check_decimal_digits(d: Decimal) -> Decimal:
    """Refuse NaN/Infinity and values beyond 20 integer or 10 fraction digits."""
    if not d.is_finite():
        raise DecimalDigitsError("must be a finite number")
    # trailing zeros in the fraction do not count: 1.50000000000 is 1.5
    stripped = exact_normalize(d)
    _, sdigits, sexp = stripped.as_tuple()
    assert isinstance(sexp, int)
    fraction = max(0, -sexp)
    integer = max(0, len(sdigits) + sexp) if stripped != 0 else 0
    if integer > MAX_INTEGER_DIGITS:
        raise DecimalDigitsError(f"more than {MAX_INTEGER_DIGITS} integer digits")
    if fraction > MAX_FRACTION_DIGITS:
        raise DecimalDigitsError(f"more than {MAX_FRACTION_DIGITS} fraction digits")
    return d


def exact_normalize(d: Decimal) -> Decimal:
    """d without trailing zeros, never rounded (Decimal.normalize rounds to the context's 28 digits)."""
    return d.normalize(Context(prec=max(1, len(d.as_tuple().digits))))


def canonical_decimal(d: Decimal) -> str:
    """Plain notation without exponent or trailing fractional zeros: 12345.6789, 100, 0, -0.5."""
    if d == 0:
        return "0"
    return format(exact_normalize(d), "f")


def parse_decimal(value: Any) -> Decimal:
    """Parse a JSON string or number exactly (a float is read through its shortest repr)."""
    if isinstance(value, bool):
        raise ValueError("must be a decimal number, not a boolean")
    if isinstance(value, Decimal):
        d = value
    elif isinstance(value, int):
        d = Decimal(value)
    elif isinstance(value, float):
        d = Decimal(repr(value))
    elif isinstance(value, str):
        text = value.strip()
        if not text:
            raise ValueError("must be a decimal number")
        try:
            d = Decimal(text)
        except InvalidOperation:
            raise ValueError(f"{value!r} is not a decimal number") from None
    else:
        raise ValueError("must be a decimal number as a JSON string")
    return Decimal(canonical_decimal(check_decimal_digits(d)))


ExactDecimalField = Annotated[
    Decimal,
    BeforeValidator(parse_decimal),
    PlainSerializer(canonical_decimal, return_type=str, when_used="json"),
    WithJsonSchema(
        {
            "type": "string",
            "pattern": r"^-?\d{1,20}(\.\d{1,10})?$",
            "description": "exact decimal as a string (numbers also accepted)",
        }
    ),
]
