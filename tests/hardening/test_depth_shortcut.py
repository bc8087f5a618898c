"""A JSON text with no more than ``MAX_DEPTH`` opening brackets is not walked for its
depth (``jsonutil.too_deep_json``): the shortcut answers as the walk does."""

from __future__ import annotations

from typing import Any

import orjson
from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.jsonutil import MAX_DEPTH, opening_brackets, too_deep, too_deep_json

TEXT = st.text(alphabet="ab{}[],\"\\", max_size=6)
JSON = st.recursive(st.none() | st.integers(-(2**63), 2**63 - 1) | TEXT,
                    lambda inner: st.lists(inner, max_size=3)
                    | st.dictionaries(TEXT, inner, max_size=3), max_leaves=30)


def nested(depth: int, inner: Any = None) -> Any:
    value = inner
    for i in range(depth):
        value = [value] if i % 2 else {"k": value}
    return value


@settings(max_examples=300, deadline=None)
@given(JSON, st.integers(0, MAX_DEPTH + 3))
def test_the_shortcut_agrees_with_the_walk(value: Any, depth: int) -> None:
    value = nested(depth, value)
    if not isinstance(value, (dict, list)):
        return
    data = orjson.dumps(value)
    assert too_deep_json(data, value) == too_deep(value)
    assert too_deep_json(data, value, opening_brackets(data)) == too_deep(value)


def test_the_limit_exactly() -> None:
    for depth in (MAX_DEPTH, MAX_DEPTH + 1):
        value = nested(depth)
        data = orjson.dumps(value)
        assert opening_brackets(data) == depth
        assert too_deep_json(data, value) is (depth > MAX_DEPTH)
