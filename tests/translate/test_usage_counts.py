"""``usage.openai_counts`` reads the three counts ``normalize_openai_usage`` reports,
whatever an upstream put in its usage (the engine counts usage without the copy)."""

from __future__ import annotations

from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from gateway.translate.usage import normalize_openai_usage, openai_cached_tokens, openai_counts

ODD = st.none() | st.booleans() | st.integers(-5, 10**9) | st.floats(allow_nan=False) | st.text(
    max_size=3)
USAGE = st.fixed_dictionaries({}, optional={
    "prompt_tokens": ODD, "completion_tokens": ODD, "total_tokens": ODD, "cached_tokens": ODD,
    "prompt_tokens_details": ODD | st.fixed_dictionaries({}, optional={"cached_tokens": ODD}),
})


@given(USAGE)
def test_the_counts_are_the_normalized_ones(usage: dict[str, Any]) -> None:
    n = normalize_openai_usage(usage)
    assert openai_counts(usage) == (n["prompt_tokens"], n["completion_tokens"],
                                    openai_cached_tokens(usage))
