"""Property tests: robustness on arbitrary input, additivity of the token estimate."""

from __future__ import annotations

from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gateway.features import estimate_tokens, extract_features, find_pii

json_leaf = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=40)
json_value = st.recursive(
    json_leaf,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4),
    max_leaves=25,
)
role = st.sampled_from(["system", "developer", "user", "assistant", "tool", "function", "x"])
part = st.fixed_dictionaries(
    {"type": st.sampled_from(["text", "image_url", "image", "tool_use", "tool_result", "thinking",
                              "document", "file", "other"])},
    optional={"text": json_value, "content": json_value, "input": json_value, "source": json_value,
              "image_url": json_value, "name": json_value, "thinking": json_value},
)
message = st.fixed_dictionaries(
    {"role": role},
    optional={"content": st.text(max_size=80) | st.lists(part | json_value, max_size=4) | json_value,
              "tool_calls": st.lists(st.fixed_dictionaries({"function": json_value | st.fixed_dictionaries(
                  {"name": json_value, "arguments": json_value})}), max_size=2) | json_value,
              "name": json_value, "function_call": json_value, "refusal": json_value},
)
body = st.fixed_dictionaries(
    {},
    optional={"messages": st.lists(message | json_value, max_size=5) | json_value,
              "system": json_value | st.lists(part, max_size=2), "tools": json_value,
              "functions": json_value, "stream": json_value, "max_tokens": json_value,
              "max_completion_tokens": json_value, "response_format": json_value},
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(body, st.sampled_from(["chat_completions", "messages", "responses"]))
def test_extract_features_never_raises(b: dict[str, Any], surface: str) -> None:
    f = extract_features(b, surface=surface)
    assert f.tokens >= 0
    assert f.requested_output is None or f.requested_output >= 0
    assert isinstance(f.to_json()["pii"], list)


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=400))
def test_estimate_tokens_non_negative(s: str) -> None:
    n = estimate_tokens(s)
    assert n >= 0 and (n == 0) == (s == "")


@settings(max_examples=200, deadline=None)
@given(st.text(min_size=1, max_size=300), st.text(min_size=1, max_size=300))
def test_estimate_tokens_roughly_additive(a: str, b: str) -> None:
    # Linear model: only rounding, the >=1 floor and pairs straddling the seam differ.
    assert abs(estimate_tokens(a + b) - estimate_tokens(a) - estimate_tokens(b)) <= 4


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=300) | st.text(alphabet="0123456789 -+()@:=_AJBsk.xo", max_size=200))
def test_find_pii_never_raises(s: str) -> None:
    assert find_pii(s) <= {"email", "phone", "credit_card", "cn_resident_id", "iban", "us_ssn",
                           "credential"}
