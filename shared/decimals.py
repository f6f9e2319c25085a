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


# Wide enough that normalizing a coefficient of at most this many digits never rounds.
_WIDE_PREC = 2 * (MAX_INTEGER_DIGITS + MAX_FRACTION_DIGITS)
_WIDE = Context(prec=_WIDE_PREC)
_ONE = Decimal(1)
_ZERO = Decimal(0)


def exact_normalize(d: Decimal) -> Decimal:
    """d without trailing zeros, never rounded (Decimal.normalize rounds to the context's 28 digits)."""
    digits = len(d.as_tuple().digits)
    return d.normalize(_WIDE if digits <= _WIDE_PREC else Context(prec=digits))


def canonical_decimal(d: Decimal) -> str:
    """Plain notation without exponent or trailing fractional zeros: 12345.6789, 100, 0, -0.5."""
    if d == 0:
        return "0"
    return format(exact_normalize(d), "f")


def exact_canonical(d: Decimal) -> Decimal:
    """`Decimal(canonical_decimal(check_decimal_digits(d)))` in one pass (a bulk year holds ~150,000
    values): the same value, digits and exponent, and the same DecimalDigitsError."""
    if not d.is_finite():
        raise DecimalDigitsError("must be a finite number")
    if len(d.as_tuple().digits) > _WIDE_PREC:
        return Decimal(canonical_decimal(check_decimal_digits(d)))
    n = d.normalize(_WIDE)  # no trailing zeros; never rounded (the coefficient fits)
    if not n:
        return _ZERO
    _, digits, exp = n.as_tuple()
    assert isinstance(exp, int)
    if -exp > MAX_FRACTION_DIGITS or len(digits) + exp > MAX_INTEGER_DIGITS:
        check_decimal_digits(d)  # raises with the shared wording
    return n.quantize(_ONE, context=_WIDE) if exp > 0 else n  # 1E+2 → 100, as canonical text reads


def canonical_text(v: Decimal) -> str:
    """canonical_decimal(v), fast for a value that is already canonical (what the intake stores)."""
    text = str(v)  # plain notation unless the exponent is positive or the value tiny: then it has an E
    if "E" in text or text == "-0" or ("." in text and text[-1] == "0"):
        return canonical_decimal(v)
    return text


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
    return exact_canonical(d)


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
