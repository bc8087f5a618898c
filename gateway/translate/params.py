"""Request fields a provider cannot serve: dropped quietly, refused, or dropped by config.

One rule for every translator (README, "Translation table"):

- a field at its neutral value (penalties of 0, ``logprobs: false``, an empty
  ``logit_bias``, ``strict: false``...) asks for nothing, and is dropped quietly;
- a field asking for something the provider cannot do is a 400 naming it, unless the
  config's ``drop_params`` (global, per model or per key; the most specific one set
  wins) allows dropping it: then it is dropped and the answer's
  ``x-gateway-dropped-params`` header lists it.

``drop_params`` is ``true`` (any such field) or a list of field names as the client
spells them at the top level (``seed``, ``logprobs``, ``strict`` for a tool's
``strict``...).
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

from . import _check as check

DROPPED_HEADER = "x-gateway-dropped-params"
# The names drop_params may list (the config refuses others).
DROPPABLE = frozenset({
    "stop", "logprobs", "top_logprobs", "seed", "logit_bias", "presence_penalty",
    "frequency_penalty", "web_search_options",  # chat completions -> Claude
    "mcp_servers", "container", "strict", "speed", "inference_geo",  # Messages -> Kimi
})


class Unsupported:
    """Decides, field by field, between a drop and a 400; remembers what it dropped."""

    __slots__ = ("allow", "dropped")

    def __init__(self, allow: bool | Collection[str] | None = None) -> None:
        self.allow = allow
        self.dropped: list[str] = []

    def allows(self, name: str) -> bool:
        allow = self.allow
        return allow is True or (isinstance(allow, Collection) and not isinstance(allow, str)
                                 and name in allow)

    def refuse(self, param: str, reason: str, *, name: str | None = None) -> None:
        """``param`` asks for ``reason``, which the provider cannot do: drop it if the
        config allows ``name`` (the field's name, ``param`` without its path), else 400."""
        name = name or param
        if self.allows(name):
            if name not in self.dropped:
                self.dropped.append(name)
            return
        raise check.bad(param, f"{reason}; set drop_params in the gateway config to drop it")


def is_neutral_number(value: Any) -> bool:
    return value is None or (check.is_number(value) and value == 0)


def resolve(*levels: bool | list[str] | None) -> bool | list[str] | None:
    """The most specific ``drop_params`` that is set (key, then model, then global)."""
    for level in levels:
        if level is not None:
            return level
    return None
