"""RFC 8785 (JSON Canonicalization Scheme) bytes, fast: the rfc8785 package is pure Python and was ~5 % of
a workflow transition's CPU (the audit entry's hash) and 1.8 s of a 1,000-zone evaluation's (its 20 MB result
hash). For values made of strings, integers within ±(2^53 − 1), floats (below), booleans, null, lists and
objects whose keys are within the Basic Multilingual Plane, RFC 8785's output is orjson's with sorted keys
(no whitespace, UTF-8, the same escapes: \\" \\\\ \\b \\f \\n \\r \\t and \\u00xx for the other control
characters; keys sorted by UTF-16 code units, which is code point order inside the BMP). Floats: RFC 8785
prints a number as ECMAScript's Number.prototype.toString, the shortest round-trip digits; orjson prints a
non-integral |x| ≥ 1e-4 alike, an integral float within 2^53 is printed as that integer (1.0 → 1,
-0.0 → 0), and a float below 1e-4 is printed by rfc8785 in place. Anything else (a larger integer, a key
beyond the BMP, a lone surrogate, a NUL in a string) is canonicalised by rfc8785 itself.
tests/shared/test_canonical.py compares the two on generated values."""

from __future__ import annotations

import math
import re
from typing import Any

import orjson
import rfc8785

_EXACT = 2**53 - 1  # RFC 8785 numbers are IEEE 754 doubles: beyond this rfc8785 refuses an integer


class _Irregular(Exception):
    """The value has a part whose orjson output is not RFC 8785's."""


# A float printed differently (|x| < 1e-4: orjson's 5e-6, ECMAScript's 0.000005) travels through orjson as this
# placeholder string and is then replaced by rfc8785's own form of it; a value holding a NUL in any string
# (which the placeholder could then be mistaken for) takes the slow path as a whole.
_PLACEHOLDER = re.compile(rb'"\\u0000(\d+)\\u0000"')


def _prepared(value: Any, floats: list[float]) -> Any:
    """The value with its integral floats as integers and its small floats as placeholders (appended to
    `floats`), or _Irregular where orjson's output is not RFC 8785's."""
    kind = type(value)
    if kind is str:
        if "\x00" in value:
            raise _Irregular
        return value
    if value is None or value is True or value is False:
        return value
    if kind is dict:
        for key in value:
            if type(key) is not str or "\x00" in key or not (key.isascii() or max(key) <= "\uffff"):
                raise _Irregular
        return {k: _prepared(v, floats) for k, v in value.items()}
    if kind is list or kind is tuple:
        return [_prepared(v, floats) for v in value]
    if kind is int:
        if -_EXACT <= value <= _EXACT:
            return value
    elif kind is float and math.isfinite(value):
        if value.is_integer():
            if -_EXACT <= value <= _EXACT:
                return int(value)
        elif abs(value) >= 1e-4:
            return value
        else:
            floats.append(value)
            return f"\x00{len(floats) - 1}\x00"
    raise _Irregular


def canonical_json(value: Any) -> bytes:
    """The RFC 8785 canonical form of a JSON value, UTF-8."""
    floats: list[float] = []
    try:
        text = orjson.dumps(_prepared(value, floats), option=orjson.OPT_SORT_KEYS)
    except (_Irregular, orjson.JSONEncodeError):  # orjson refuses a lone surrogate: rfc8785 decides
        return rfc8785.dumps(value)
    if floats:
        text = _PLACEHOLDER.sub(lambda m: rfc8785.dumps(floats[int(m[1])]), text)
    return text
