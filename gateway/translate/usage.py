"""Token usage in each wire format, and conversions between them.

Anthropic splits the prompt into three counts (``input_tokens`` excludes cache reads
and writes); OpenAI's ``prompt_tokens`` is their sum, with the cache reads repeated in
``prompt_tokens_details.cached_tokens`` and the cache writes in
``prompt_tokens_details.cache_write_tokens`` (the openai SDK's name for them). Moonshot reports ``cached_tokens`` at the top
level of ``usage`` (context caching) rather than in ``prompt_tokens_details``.
"""

from __future__ import annotations

from typing import Any


def _int(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def openai_usage(prompt: int, completion: int, cached: int) -> dict[str, Any]:
    return {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
        "prompt_tokens_details": {"cached_tokens": cached},
    }


def anthropic_to_openai_usage(usage: dict[str, Any]) -> dict[str, Any]:
    cache_read = _int(usage.get("cache_read_input_tokens"))
    cache_write = _int(usage.get("cache_creation_input_tokens"))
    prompt = _int(usage.get("input_tokens")) + cache_write + cache_read
    out = openai_usage(prompt, _int(usage.get("output_tokens")), cache_read)
    out["prompt_tokens_details"]["cache_write_tokens"] = cache_write
    return out


def openai_cached_tokens(usage: dict[str, Any]) -> int:
    details = usage.get("prompt_tokens_details")
    if isinstance(details, dict) and details.get("cached_tokens") is not None:
        return _int(details.get("cached_tokens"))
    return _int(usage.get("cached_tokens"))  # Moonshot's spelling


def openai_counts(usage: dict[str, Any]) -> tuple[int, int, int]:
    """``(prompt, completion, cached)`` tokens of OpenAI's (or Moonshot's) usage, as
    ``normalize_openai_usage`` reports them (odd values count as 0)."""
    return (_int(usage.get("prompt_tokens")), _int(usage.get("completion_tokens")),
            openai_cached_tokens(usage))


def normalize_openai_usage(usage: dict[str, Any]) -> dict[str, Any]:
    """OpenAI-shaped usage from OpenAI's or Moonshot's; extra upstream fields are kept."""
    out = dict(usage)
    prompt = _int(usage.get("prompt_tokens"))
    completion = _int(usage.get("completion_tokens"))
    out["prompt_tokens"] = prompt
    out["completion_tokens"] = completion
    if not isinstance(usage.get("total_tokens"), int):
        out["total_tokens"] = prompt + completion
    details = usage.get("prompt_tokens_details")
    if not isinstance(details, dict) or details.get("cached_tokens") is None:
        out["prompt_tokens_details"] = {
            **(details if isinstance(details, dict) else {}),
            "cached_tokens": openai_cached_tokens(usage),
        }
    return out


def openai_to_anthropic_usage(usage: dict[str, Any]) -> dict[str, Any]:
    cached = openai_cached_tokens(usage)
    prompt = _int(usage.get("prompt_tokens"))
    return {
        "input_tokens": max(prompt - cached, 0),
        "output_tokens": _int(usage.get("completion_tokens")),
        "cache_creation_input_tokens": 0,
        "cache_read_input_tokens": cached,
    }
