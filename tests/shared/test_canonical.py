"""shared.canonical gives exactly rfc8785's bytes: on generated JSON values (any Unicode, beyond the BMP
and control characters included, integers of any size, floats, nesting) and on the edge cases where
the standard library's json and RFC 8785 part ways."""

from __future__ import annotations

from typing import Any

import pytest
import rfc8785
from hypothesis import given, settings
from hypothesis import strategies as st

from shared.canonical import _plain, canonical_json

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
    2**53, 2**53 + 1, -(2**53) - 1, 1.0, 1e21, 0.1, -0.0,
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
    assert _plain({"a": [1, "x", None, True, {"b": "\u4e2d"}]})
    assert not _plain({"a": 1.5}) and not _plain({"\U0001f600": 1}) and not _plain(2**60)
