"""shared.canonical gives exactly rfc8785's bytes: on generated JSON values (any Unicode, beyond the BMP
and control characters included, integers of any size, floats, nesting) and on the edge cases where
the standard library's json and RFC 8785 part ways."""

from __future__ import annotations

from typing import Any

import pytest
import rfc8785
from hypothesis import given, settings
from hypothesis import strategies as st

from shared.canonical import _Irregular, _prepared, canonical_json

scalars = (st.none() | st.booleans() | st.integers() | st.text()
           | st.floats(allow_nan=False, allow_infinity=False) | st.integers(-(2**60), 2**60))
values = st.recursive(scalars, lambda inner: st.lists(inner, max_size=5)
                      | st.dictionaries(st.text(max_size=8), inner, max_size=5), max_leaves=30)


def _reference(value: Any) -> bytes | None:
    try:
        return rfc8785.dumps(value)
    except (rfc8785.CanonicalizationError, ValueError, UnicodeEncodeError):
        return None


@settings(max_examples=600, deadline=None)
@given(values)
def test_the_same_bytes_as_rfc8785(value: Any) -> None:
    expected = _reference(value)
    if expected is None:
        with pytest.raises(Exception):  # noqa: B017 - what rfc8785 refuses is refused, whichever its error
            canonical_json(value)
    else:
        assert canonical_json(value) == expected


@pytest.mark.parametrize("value", [
    {"\U0001f600": 1, "\uffff": 2, "a": 3},  # UTF-16 order: the surrogate pair sorts before U+FFFF
    {"z": "\u2028\u2029\x7f\x00\x1f\"\\/"},  # escapes: only the control characters, quote and backslash
    2**53, 2**53 + 1, -(2**53) - 1, 1.0, 1e21, 0.1, -0.0, 1e-4, 9.999999999999999e-05, -1e-4, 5e-324,
    float(2**53), float(2**53 - 1), 4503599627370495.5, 1e16, 1e15 + 0.5, 0.1 + 0.2, 123456.789e-3, 2.5e-7,
    [0.0, 1.0, 0.5, 100.0, -3.0], {"normalised": 0.30000000000000004, "points": 12.5},
    [1e-5, "\x000\x00", 2e-7], {"k": [3e-300, -1.5e-5, 0.25]}, "\x00", ["\u0000", 1e-9],
    {"nested": [[{"b": 1, "a": [True, False, None]}]]}, "同意推荐\n第二轮",
])
def test_edges(value: Any) -> None:
    expected = _reference(value)
    if expected is None:
        with pytest.raises(Exception):  # noqa: B017
            canonical_json(value)
    else:
        assert canonical_json(value) == expected


def test_the_fast_path_is_taken_where_it_can_be() -> None:
    floats: list[float] = []
    assert _prepared({"a": [1, "x", None, True, {"b": "\u4e2d"}, 1.5, 2.0, 1e-5]}, floats) == {
        "a": [1, "x", None, True, {"b": "\u4e2d"}, 1.5, 2, "\x000\x00"]}
    assert floats == [1e-5] and type(_prepared(-0.0, [])) is int
    for slow in ({"\U0001f600": 1}, 2**60, float(2**53), [float("inf")], "a\x00", {"\x00": 1}):
        with pytest.raises(_Irregular):
            _prepared(slow, [])


@settings(max_examples=3000, deadline=None)
@given(st.floats(allow_nan=False, allow_infinity=False) | st.floats(1e-5, 1e17) | st.floats(-1e17, -1e-5)
       | st.integers(-(2**54), 2**54).map(float))
def test_every_float_as_rfc8785_prints_it(value: float) -> None:
    assert canonical_json([value]) == rfc8785.dumps([value])
