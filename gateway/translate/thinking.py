"""Anthropic request settings the hub's options ask for (``hub.HubOptions``).

Extended thinking is requested only for a surface that hands Claude's signed thinking
blocks to its client and takes them back (the Responses API's ``encrypted_content``):
Anthropic refuses a tool loop with thinking unless the turn that called the tools comes
back with its signed thinking block first. Chat-completions clients cannot do that, so
for them ``reasoning_effort`` stays ignored (``to_anthropic.py``).
"""

from __future__ import annotations

from typing import Any

# reasoning_effort -> the most thinking tokens; at most half of max_tokens, so the
# answer keeps room (OpenAI's max_output_tokens counts reasoning too).
THINKING_BUDGETS = {"low": 1024, "medium": 4096, "high": 16384}
MIN_BUDGET = 1024  # Anthropic's minimum
_THINKING = ("thinking", "redacted_thinking")


def request_thinking(up: dict[str, Any], effort: Any) -> None:
    """Turn extended thinking on in the Anthropic body ``up`` for ``effort``, where
    Anthropic allows it: not with a forced tool choice (a ``required`` tool or the JSON
    mode's tool), not with a budget under 1024, and not in a tool loop whose last tool
    call came back without its thinking block (a client that did not keep it: Anthropic
    would refuse the request; without thinking it is served). ``temperature`` and
    ``top_p`` go: Anthropic takes neither with thinking (as OpenAI's reasoning models)."""
    budget = THINKING_BUDGETS.get(effort) if isinstance(effort, str) else None
    if budget is None:
        return
    choice = up.get("tool_choice")
    if isinstance(choice, dict) and choice.get("type") in ("any", "tool"):
        return
    budget = min(budget, up["max_tokens"] // 2)
    if budget < MIN_BUDGET or _loop_lacks_thinking(up["messages"]):
        return
    up["thinking"] = {"type": "enabled", "budget_tokens": budget}
    up.pop("temperature", None)
    up.pop("top_p", None)


def _loop_lacks_thinking(turns: list[dict[str, Any]]) -> bool:
    """The conversation ends with tool results whose assistant turn has no thinking first."""
    if len(turns) < 2 or turns[-1]["role"] != "user":
        return False
    content = turns[-1]["content"]
    if not (isinstance(content, list) and content and content[0].get("type") == "tool_result"):
        return False
    called = turns[-2]["content"]
    return not (isinstance(called, list) and called and called[0].get("type") in _THINKING)


_EPHEMERAL = {"type": "ephemeral"}


def cache_breakpoints(up: dict[str, Any]) -> None:
    """Cache breakpoints on the last tool, the end of the system prompt and the last
    message (3 of Anthropic's 4), so an agent's long, stable instructions and tools, and
    the conversation so far, are read from the prompt cache on its next turn instead of
    billed again."""
    tools = up.get("tools")
    if isinstance(tools, list) and tools:
        tools[-1] = {**tools[-1], "cache_control": _EPHEMERAL}
    system = up.get("system")
    if isinstance(system, str) and system:
        up["system"] = [{"type": "text", "text": system, "cache_control": _EPHEMERAL}]
    elif isinstance(system, list) and system:
        up["system"] = [*system[:-1], {**system[-1], "cache_control": _EPHEMERAL}]
    messages = up.get("messages")
    if isinstance(messages, list) and messages:
        last = messages[-1]
        content = last.get("content")
        if isinstance(content, str) and content:
            content = [{"type": "text", "text": content}]
        if isinstance(content, list) and content and content[-1].get("type") not in _THINKING:
            messages[-1] = {**last, "content": [*content[:-1],
                                                {**content[-1], "cache_control": _EPHEMERAL}]}
