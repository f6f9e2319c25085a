"""RFC 8785 (JSON Canonicalization Scheme) bytes, fast: the rfc8785 package is pure Python and was ~5 % of
a workflow transition's CPU (the audit entry's hash). For values made only of strings, integers within
±(2^53 − 1), booleans, null, lists and objects whose keys are within the Basic Multilingual Plane, RFC 8785's
output is what the standard library's json gives with sorted keys, no whitespace and no ASCII escaping
(the same escapes: \\" \\\\ \\b \\f \\n \\r \\t and \\u00xx for the other control characters; keys sorted by
UTF-16 code units, which is code point order inside the BMP). Anything else (a float, a larger integer,
a key beyond the BMP, a lone surrogate) is canonicalised by rfc8785 itself. tests/shared/test_canonical.py
compares the two on generated values."""

from __future__ import annotations

import json
from typing import Any

import rfc8785

_EXACT = 2**53 - 1  # RFC 8785 numbers are IEEE 754 doubles: beyond this rfc8785 refuses an integer
_encode = json.JSONEncoder(ensure_ascii=False, allow_nan=False, sort_keys=True, separators=(",", ":")).encode


def _plain(value: Any) -> bool:
    """Whether the value lies where json's output is RFC 8785's."""
    if value is None or value is True or value is False or type(value) is str:
        return True
    if type(value) is int:
        return -_EXACT <= value <= _EXACT
    if type(value) is dict:
        return all(type(k) is str and (k.isascii() or max(k) <= "\uffff") and _plain(v) for k, v in value.items())
    if type(value) in (list, tuple):
        return all(_plain(v) for v in value)
    return False


def canonical_json(value: Any) -> bytes:
    """The RFC 8785 canonical form of a JSON value, UTF-8."""
    if _plain(value):
        try:
            return _encode(value).encode("utf-8")  # a lone surrogate does not encode: rfc8785 decides
        except UnicodeEncodeError:
            pass
    return rfc8785.dumps(value)
